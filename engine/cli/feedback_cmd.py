"""``spamops feedback``: true labels, one at a time or a whole file at once.

``spamops feedback PREDICTION_ID LABEL`` records one label (as before);
``spamops feedback import FILE`` records a file of them, all or nothing
(``engine.store.labels``).
"""

from __future__ import annotations

from pathlib import Path

import click

from engine.cli._common import emit_json, json_option, progress_echo, services_of


class _FeedbackGroup(click.Group):
    """A group whose default subcommand is ``record``: ``feedback ID LABEL`` keeps working."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["record", *args]
        return super().parse_args(ctx, args)


@click.group("feedback", cls=_FeedbackGroup)
def feedback_group() -> None:
    """Record true labels: `feedback PREDICTION_ID LABEL`, or `feedback import FILE`."""


@feedback_group.command("record")
@click.argument("prediction_id")
@click.argument("label", type=click.Choice(["ham", "spam"], case_sensitive=False))
@click.option("--source", default="cli", show_default=True, help="Who supplied the label.")
@json_option
@click.pass_context
def record(ctx: click.Context, prediction_id: str, label: str, source: str,
           as_json: bool) -> None:
    """Record the true LABEL (ham or spam) of the logged prediction PREDICTION_ID."""
    recorded = services_of(ctx).add_feedback(prediction_id, label, source=source)
    if as_json:
        emit_json(recorded)
        return
    click.echo(f"feedback recorded: {recorded.prediction_id} is {recorded.label}")


@feedback_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--id-column", default=None, metavar="NAME",
              help="Column of the prediction ids (default: prediction_id, id).")
@click.option("--text-column", default=None, metavar="NAME",
              help="Match labels to logged predictions by this column's exact text instead.")
@click.option("--label-column", default=None, metavar="NAME",
              help="Column of the labels (default: label, class, v1, ...).")
@click.option("--label-map", default=None, metavar="FROM=TO,...",
              help="Extra label mappings, e.g. smishing=spam,promo=ham.")
@click.option("--encoding", default=None, metavar="NAME",
              help="Read the file with this encoding (default: UTF-8, else detected).")
@click.option("--source", default="import", show_default=True,
              help="Who supplied the labels.")
@json_option
@click.pass_context
def import_(ctx: click.Context, file: Path, id_column: str | None, text_column: str | None,
            label_column: str | None, label_map: str | None, encoding: str | None,
            source: str, as_json: bool) -> None:
    """Record every label of FILE: rows of prediction_id,label or text,label.

    A text matches every logged prediction with exactly that text. All or nothing: if any
    row has an unknown id, an unmatched text or an unknown label, nothing is recorded and
    the bad lines are listed. Importing the same file again adds nothing; a label that
    contradicts an earlier one is kept, flagged as a conflict, and counts from now on.
    """
    from engine.files import read_table
    from engine.labels import label_items, parse_label_map

    table = read_table(file, encoding=encoding)
    items = label_items(table, id_column=id_column, text_column=text_column,
                        label_column=label_column, label_map=parse_label_map(label_map))
    if not as_json:
        progress_echo(f"read {len(items):,} labels from {file} ({table.format}, "
                      f"{table.encoding})")
    result = services_of(ctx).import_labels(items, source=source, origin=str(file))
    if as_json:
        emit_json(result)
        return
    click.echo(f"recorded {result.added:,} labels for {result.matched_predictions:,} "
               f"predictions ({result.unchanged:,} already known, {result.conflicts:,} "
               "contradicting an earlier label: flagged, the new one counts)")


commands: list[click.Command] = [feedback_group]
