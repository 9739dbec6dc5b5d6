"""Model commands: ``train``, ``models``, ``promote``, ``rollback``, ``predict``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from engine.cli._common import emit_json, json_option, progress_echo, services_of, to_jsonable
from engine.cli._files import read_file, reading_options


@click.command("train")
@click.option("--dataset", "datasets", multiple=True, metavar="NAME",
              help="Train on this dataset (default uci); repeat to combine several "
                   "(concatenated, duplicates removed). See `spamops data list`.")
@json_option
@click.pass_context
def train(ctx: click.Context, datasets: tuple[str, ...], as_json: bool) -> None:
    """Train on the training split and register a new version (the first becomes champion).

    Each dataset, or combination, has its own persisted train/test split; the version's
    lineage tags record the dataset names and fingerprints.
    """
    outcome = services_of(ctx, create_home=True).train(trigger="manual",
                                                       progress=progress_echo,
                                                       datasets=datasets)
    result = outcome.result
    if as_json:
        emit_json({
            "version": result.version, "run_id": result.run_id,
            "metrics": result.metrics, "train_seconds": round(result.train_seconds, 3),
            "n_train": result.n_train, "n_test": result.n_test,
            "champion_version": outcome.champion_version,
            "datasets": result.lineage.get("datasets", ""),
            "dataset_fingerprints": result.lineage.get("dataset_fingerprints", ""),
            "aliases": ["champion"] if outcome.champion_version == result.version else [],
        })
        return
    m = result.metrics
    click.echo(f"trained on {result.lineage.get('dataset_fingerprints', 'uci')}: "
               f"{result.n_train:,} train / {result.n_test:,} test messages")
    click.echo(f"registered version {result.version}: accuracy {m.accuracy:.4f}, "
               f"precision {m.precision:.4f}, recall {m.recall:.4f}, F1 {m.f1:.4f}")
    if outcome.became_champion:
        click.echo(f"version {result.version} is the champion")
    else:
        click.echo(f"champion stays version {outcome.champion_version}; "
                   f"`spamops promote {result.version}` to deploy this one")


@click.command("models")
@json_option
@click.pass_context
def models(ctx: click.Context, as_json: bool) -> None:
    """List registered versions with aliases and test metrics."""
    versions = services_of(ctx).models()
    if as_json:
        emit_json(versions)
        return
    if not versions:
        click.echo("no model registered yet: run `spamops train`")
        return
    click.echo(f"{'version':>7}  {'aliases':<20} {'accuracy':>8} {'f1':>7}  "
               f"{'created':<16}  datasets")
    for v in versions:
        click.echo(f"{v.version:>7}  {','.join(v.aliases) or '-':<20} "
                   f"{v.metrics.get('accuracy', float('nan')):>8.4f} "
                   f"{v.metrics.get('f1', float('nan')):>7.4f}  "
                   f"{v.created_at:%Y-%m-%d %H:%M}  {dataset_lineage(v.tags)}")


_EXPECT_HELP = ("Refuse unless version N is still the champion (the one you decided on); "
                "another process may have changed it since you looked.")


@click.command("promote")
@click.argument("version", type=int)
@click.option("--expect-champion", type=int, metavar="N", help=_EXPECT_HELP)
@json_option
@click.pass_context
def promote(ctx: click.Context, version: int, expect_champion: int | None,
            as_json: bool) -> None:
    """Make VERSION the champion; the old champion becomes `previous`."""
    move = services_of(ctx).promote(version, expected_champion=expect_champion)
    if as_json:
        emit_json(move)
        return
    click.echo(f"champion is now version {move.champion} (previous: {move.previous})")


@click.command("rollback")
@click.option("--expect-champion", type=int, metavar="N", help=_EXPECT_HELP)
@json_option
@click.pass_context
def rollback(ctx: click.Context, expect_champion: int | None, as_json: bool) -> None:
    """Swap champion and previous: the previous version serves again."""
    move = services_of(ctx).rollback(expected_champion=expect_champion)
    if as_json:
        emit_json(move)
        return
    click.echo(f"rolled back: champion is now version {move.champion} "
               f"(previous: {move.previous})")


def dataset_lineage(tags: dict[str, str]) -> str:
    """``name:fingerprint`` of each dataset a version was trained on (``uci`` before tags)."""
    return tags.get("dataset_fingerprints") or "uci"


@click.command("predict")
@click.argument("text", required=False)
@click.option("--file", "file", type=click.Path(path_type=Path, dir_okay=False),
              help="Score every message of this file: text (one per line), CSV/TSV, JSON "
                   "Lines, Parquet or UCI ('-' for stdin, one per line).")
@reading_options(labels=False)
@json_option
@click.pass_context
def predict(ctx: click.Context, text: str | None, file: Path | None, encoding: str | None,
            text_column: str | None, as_json: bool) -> None:
    """Score TEXT, or every message of --file, with the champion.

    Each line shows label, spam probability, prediction id (for `spamops feedback`) and text;
    --json prints one object per message with the keys of the API's /predict.
    """
    if (text is None) == (file is None):
        raise click.UsageError("give either TEXT or --file F")
    if file is None:
        texts = [text or ""]
    elif str(file) == "-":
        from engine.bounded_read import read_stream_bytes
        from engine.files import read_stdin_lines

        raw = read_stream_bytes(sys.stdin.buffer, "standard input")
        texts = read_stdin_lines(raw.decode(sys.stdin.encoding or "utf-8", "replace"))
    else:
        texts = read_file(file, encoding=encoding, text_column=text_column,
                          labels="ignore", quiet=as_json).texts
    predictions = services_of(ctx).predict(texts, source="cli")
    for p in predictions:
        if as_json:  # the keys of the API's /predict, plus the text
            click.echo(json.dumps(to_jsonable({
                "prediction_id": p.id, "label": p.label,
                "spam_probability": round(p.spam_probability, 6),
                "model_version": p.model_version, "text": p.text})))
        else:
            click.echo(f"{p.label:<4} {p.spam_probability:6.3f}  {p.id}  {p.text}")


@click.group("registry")
def registry_group() -> None:
    """The model registry beyond this home: carry it over to a tracking server."""


@registry_group.command("copy")
@click.option("--to", "target", required=True, metavar="URI",
              help="Tracking URI of the registry to fill, e.g. http://db:5000 (a "
                   "`spamops mlflow-server`); it must have no version of the model yet.")
@json_option
@click.pass_context
def registry_copy(ctx: click.Context, target: str, as_json: bool) -> None:
    """Copy this home's registry to another, keeping every version's number.

    Each version is logged on the target with its metrics, lineage tags and drift reference,
    in order, so version N stays version N (the history names versions by number); then the
    aliases are set as here. This home's registry is only read. Use it when moving a
    single-machine home to several hosts (docs/deploy.md), after `spamops store migrate`.
    Progress goes to stderr.
    """
    copied = services_of(ctx).copy_registry(target, progress=progress_echo)
    if as_json:
        emit_json(copied)
        return
    aliases = ", ".join(f"{a} v{v}" for a, v in sorted(copied.aliases.items())) or "none"
    click.echo(f"copied versions {copied.versions[0]}..{copied.versions[-1]} to "
               f"{copied.target} with their numbers; aliases: {aliases}")
    if copied.without_reference:
        click.echo(f"without a drift reference (dropped by retention): "
                   f"{', '.join(f'v{v}' for v in copied.without_reference)}")


commands: list[click.Command] = [train, models, promote, rollback, predict, registry_group]
