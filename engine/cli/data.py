"""``spamops data fetch|import|list|info``: the datasets of the data home.

``uci`` (the verified UCI corpus, ``data fetch``) is the default; ``data import`` adds
people's own labelled files as named, fixed datasets (``engine.datasets``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from engine.cli._common import emit_json, json_option, services_of, to_jsonable
from engine.cli._files import read_file, reading_options

if TYPE_CHECKING:
    from engine.datasets import DatasetRecord


@click.group("data")
def data_group() -> None:
    """Fetch and describe the dataset (source: SPAMOPS_DATASET_URL, URL or local path)."""


@data_group.command("fetch")
@json_option
@click.pass_context
def fetch(ctx: click.Context, as_json: bool) -> None:
    """Download (or copy), verify the sha256 and cache SMSSpamCollection; make the split."""
    services = services_of(ctx, create_home=True)
    path = services.fetch_dataset()
    split = services.split()
    if as_json:
        emit_json({"path": str(path), "sha256": split.fingerprint, "n_train": split.n_train,
                   "n_test": split.n_test})
        return
    click.echo(f"dataset verified: {path}")
    click.echo(f"split: {split.n_train} train / {split.n_test} test (seed {split.seed})")


@data_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Dataset name (lowercase letters, digits, . _ -).")
@reading_options()
@json_option
@click.pass_context
def import_(ctx: click.Context, file: Path, name: str, encoding: str | None,
            text_column: str | None, label_column: str | None, label_map: str | None,
            as_json: bool) -> None:
    """Store the labelled messages of FILE as dataset NAME (a normalised Parquet copy).

    FILE may be CSV/TSV, JSON Lines, Parquet or UCI (label<TAB>text), in UTF-8 or a detected
    legacy encoding. Duplicates are removed (first label wins), blank texts dropped, and the
    content fingerprint recorded; train on it with `spamops train --dataset NAME`.
    """
    messages = read_file(file, encoding=encoding, text_column=text_column,
                         label_column=label_column, label_map=label_map, labels="required")
    result = services_of(ctx, create_home=True).import_dataset(messages, name)
    if as_json:
        emit_json({**to_jsonable(result.record), "created": result.created})
        return
    r = result.record
    if not result.created:
        click.echo(f"dataset {r.name} already holds exactly these messages "
                   f"(fingerprint {r.fingerprint[:16]}); nothing changed")
        return
    click.echo(f"imported dataset {r.name}: {r.messages:,} messages ({r.ham:,} ham, "
               f"{r.spam:,} spam, {r.spam_share:.1%} spam); {r.duplicates_removed:,} duplicates "
               f"removed, {r.blank_dropped:,} blank texts dropped")
    click.echo(f"fingerprint {r.fingerprint[:16]}; train with `spamops train --dataset {r.name}`")


@data_group.command("list")
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """The datasets of this data home: uci (once fetched) and imported ones."""
    records = services_of(ctx).dataset_records()
    if as_json:
        emit_json(records)
        return
    if not records:
        click.echo("no dataset yet: `spamops data fetch` (UCI) or `spamops data import FILE "
                   "--name NAME`")
        return
    click.echo(f"{'name':<16} {'messages':>8} {'ham':>6} {'spam':>6} {'spam %':>6}  "
               f"{'fingerprint':<16}  imported          source")
    for r in records:
        when = f"{r.imported_at:%Y-%m-%d %H:%M}" if r.imported_at else "(built in)"
        click.echo(f"{r.name:<16} {r.messages:>8,} {r.ham:>6,} {r.spam:>6,} "
                   f"{r.spam_share:>6.1%}  {r.fingerprint[:16]:<16}  {when:<17} {r.source}")


def _render_record(r: DatasetRecord) -> None:
    click.echo(f"name:        {r.name}")
    click.echo(f"source:      {r.source} ({r.format}, {r.encoding})")
    if r.text_column or r.label_column:
        click.echo(f"columns:     text `{r.text_column}`, label `{r.label_column}`")
    click.echo(f"fingerprint: {r.fingerprint}")
    if r.imported_at:
        click.echo(f"imported:    {r.imported_at:%Y-%m-%d %H:%M:%S} UTC")
    click.echo(f"messages:    {r.rows_read:,} rows read, {r.blank_dropped:,} blank dropped, "
               f"{r.duplicates_removed:,} duplicates removed "
               f"({r.conflicting_labels:,} with conflicting labels) -> {r.messages:,} distinct")
    click.echo(f"classes:     {r.ham:,} ham, {r.spam:,} spam ({r.spam_share:.1%} spam)")
    if r.label_counts:
        click.echo("labels:      " + ", ".join(f"{k or '(blank)'} {n:,}"
                                               for k, n in r.label_counts.items()))


@data_group.command("info")
@click.argument("name", required=False)
@json_option
@click.pass_context
def info(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """Counts, duplicates removed, class balance (and split sizes of uci, the default).

    With NAME: that dataset's fingerprint, source, encoding, columns and label counts.
    """
    if name is not None and name != "uci":
        record = services_of(ctx).dataset_record(name)
        if as_json:
            emit_json(record)
        else:
            _render_record(record)
        return
    details = services_of(ctx).dataset_info()
    if as_json:
        emit_json(details)
        return
    click.echo(f"file:        {details.path}")
    click.echo(f"sha256:      {details.sha256}")
    click.echo(f"messages:    {details.raw_rows} raw, {details.distinct_rows} distinct "
               f"({details.duplicates_removed} exact duplicates removed)")
    click.echo(f"classes:     {details.ham} ham, {details.spam} spam")
    click.echo(f"split:       {details.n_train} train / {details.n_test} test "
               f"(seed {details.seed}, test size {details.test_size})")


commands: list[click.Command] = [data_group]
