"""The demo: a week of production replayed against the real engine in simulated time.

From an empty data home: fetch and verify the dataset, train the baseline champion, then
replay ``days`` days of traffic hour by hour on a ``SimulatedClock``. Clean days come first;
then modern scam campaigns (from ``engine.traffic``) appear and grow, with true labels filed
for part of the traffic and dated hours later. The real monitoring and retraining jobs fire
at their simulated times through ``SimulatedScheduler`` (the same triggers and run records as
the live scheduler), so drift detection, measured and estimated accuracy, retraining,
comparison and deployment all happen exactly as in production, and every timestamp in the
history is consistent. The demo decides nothing itself; it only feeds traffic and moves time.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from engine.clock import SimulatedClock, utcnow
from engine.config import Settings
from engine.errors import ConflictError
from engine.records import AliasMoveRecord
from engine.registry import CHAMPION
from engine.scheduling import SimulatedScheduler
from engine.services import Services

DEMO_INTERVAL_MINUTES = 360
"""The demo checks every 6 simulated hours: about 300 messages a window at the default rate."""
LABEL_DELAY = timedelta(hours=10)
"""True labels arrive this long after the prediction (user reports, manual review)."""


FIRST_FAMILIES: tuple[str, ...] = ("crypto", "parcel", "bank", "tax", "benign_topics",
                                   "benign_slang")
"""Campaigns of the first drift episode."""
LATER_FAMILIES: tuple[str, ...] = ("job", "mum")
"""Scam families introduced later in the week: a second episode that must still alert."""


@dataclass(frozen=True)
class Episode:
    """A stretch of the demo with one traffic mix (issue 13: retrains counted per episode)."""

    name: str
    first_day: int
    """Index of its first day."""
    families: tuple[str, ...]
    """Generated families in the drifted share (empty: clean traffic)."""


def episode_plan(days: int) -> list[Episode]:
    """Clean days, then a first campaign episode, then new scam families later in the week."""
    clean_days = max(1, round(days * 0.43))
    later = max(clean_days + 1, round(days * 0.72))
    plan = [Episode("clean", 0, ())]
    if days > clean_days:
        plan.append(Episode("campaigns", clean_days, FIRST_FAMILIES))
    if days > later:
        plan.append(Episode("new scam families", later, FIRST_FAMILIES + LATER_FAMILIES))
    return plan


def _episode_of(plan: list[Episode], day_index: int) -> Episode:
    return [e for e in plan if e.first_day <= day_index][-1]


def drift_plan(days: int) -> list[float]:
    """Share of drifted traffic per day: the first ~40% of days clean, then campaigns grow."""
    clean_days = max(1, round(days * 0.43))
    ramp = [0.15, 0.3, 0.4, 0.45, 0.5]
    return [0.0] * clean_days + [ramp[min(i, len(ramp) - 1)] for i in range(days - clean_days)]


@dataclass(frozen=True)
class DemoDay:
    """One simulated day of the summary table."""

    day: date
    traffic: int
    drift_share: float
    labelled: int
    checks: int
    max_drift_score: float | None
    drift_detections: int
    retrains: int
    deployments: int
    decisions: str
    """Decisions of the day, e.g. ``4x NO_ACTION`` or ``1x NO_ACTION, 3x RETRAIN``."""
    champion_version: int | None
    """The champion at the end of the day (None: none yet)."""


@dataclass(frozen=True)
class DemoEpisode:
    """One episode of the summary table: what the loop did while one traffic mix lasted."""

    name: str
    started: datetime
    families: tuple[str, ...]
    checks: int
    drift_alerts: int
    """Windows with ``drift_detected``."""
    drift_confirmed: int
    """Windows whose CUSUM confirmed text drift."""
    retrains: int
    drift_retrains: int
    """Retrains started by (confirmed) drift."""
    deployments: int
    no_gain_retrains: int
    """Drift- or accuracy-triggered retrains kept with no improvement above ``min_improvement``
    (target <= 1 per episode; the scheduled weekly retrain is expected and not counted)."""
    baseline_accepted: int
    """Windows accepted into the drift baseline."""


@dataclass(frozen=True)
class DemoSummary:
    """What the demo did, for the summary table and the tests."""

    home: str
    seed: int
    started: datetime
    ended: datetime
    days: tuple[DemoDay, ...]
    champion_version: int
    versions: int
    drift_detections: int
    retrains: int
    deployments: int
    seconds: float
    episodes: tuple[DemoEpisode, ...] = ()


def demo_settings(settings: Settings) -> Settings:
    """The installation's settings with the demo's faster monitoring schedule."""
    monitoring = settings.monitoring.model_copy(update={
        "interval_minutes": DEMO_INTERVAL_MINUTES})
    return settings.model_copy(update={"monitoring": monitoring})


def has_history(settings: Settings) -> bool:
    """Whether the data home already holds a model registry (trained models, a demo run).

    An empty history database does not count: ``make setup`` creates one before the demo.
    """
    return (settings.home / "mlflow.db").exists()


def wipe(settings: Settings) -> None:
    """Remove everything the system wrote under the home except the datasets (the verified
    UCI cache and imported ones)."""
    if not settings.home.exists():
        return
    for child in settings.home.iterdir():
        if child.resolve() in (settings.dataset_dir.resolve(),
                               (settings.home / "datasets").resolve()):
            continue
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


def run_demo(settings: Settings, *, seed: int = 42, days: int = 7,
             messages_per_day: int = 1200, label_rate: float = 0.4,
             say: Callable[[str], None] | None = None,
             until: date | None = None) -> DemoSummary:
    """Replay ``days`` days of traffic against a fresh data home; returns the summary.

    The simulated days end at the start of ``until`` (default today, UTC). The weekly
    retraining cron fires on a weekday, so the same ``seed`` gives the same history only for
    the same ``until``: together they reproduce a run exactly (the README's table).
    """
    echo = say or (lambda _line: None)
    wall = time.perf_counter()
    settings = demo_settings(settings)
    today = (datetime.combine(until, datetime.min.time()) if until is not None
             else utcnow().replace(hour=0, minute=0, second=0, microsecond=0))
    start = today - timedelta(days=days)
    clock = SimulatedClock(start)
    services = Services(settings, clock=clock)
    services.monitor_log.subscribe(echo)
    try:
        services.monitor_log.write(f"Demo: fetching and verifying the dataset ({seed=})")
        services.fetch_dataset()
        services.setup_database()
        outcome = services.train(trigger="demo", actor="demo")
        m = outcome.result.metrics
        services.monitor_log.write(
            f"Baseline champion v{outcome.result.version}: accuracy {m.accuracy:.1%}, "
            f"spam F1 {m.f1:.3f} on {outcome.result.n_test} test messages")
        scheduler = SimulatedScheduler(services.scheduled_jobs(start=start), services.store,
                                       clock)
        plan = drift_plan(days)
        episodes = episode_plan(days)
        per_hour = max(1, messages_per_day // 24)
        day_rows = []
        for day_index, share in enumerate(plan):
            day_start = start + timedelta(days=day_index)
            episode = _episode_of(episodes, day_index)
            what = ("clean traffic" if share == 0 else
                    f"{share:.0%} from {', '.join(episode.families)}")
            services.monitor_log.write(f"Demo day {day_index + 1} ({day_start:%a %d %b}): "
                                       f"{per_hour * 24} messages, {what}")
            labelled = 0
            for hour in range(24):
                clock.set(max(clock.now(), day_start + timedelta(hours=hour, minutes=5)))
                result = services.simulate(
                    messages=per_hour, drift=share, label_rate=label_rate,
                    seed=seed * 100_000 + day_index * 100 + hour, label_delay=LABEL_DELAY,
                    source="demo", families=episode.families or None)
                labelled += result.labelled
                try:
                    scheduler.advance_to(day_start + timedelta(hours=hour + 1))
                except ConflictError as exc:  # a job refused to double a running retrain
                    services.monitor_log.write(f"Scheduled job skipped: {exc}")
            day_rows.append(day_row(services, day_start, per_hour * 24, share, labelled))
        summary = DemoSummary(
            home=str(settings.home), seed=seed, started=start, ended=clock.now(),
            days=tuple(day_rows),
            champion_version=services.registry.require_champion(),
            versions=len(services.models()),
            drift_detections=sum(d.drift_detections for d in day_rows),
            retrains=sum(d.retrains for d in day_rows),
            deployments=sum(d.deployments for d in day_rows),
            seconds=time.perf_counter() - wall,
            episodes=tuple(_episode_rows(services, episodes, start, clock.now())))
        services.audit("demo.finished", "demo", {
            "seed": seed, "days": days, "messages_per_day": per_hour * 24,
            "drift_plan": plan, "champion_version": summary.champion_version},
            f"Demo replayed {days} days; champion is v{summary.champion_version}.",
            actor="demo")
        return summary
    finally:
        services.monitor_log.unsubscribe(echo)
        services.close()


def day_row(services: Services, day_start: datetime, traffic: int, share: float,
            labelled: int, *, earlier_moves: frozenset[str] = frozenset()) -> DemoDay:
    """One row of the day table, read back from the history (``replay`` uses it too).

    Everything is read for ``day_start <= t < day_start + 1 day`` from the history, never from
    the live state: the row is the same whenever it is read (the demo reads it after the
    midnight jobs ran, the replay after the whole file), and a champion change at exactly
    midnight belongs to the day that starts then. Retrains (and their deployments) count on
    the day they started. ``earlier_moves`` are ids of alias moves made before the run began
    (a replay of an old file: the champion was trained today, dated by the wall clock, after
    the file's days); they count as made before every day.
    """
    day_end = day_start + timedelta(days=1)
    store = services.store
    everything = 1_000_000  # the window bounds the read; the limit is only a backstop
    decisions = store.decisions(everything, since=day_start, until=day_end)
    snapshots = store.snapshots(everything, since=day_start, until=day_end)
    events = store.retraining_events(everything, since=day_start, until=day_end)
    counts: dict[str, int] = {}
    for d in sorted(decisions, key=lambda d: d.ts):
        counts[d.decision] = counts.get(d.decision, 0) + 1
    return DemoDay(
        day=day_start.date(), traffic=traffic, drift_share=share, labelled=labelled,
        checks=len(decisions),
        max_drift_score=max((s.drift_score for s in snapshots), default=None),
        drift_detections=sum(s.drift_detected for s in snapshots),
        retrains=len(events),
        deployments=sum(e.deployment in ("DEPLOY", "APPROVED") for e in events),
        decisions=", ".join(f"{n}x {k}" for k, n in counts.items()) or "-",
        champion_version=champion_at(
            [dataclasses.replace(m, created_at=datetime.min) if m.id in earlier_moves else m
             for m in store.alias_moves(everything)],
            day_end, current=services.registry.champion_version()))


def champion_at(moves: Sequence[AliasMoveRecord], when: datetime,
                current: int | None) -> int | None:
    """The champion serving just before ``when``, from the recorded alias moves.

    The moves that took effect (``done`` or ``recovered``) strictly before ``when`` decide; a
    move at ``when`` itself is the next day's. Before the first recorded move it is that
    move's champion before; with no move recorded at all (a home older than the move log,
    migration 008), ``current``.
    """
    applied = _in_order([m for m in moves if m.status in ("done", "recovered")])
    earlier = [m for m in applied if m.created_at < when]
    if earlier:
        return earlier[-1].aliases_after.get(CHAMPION)
    if applied:
        return applied[0].aliases_before.get(CHAMPION)
    return current


def _in_order(moves: list[AliasMoveRecord]) -> list[AliasMoveRecord]:
    """``moves`` oldest first; moves recorded at the same instant (a simulated clock does not
    tick between them) in the order their aliases chain: each starts from where the one
    before it left the aliases."""
    ordered: list[AliasMoveRecord] = []
    for instant in sorted({m.created_at for m in moves}):
        tied = [m for m in moves if m.created_at == instant]
        while tied:
            first = next((m for m in tied if not any(
                o is not m and o.aliases_after == m.aliases_before for o in tied)), tied[0])
            ordered.append(first)
            tied.remove(first)
    return ordered


def _episode_rows(services: Services, plan: list[Episode], start: datetime,
                  end: datetime) -> list[DemoEpisode]:
    margin = services.settings.thresholds.min_improvement
    decisions = services.decisions(100_000)
    snapshots = services.drift_history(100_000)
    events = services.retraining_history(100_000)
    accepted = services.store.baseline_windows(None, include_reset=True)
    rows = []
    for i, episode in enumerate(plan):
        begin = start + timedelta(days=episode.first_day)
        finish = start + timedelta(days=plan[i + 1].first_day) if i + 1 < len(plan) else end
        inside = [e for e in events if begin <= e.started_at < finish]
        snaps = [s for s in snapshots if begin <= s.ts < finish]
        rows.append(DemoEpisode(
            name=episode.name, started=begin, families=episode.families,
            checks=sum(begin <= d.ts < finish for d in decisions),
            drift_alerts=sum(s.drift_detected for s in snaps),
            drift_confirmed=sum(s.drift_confirmed for s in snaps),
            retrains=len(inside),
            drift_retrains=sum("drift" in e.trigger.split("+") for e in inside),
            deployments=sum(e.deployment in ("DEPLOY", "APPROVED") for e in inside),
            no_gain_retrains=sum(e.trigger != "schedule" and e.status == "completed"
                                 and e.deployment == "KEEP"
                                 and (e.improvement is None or e.improvement <= margin)
                                 for e in inside),
            baseline_accepted=sum(begin <= w.accepted_at < finish for w in accepted)))
    return rows
