"""Monitoring commands: ``monitor``, ``retrain``, ``approvals``, ``approve``, ``reject``,
``history``, ``compare`` and ``simulate``.

Text output is the monitoring log as it is written (timestamped lines); ``--json`` prints one
JSON object on stdout and sends the log lines to stderr.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from engine.cli._common import (
    confirm_or_refuse,
    emit_json,
    json_option,
    progress_echo,
    services_of,
    to_jsonable,
    yes_option,
)

if TYPE_CHECKING:
    from engine.monitoring import CheckResult, DeploymentOutcome, RetrainResult
    from engine.records import RetrainingEvent
    from engine.scheduling import SchedulerEvent
    from engine.services import Services


def _echo_log(as_json: bool) -> Callable[[str], None]:
    def echo(line: str) -> None:
        click.echo(line, err=as_json)

    return echo


def deployment_json(outcome: DeploymentOutcome | None) -> dict[str, Any] | None:
    """The ``deployment`` object of ``--check-now --json`` and ``retrain --json``."""
    if outcome is None:
        return None
    return {
        "decision": outcome.decision, "challenger_version": outcome.challenger_version,
        "champion_version": outcome.champion_version, "improvement": outcome.improvement,
        "reasons": list(outcome.reasons), "approval_id": outcome.approval_id,
        "comparison": to_jsonable(outcome.comparison.as_dict()) if outcome.comparison else None,
    }


def check_json(result: CheckResult) -> dict[str, Any]:
    """The JSON contract of ``spamops monitor --check-now --json``."""
    d = result.decision
    body: dict[str, Any] = {
        "id": d.id, "timestamp": d.ts, "trigger": d.trigger, "decision": d.decision,
        "reasons": list(d.reasons), "drift": result.report.to_dict() if result.report else None,
        "accuracy": d.accuracy, "accuracy_is_estimate": d.accuracy_is_estimate,
        "accuracy_interval": [d.accuracy_low, d.accuracy_high], "n_labels": d.n_labels,
        "window_size": d.window_size, "champion_version": d.champion_version,
        "thresholds": d.thresholds, "outcome": d.outcome,
    }
    if result.retrain is not None:
        body["deployment"] = deployment_json(result.retrain.deployment)
        body["retraining_id"] = result.retrain.event.id
    if result.retrain_error:
        body["retrain_error"] = result.retrain_error
    return to_jsonable(body)  # type: ignore[no-any-return]


@click.command("monitor")
@click.option("--check-now", is_flag=True, help="Run one monitoring check now and exit.")
@click.option("--no-retrain", is_flag=True, help="With --check-now: decide, but do not retrain.")
@click.option("--status", "show_status", is_flag=True,
              help="Say which process (host, pid) holds the scheduler, and exit.")
@json_option
@click.pass_context
def monitor(ctx: click.Context, check_now: bool, no_retrain: bool, show_status: bool,
            as_json: bool) -> None:
    """Run the headless monitor (the scheduler), one check with --check-now, or --status.

    The monitor runs the monitoring check every `monitoring.interval_minutes` and retraining on
    `monitoring.retrain_cron`. Only one scheduler may be active per history: if the console or
    another monitor holds it (on any host, with a PostgreSQL store), this one says who and
    stands by until it is free, taking over within `monitoring.takeover_seconds` of the
    holder's death. Ctrl-C stops.
    """
    services = services_of(ctx)
    if show_status:
        if check_now:
            raise click.UsageError("--status and --check-now do not go together")
        _print_status(services, as_json)
        return
    services.monitor_log.subscribe(_echo_log(as_json))
    if check_now:
        result = services.check_now(trigger="operator", retrain=not no_retrain,
                                    progress=None if as_json else progress_echo)
        if as_json:
            emit_json(check_json(result))
        retrained = result.retrain
        failure = result.retrain_error or (
            retrained.event.reasoning
            if retrained is not None and retrained.event.status != "completed" else None)
        if failure:  # the check ran, the retrain it asked for did not: say so in the code
            click.echo(f"error: the retrain this check started failed: {failure}", err=True)
            ctx.exit(1)
        return
    _run_scheduler(services)


def _print_status(services: Services, as_json: bool) -> None:
    """The scheduler holder of this history, as text or one JSON object.

    On PostgreSQL the store is asked first: while it is away the holder is unknown (and a
    monitor started now could not take the lock), so that is the one-line error
    ``StoreUnreachable`` gives (exit code 4), not "no holder"."""
    shared = services.settings.store_is_postgres
    if shared:
        services.store.schema_version()  # raises StoreUnreachable while the server is away
    holder = services.scheduler_holder()
    lock = "postgresql advisory lock" if shared else "file lock (this data home)"
    takeover = services.settings.monitoring.takeover_seconds
    if as_json:
        emit_json({
            "holder": None if holder is None else {
                "host": holder.host, "pid": holder.pid, "kind": holder.kind,
                "since": holder.since},
            "lock": "postgresql" if shared else "file", "takeover_seconds": takeover,
        })
        return
    if holder is None:
        click.echo(f"scheduler: no holder ({lock}); a monitor or console started now takes it")
    else:
        click.echo(f"scheduler: held by {holder.describe()} ({lock})")
    if shared:
        click.echo(f"takeover: a standing-by host takes over within {takeover:g}s of the "
                   "holder's death")


def _run_scheduler(services: Services) -> None:
    stop = threading.Event()
    # Long-lived: each check and retrain runs in a child process, so the memory it needs
    # (models, drift detector, training) is returned when it ends (engine.isolation).
    services.isolate_heavy_work = True

    def on_event(event: SchedulerEvent) -> None:
        if event.kind in ("active", "standby", "stopped"):
            # The message already names the state ("scheduler active: ..."): say it once.
            services.monitor_log.write(event.message[:1].upper() + event.message[1:])

    host = services.scheduler(kind="monitor", mode="background", on_event=on_event)
    if services.start_notifier():  # long-lived: deliver webhook events in the background
        services.monitor_log.write("Webhook delivery started for "
                                   f"{len(services.settings.notify.webhooks)} receiver(s)")
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        host.start()
        status = host.status()
        for job in status.jobs:
            click.echo(f"job {job.id}: next run {job.next_run_time} ({job.description})")
        while not stop.wait(1.0):
            pass
    finally:
        host.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        click.echo("monitor stopped")


def _print_retrain(result: RetrainResult) -> None:
    outcome = result.deployment
    click.echo(f"retraining {result.event.id[:8]}: {result.event.status}, "
               f"deployment {outcome.decision}")
    for reason in outcome.reasons:
        click.echo(f"  {reason}")


@click.command("retrain")
@yes_option
@json_option
@click.pass_context
def retrain(ctx: click.Context, yes: bool, as_json: bool) -> None:
    """Train a challenger now, compare it with the champion, deploy only if really better.

    Asks first (may deploy); without a terminal, --yes is required. Exit code 1 when the
    retrain failed (the champion then stays), 4 when another retrain is running.
    """
    services = services_of(ctx)
    confirm_or_refuse("Retrain now (the challenger deploys if it is really better)?",
                      yes=yes, default=True)
    services.monitor_log.subscribe(_echo_log(as_json))
    result = services.retrain(trigger="operator",
                              progress=None if as_json else progress_echo)
    if as_json:
        emit_json({"retraining": result.event, "deployment": deployment_json(result.deployment)})
    else:
        _print_retrain(result)
    if result.event.status != "completed":
        click.echo(f"error: retraining {result.event.status}: {result.event.reasoning}",
                   err=True)
        ctx.exit(1)


@click.command("approvals")
@click.option("--all", "show_all", is_flag=True, help="Include approved and rejected ones.")
@json_option
@click.pass_context
def approvals(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """List challengers waiting for an operator (approval policy `manual`)."""
    items = services_of(ctx).approvals(None if show_all else "pending")
    if as_json:
        emit_json(items)
        return
    if not items:
        click.echo("no pending approvals" if not show_all else "no approvals")
        return
    from engine.rules import deciding_set

    for a in items:
        # The figure the challenger was queued for: the set the deployment rule judged.
        judged = deciding_set((a.comparison or {}).get("sets") or []) or {}
        diff = judged.get("accuracy_difference")
        shown = (f"{diff * 100:+.1f} pts on {judged['name']} (n={judged.get('n')})"
                 if isinstance(diff, float) else "")
        click.echo(f"{a.id}  {a.status:<9} v{a.challenger_version} vs champion "
                   f"v{a.champion_version}  {a.created_at:%Y-%m-%d %H:%M}  {shown}")


@click.command("approve")
@click.argument("approval_id")
@click.option("--reason", help="Why (recorded in the audit trail).")
@json_option
@click.pass_context
def approve(ctx: click.Context, approval_id: str, reason: str | None, as_json: bool) -> None:
    """Deploy the pending challenger APPROVAL_ID."""
    decided = services_of(ctx).approve(approval_id, reason=reason)
    if as_json:
        emit_json(decided)
        return
    click.echo(f"approved: version {decided.challenger_version} is now the champion")


@click.command("reject")
@click.argument("approval_id")
@click.option("--reason", help="Why (recorded in the audit trail).")
@json_option
@click.pass_context
def reject(ctx: click.Context, approval_id: str, reason: str | None, as_json: bool) -> None:
    """Discard the pending challenger APPROVAL_ID; the champion stays."""
    services = services_of(ctx)
    decided = services.reject(approval_id, reason=reason)
    if as_json:
        emit_json(decided)
        return
    # The champion that serves now, not the one the challenger was compared with (they
    # differ when the approval went stale): the reject moves no alias.
    champion = services.registry.champion_version()
    click.echo(f"rejected: version {champion} stays champion")


@click.command("history")
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True)
@json_option
@click.pass_context
def history(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Monitoring decisions and retraining events, newest first."""
    services = services_of(ctx)
    decisions = services.decisions(limit)
    events = services.retraining_history(limit)
    if as_json:
        emit_json({"decisions": decisions, "retraining": events})
        return
    if not decisions and not events:
        click.echo("no history yet: run `spamops monitor --check-now` or `spamops demo`")
        return
    click.echo("Decisions")
    for d in decisions:
        estimate = "~" if d.accuracy_is_estimate else ""
        acc = "-" if d.accuracy is None else f"{d.accuracy:.1%}{estimate}"
        drift = "-" if d.drift_score is None else f"{d.drift_score:.2f}"
        click.echo(f"  {d.ts:%Y-%m-%d %H:%M}  {d.trigger:<9} {d.decision:<9} "
                   f"n={d.window_size:<6} drift={drift:<5} acc={acc:<7} {d.outcome}")
    click.echo("Retraining")
    for e in events:
        click.echo(f"  {e.started_at:%Y-%m-%d %H:%M}  {e.trigger:<14} {e.status:<11} "
                   f"{_version(e.champion_version)} -> {_version(e.challenger_version)}  "
                   f"{e.deployment or '-'}  {e.reasoning}")


