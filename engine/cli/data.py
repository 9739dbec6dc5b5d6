"""``spamops data fetch|info``: the UCI corpus in the data home."""

from __future__ import annotations

import click

from engine.cli._common import emit_json, json_option, services_of


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


@data_group.command("info")
@json_option
@click.pass_context
def info(ctx: click.Context, as_json: bool) -> None:
    """Counts, duplicates removed, class balance and split sizes."""
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
