"""Model commands: ``train``, ``models``, ``promote``, ``rollback``, ``predict``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from engine.cli._common import emit_json, json_option, progress_echo, services_of, to_jsonable
from engine.errors import InvalidInput


@click.command("train")
@json_option
@click.pass_context
def train(ctx: click.Context, as_json: bool) -> None:
    """Train on the training split and register a new version (the first becomes champion)."""
    outcome = services_of(ctx, create_home=True).train(trigger="manual",
                                                       progress=progress_echo)
    result = outcome.result
    if as_json:
        emit_json({
            "version": result.version, "run_id": result.run_id,
            "metrics": result.metrics, "train_seconds": round(result.train_seconds, 3),
            "n_train": result.n_train, "n_test": result.n_test,
            "champion_version": outcome.champion_version,
            "aliases": ["champion"] if outcome.champion_version == result.version else [],
        })
        return
    m = result.metrics
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
    click.echo(f"{'version':>7}  {'aliases':<20} {'accuracy':>8} {'f1':>7}  created")
    for v in versions:
        click.echo(f"{v.version:>7}  {','.join(v.aliases) or '-':<20} "
                   f"{v.metrics.get('accuracy', float('nan')):>8.4f} "
                   f"{v.metrics.get('f1', float('nan')):>7.4f}  "
                   f"{v.created_at:%Y-%m-%d %H:%M}")


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


@click.command("predict")
@click.argument("text", required=False)
@click.option("--file", "file", type=click.Path(path_type=Path, dir_okay=False),
              help="Score every line of this file ('-' for stdin).")
@json_option
@click.pass_context
def predict(ctx: click.Context, text: str | None, file: Path | None, as_json: bool) -> None:
    """Score TEXT, or every line of --file, with the champion.

    Each line shows label, spam probability, prediction id (for `spamops feedback`) and text;
    --json prints one object per message with the keys of the API's /predict.
    """
    if (text is None) == (file is None):
        raise click.UsageError("give either TEXT or --file F")
    texts = _read_lines(file) if file is not None else [text or ""]
    predictions = services_of(ctx).predict(texts, source="cli")
    for p in predictions:
        if as_json:  # the keys of the API's /predict, plus the text
            click.echo(json.dumps(to_jsonable({
                "prediction_id": p.id, "label": p.label,
                "spam_probability": round(p.spam_probability, 6),
                "model_version": p.model_version, "text": p.text})))
        else:
            click.echo(f"{p.label:<4} {p.spam_probability:6.3f}  {p.id}  {p.text}")


def _read_lines(file: Path) -> list[str]:
    try:
        raw = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"file not found: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"could not read {file}: {exc}") from None
    texts = [line.strip() for line in raw.splitlines() if line.strip()]
    if not texts:
        raise InvalidInput(f"{file} has no messages")
    return texts


commands: list[click.Command] = [train, models, promote, rollback, predict]