def _version(version: int | None) -> str:
    """``v3``, or ``none`` (no champion yet; no challenger when training failed)."""
    return "none" if version is None else f"v{version}"


_SET_TITLES = {"test_split": "persisted test split", "recent_feedback": "held-out recent feedback",
               "evaluation_set": "evaluation set of earlier episodes"}


def set_header(s: dict[str, Any], decided_on: str | None) -> str:
    """``name: what, size, dates, role`` of one evaluation set of a comparison."""
    first, last = (s.get("first_at") or "")[:10], (s.get("last_at") or "")[:10]
    if first and last:
        dates = f"labelled {first}" if first == last else f"labelled {first} to {last}"
    else:
        dates = "frozen at the first training"
    role = ("decides" if s["name"] == decided_on else "guard") if decided_on else ""
    title = _SET_TITLES.get(s["name"], s["name"])
    if s.get("crossfit_n"):  # engine.crossfit: labels the challenger trained on, out of fold
        title = (f"recent feedback, {s['crossfit_n']:,} of them scored by "
                 f"{s.get('crossfit_folds')}-fold cross-fitted challengers")
    return (f"{s['name']} ({title}): n={s['n']:,}, {dates}" + (f"; {role}" if role else ""))


def _comparison_lines(event: RetrainingEvent) -> list[str]:
    comparison = event.comparison or {}
    lines = [f"champion {_version(event.champion_version)} vs challenger "
             f"{_version(event.challenger_version)} "
             f"({event.started_at:%Y-%m-%d %H:%M}, {event.trigger}): {event.deployment}"]
    for s in comparison.get("sets", []):
        ch, cl = s["champion"]["metrics"], s["challenger"]["metrics"]
        lines.append(f"  {set_header(s, comparison.get('decided_on'))}")
        for metric in ("accuracy", "precision", "recall", "f1"):
            lines.append(f"    {metric:<9} {ch[metric]:.4f} -> {cl[metric]:.4f} "
                         f"({(cl[metric] - ch[metric]) * 100:+.2f} pts)")
        low, high = s.get("accuracy_low"), s.get("accuracy_high")
        interval = ("bootstrap", s["bootstrap_low"], s["bootstrap_high"]) if low is None \
            else ("Bonett-Price", low, high)
        lines.append(f"    McNemar exact p={s['mcnemar_p_value']:.4g} (b={s['mcnemar_b']}, "
                     f"c={s['mcnemar_c']}); accuracy difference 95% {interval[0]} interval "
                     f"[{interval[1] * 100:+.2f}, {interval[2] * 100:+.2f}] pts")
        if s.get("champion_ham_fpr") is not None and s.get("challenger_ham_fpr") is not None:
            lines.append(f"    ham false-positive rate {s['champion_ham_fpr']:.2%} -> "
                         f"{s['challenger_ham_fpr']:.2%} on {s['n_ham']:,} ham; increase 95% "
                         f"interval [{s['ham_fpr_low'] * 100:+.2f}, "
                         f"{s['ham_fpr_high'] * 100:+.2f}] pts")
    lines.append(f"  {event.reasoning}")
    return lines


