"""``spamops baseline show|reset``: the champion's accepted drift baseline (issue 13, item 3).

A drift-triggered cycle that ended with DEPLOY, or with KEEP because the champion already does
as well on the recent labels, accepted its window into the champion's baseline; drift is then
measured against the training reference plus those windows. ``show`` lists them; ``reset``
drops them (audited), so drift is measured against the training reference alone again.
"""

from __future__ import annotations

import sys

import click

from engine.cli._common import emit_json, json_option, services_of
from engine.errors import InvalidInput


@click.group("baseline")
def baseline() -> None:
    """Show or reset the accepted drift baseline of the champion."""


def _view_json(view: object) -> dict[str, object]:
    from engine.services import BaselineView

    assert isinstance(view, BaselineView)
    return {"champion_version": view.champion_version,
            "active_windows": len(view.active),
            "active_messages": sum(w.n for w in view.active),
            "windows": list(view.windows)}


@baseline.command("show")
@click.option("--version", "version", type=int, default=None,
              help="Model version (default: the champion).")
@json_option
@click.pass_context
def show(ctx: click.Context, version: int | None, as_json: bool) -> None:
    """List the windows accepted into the drift baseline (reset ones marked)."""
    view = services_of(ctx).baseline(version)
    if as_json:
        emit_json(_view_json(view))
        return
    active = view.active
    click.echo(f"Drift baseline of v{view.champion_version}: training reference + "
               f"{len(active)} accepted windows ({sum(w.n for w in active)} messages)")
    for w in view.windows:
        state = (f"reset {w.reset_at:%Y-%m-%d %H:%M} by {w.reset_by}" if w.reset_at
                 else "active")
        start = f"{w.window_start:%Y-%m-%d %H:%M}" if w.window_start else "start"
        click.echo(f"  {w.id}  {start} -> {w.window_end:%Y-%m-%d %H:%M}  {w.n:>6} msgs  "
                   f"{w.outcome:<6} {state}")
        click.echo(f"      {w.reason}")


@baseline.command("reset")
@click.option("--version", "version", type=int, default=None,
              help="Model version (default: the champion).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (needed without a tty).")
@json_option
@click.pass_context
def reset(ctx: click.Context, version: int | None, yes: bool, as_json: bool) -> None:
    """Drop the accepted windows: drift is measured against the training reference alone."""
    if not yes:
        if as_json or not sys.stdin.isatty():
            raise InvalidInput("baseline reset drops the accepted windows: pass --yes to confirm")
        click.confirm("Drop every accepted window of the drift baseline?", default=False,
                      abort=True)
    services = services_of(ctx)
    before = services.baseline(version)
    view = services.reset_baseline(version=version)
    dropped = len(before.active)
    if as_json:
        emit_json({**_view_json(view), "dropped": dropped})
        return
    click.echo(f"Drift baseline of v{view.champion_version} reset: {dropped} accepted windows "
               "dropped; drift is measured against the training reference alone.")


commands: list[click.Command] = [baseline]
