"""``spamops replay FILE``: your own logged traffic through the real loop, in simulated time."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path
from types import FrameType

import click

from engine.cli._common import emit_json, json_option, settings_of, state_of
from engine.cli._files import read_file, reading_options
from engine.cli.demo_cmd import render_days


@click.command("replay")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--timestamp-column", default=None, metavar="NAME",
              help="Column of the message times (default: timestamp, ts, time, date, ...).")
@click.option("--rate", default=None, metavar="N/hour",
              help="Space the messages evenly at this rate when the file has no times.")
@click.option("--label-rate", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="Share of the file's true labels filed as feedback.")
@click.option("--label-delay-hours", type=click.FloatRange(min=0), default=10.0,
              show_default=True, help="Labels arrive this long after their message.")
@click.option("--seed", type=int, default=42, show_default=True,
              help="Which labels are filed (with --label-rate below 1).")
@click.option("--quiet", is_flag=True, help="Do not print the monitoring log lines.")
@reading_options()
@json_option
@click.pass_context
def replay(ctx: click.Context, file: Path, timestamp_column: str | None, rate: str | None,
           label_rate: float, label_delay_hours: float, seed: int, quiet: bool,
           encoding: str | None, text_column: str | None, label_column: str | None,
           label_map: str | None, as_json: bool) -> None:
    """Feed FILE's messages through the champion, the monitor and the retrainer.

    Time is simulated: it follows the file's timestamps (or --rate), the scheduled
    monitoring and retraining jobs fire at their simulated times, true labels from the label
    column are filed --label-delay-hours later, drift is checked, and challengers are
    trained, compared and deployed or kept, as in production. Ends with the per-day table.
    Ctrl-C stops after the current chunk; what was replayed is kept.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from engine.replay import parse_rate, run_replay

    state_of(ctx).checked_home(create=False)  # the home must exist and hold a champion
    rate_per_hour = parse_rate(rate)
    messages = read_file(file, encoding=encoding, text_column=text_column,
                         label_column=label_column, label_map=label_map,
                         allow_unlabelled=True, timestamp_column=timestamp_column,
                         timestamps="ignore" if rate_per_hour and not timestamp_column
                         else "optional")
    stop = {"asked": False}

    def on_sigint(_signum: int, _frame: FrameType | None) -> None:
        if stop["asked"]:
            raise KeyboardInterrupt
        stop["asked"] = True

    console = Console(stderr=True)
    previous = signal.signal(signal.SIGINT, on_sigint)
    progress = Progress(TextColumn("replay"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[now]}"), TimeRemainingColumn(),
                        console=console, transient=True, disable=as_json)
    try:
        with progress:
            task = progress.add_task("replay", total=len(messages.texts), now="")

            def say(line: str) -> None:
                if not quiet and not as_json:
                    progress.console.print(line, markup=False, highlight=False)

            summary = run_replay(
                settings_of(ctx), messages, rate_per_hour=rate_per_hour,
                label_rate=label_rate, label_delay=timedelta(hours=label_delay_hours),
                seed=seed, say=say,
                on_progress=lambda done, _total, now: progress.update(
                    task, completed=done, now=f"{now:%a %d %b %H:%M}"),
                should_stop=lambda: stop["asked"])
    finally:
        signal.signal(signal.SIGINT, previous)
    if as_json:
        emit_json({**{k: v for k, v in vars(summary).items()},
                   "messages_per_second": round(summary.messages_per_second, 1),
                   "messages_per_cpu_second": round(summary.messages_per_cpu_second, 1),
                   "scoring_messages_per_second":
                       round(summary.scoring_messages_per_second, 1)})
    else:
        click.echo("")
        click.echo(render_days(summary.days, "spam"))
        click.echo("")
        state = "stopped early: " if summary.interrupted else ""
        click.echo(f"{state}replayed {summary.replayed:,} of {summary.messages:,} messages "
                   f"({summary.labelled:,} labels filed); {summary.drift_detections} drift "
                   f"alerts, {summary.retrains} retrains, {summary.deployments} deployments; "
                   f"champion v{summary.champion_version} of {summary.versions} versions "
                   f"({summary.seconds:.0f} s, {summary.messages_per_second:,.0f} messages/s "
                   f"apart from {summary.retrain_seconds:.0f} s of retraining)")
    if summary.interrupted:
        ctx.exit(130)


commands: list[click.Command] = [replay]