@click.command("compare")
@json_option
@click.pass_context
def compare(ctx: click.Context, as_json: bool) -> None:
    """The latest champion/challenger comparison: each evaluation set with its size, dates and
    role (decides or guard), metrics, McNemar p and the 95% intervals the gate judged by."""
    event = services_of(ctx).latest_comparison()
    if as_json:
        emit_json(None if event is None else {
            **(event.comparison or {}), "retraining_id": event.id,
            "deployment": event.deployment, "reasoning": event.reasoning})
        return
    if event is None:
        click.echo("no comparison yet: run `spamops retrain`")
        return
    for line in _comparison_lines(event):
        click.echo(line)


@click.command("simulate")
@click.option("--messages", type=click.IntRange(1, 1_000_000), default=1000, show_default=True,
              help="How many messages to score.")
@click.option("--drift", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of drifted messages (modern scams, new slang).")
@click.option("--label-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of messages whose true label is filed as feedback.")
@click.option("--label-delay-hours", type=click.FloatRange(0, None), default=0.0,
              show_default=True,
              help="How late the labels arrive: predictions are dated this many hours ago "
                   "and their labels now (never in the future).")
@click.option("--seed", type=int, default=42, show_default=True)
@json_option
@click.pass_context
def simulate(ctx: click.Context, messages: int, drift: float, label_rate: float,
             label_delay_hours: float, seed: int, as_json: bool) -> None:
    """Score held-out messages mixed with drifted ones exactly as the API would, and file
    delayed true labels for a share of them.

    With --label-delay-hours H the predictions are dated H hours ago and the labels now, as
    if the labels had taken H hours to come back. A monitoring check made within those H
    hours has already closed that stretch of time: it sees the labels, not the predictions.
    """
    from engine.clock import ShiftedClock

    delay = timedelta(hours=label_delay_hours)
    clock = ShiftedClock(-delay) if delay else None
    result = services_of(ctx, clock=clock).simulate(
        messages=messages, drift=drift, label_rate=label_rate, seed=seed,
        label_delay=delay,
        progress=None if as_json else progress_echo)
    if as_json:
        emit_json(result)
        return
    acc = ("-" if result.accuracy_on_labelled is None
           else f"{result.accuracy_on_labelled:.1%}")
    click.echo(f"scored {result.messages} messages ({result.drifted} drifted) with "
               f"v{result.model_version}: {result.spam_predicted} predicted spam; "
               f"{result.labelled} labels filed (accuracy on them {acc})")


commands: list[click.Command] = [monitor, retrain, approvals, approve, reject, history, compare,
                                 simulate]
