"""``spamops demo``: the whole loop on the bundled default, in simulated time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import click

from engine.cli._common import (
    confirm_or_refuse,
    emit_json,
    home_of,
    json_option,
    state_of,
    yes_option,
)

if TYPE_CHECKING:
    from engine.demo import DemoDay


def render_days(days: Sequence[DemoDay], share: str) -> str:
    """The per-day table of ``demo`` and ``replay``; ``share`` heads the share column
    (``drift``: drifted traffic in the demo; ``spam``: predicted spam in a replay)."""
    lines = [f"{'day':<10} {'traffic':>7} {share:>5} {'labels':>6} {'checks':>6} "
             f"{'max score':>9} {'alerts':>6} {'retrains':>8} {'deploys':>7} {'champion':>8}"
             "  decisions"]
    for d in days:
        score = "-" if d.max_drift_score is None else f"{d.max_drift_score:.2f}"
        champion = "-" if d.champion_version is None else f"v{d.champion_version}"
        lines.append(f"{d.day:%a %d %b} {d.traffic:>7} {d.drift_share:>5.0%} {d.labelled:>6} "
                     f"{d.checks:>6} {score:>9} {d.drift_detections:>6} {d.retrains:>8} "
                     f"{d.deployments:>7} {champion:>8}  {d.decisions}")
    return "\n".join(lines)


@click.command("demo")
@click.option("--fresh", is_flag=True, help="Start over: wipe the data home (keeps the dataset).")
@click.option("--seed", type=int, default=42, show_default=True, help="Makes the run reproducible.")
@click.option("--days", type=click.IntRange(2, 60), default=7, show_default=True)
@click.option("--messages-per-day", type=click.IntRange(48, 100_000), default=1200,
              show_default=True)
@click.option("--until", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Day the simulated week ends (default today, UTC); with --seed it "
                   "reproduces a run exactly.")
@yes_option
@json_option
@click.pass_context
def demo(ctx: click.Context, fresh: bool, seed: int, days: int, messages_per_day: int,
         until: datetime | None, yes: bool, as_json: bool) -> None:
    """Train the baseline, then replay a week of traffic with a simulated clock.

    Clean days first, then modern scam campaigns with late true labels. The scheduled
    monitoring and retraining jobs fire at their simulated times: drift is detected and
    explained, accuracy is measured from the late labels (estimated before they arrive), and
    challengers are trained, compared and deployed or kept, with reasons. The populated data
    home is then what the console, the dashboard, the API and `spamops sql` show.

    --fresh wipes a home that already has a history: it asks first (--yes without a terminal).
    """
    from engine.demo import has_history, run_demo, wipe

    home_of(ctx, create=True)
    settings = state_of(ctx).settings()
    if has_history(settings):
        if not fresh:
            click.echo(f"The data home {settings.home} already has a history; "
                       "`spamops demo --fresh` starts over.")
            return
        confirm_or_refuse(f"Wipe the data home {settings.home.absolute()} (history, models; "
                          "the dataset stays) and start over?", yes=yes)
        wipe(settings)
    summary = run_demo(settings, seed=seed, days=days, messages_per_day=messages_per_day,
                       say=lambda line: click.echo(line, err=as_json),
                       until=until.date() if until is not None else None)
    if as_json:
        emit_json(summary)
        return
    click.echo("")
    click.echo(render_days(summary.days, "drift"))
    click.echo("")
    click.echo(f"{'episode':<18} {'from':<10} {'checks':>6} {'alerts':>6} {'confirmed':>9} "
               f"{'retrains':>8} {'by drift':>8} {'deploys':>7} {'no-gain':>7} {'accepted':>8}")
    for e in summary.episodes:
        click.echo(f"{e.name:<18} {e.started:%a %d %b} {e.checks:>6} {e.drift_alerts:>6} "
                   f"{e.drift_confirmed:>9} {e.retrains:>8} {e.drift_retrains:>8} "
                   f"{e.deployments:>7} {e.no_gain_retrains:>7} {e.baseline_accepted:>8}")
    click.echo("")
    click.echo(f"{summary.drift_detections} drift alerts, {summary.retrains} retrains, "
               f"{summary.deployments} deployments; champion v{summary.champion_version} of "
               f"{summary.versions} versions ({summary.seconds:.0f} s)")


commands: list[click.Command] = [demo]
