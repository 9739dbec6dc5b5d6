"""Replaying people's own logged traffic through the real engine, in simulated time.

``spamops replay FILE`` does with a file of messages what ``spamops demo`` does with generated
traffic: a ``SimulatedClock`` moves through the file's timestamps (or an even ``--rate`` when
it has none), every message is scored by the champion exactly as the API would score it and
logged, a share of the file's true labels is filed ``label_delay`` later, and the real
monitoring and retraining jobs fire at their simulated times through ``SimulatedScheduler``:
drift is checked, and challengers are trained, compared and deployed or kept. The replay
decides nothing itself; it only feeds traffic and moves time.

Messages are scored in chunks (at most ``CHUNK_MESSAGES``, never across a scheduled job's
fire time): one vectorised call of the champion's compiled scorer per chunk
(``engine.scoring``), the chunk logged with one spool write, each message at its own time,
and ingested with the labels (one held connection, ``Store.session``) or by the next check.
Scoring is per message, so chunking
changes no prediction (``tests/engine/test_replay.py`` replays a file message by message and
in chunks and compares what was logged and decided). Labels are dated ``label_delay`` after
their message and filed in bulk just before the first check that could read one of them, so a
10-hour delay means one insert per ~10 simulated hours, not one per check. The caller's
``should_stop`` is asked between chunks, so Ctrl-C stops cleanly: what was replayed stays in
the history and the summary covers it.

Speed is reported three ways (wall and CPU each; ``engine.stopwatch``): the loop apart from
retrains (``messages_per_second``: scoring, logging, labels and the monitoring checks; retrain
time is what ``Monitor.retrain`` took, whether the scheduled retrain job or a check's ruling
started it), apart from every scheduled job (``scoring_messages_per_second``), and the whole
run with start-up (opening the home, loading the champion) and the day table.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from engine.clock import SimulatedClock, utcnow
from engine.config import Settings
from engine.demo import DemoDay, day_row
from engine.errors import ConflictError, InvalidInput
from engine.files import Messages
from engine.records import FeedbackRecord
from engine.scheduling import SimulatedScheduler
from engine.services import Services
from engine.stopwatch import Stopwatch

CHUNK_MESSAGES = 5000
"""Most messages scored in one call."""

IDLE_FLUSH_SECONDS = 3600.0
"""The replay's spool flush thread interval: the replay flushes when it needs to."""


@dataclass(frozen=True)
class ReplaySummary:
    """What the replay did, for the day table and ``--json``."""

    source: str
    started: datetime
    ended: datetime
    messages: int
    replayed: int
    labelled: int
    interrupted: bool
    days: tuple[DemoDay, ...]
    champion_version: int
    versions: int
    drift_detections: int
    retrains: int
    deployments: int
    seconds: float
    """Wall time of the whole run: start-up, the loop, the day table."""
    loop_seconds: float
    """Wall time from the first message to the last job: scoring plus the scheduled jobs."""
    scoring_seconds: float
    """Wall time spent reading, scoring, logging and labelling: everything but the jobs."""
    job_seconds: float
    """Wall time spent in the scheduled jobs (checks, retrains, comparisons, pruning)."""
    retrain_seconds: float
    """Wall time spent in retrains (part of ``job_seconds``), scheduled or started by a check."""
    cpu_seconds: float = 0.0
    """Process CPU time of the whole run; the ``*_cpu_seconds`` split it as above."""
    loop_cpu_seconds: float = 0.0
    scoring_cpu_seconds: float = 0.0
    job_cpu_seconds: float = 0.0
    retrain_cpu_seconds: float = 0.0

    @property
    def messages_per_second(self) -> float:
        """Replay speed apart from retrains: the loop's wall time less the retrains'."""
        return _rate(self.replayed, self.loop_seconds - self.retrain_seconds)

    @property
    def messages_per_cpu_second(self) -> float:
        """The same, per second of this process's CPU time (what the replay cost)."""
        return _rate(self.replayed, self.loop_cpu_seconds - self.retrain_cpu_seconds)

    @property
    def scoring_messages_per_second(self) -> float:
        """Replay speed apart from every scheduled job (checks included)."""
        return _rate(self.replayed, self.scoring_seconds)


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def parse_rate(text: str | None) -> float | None:
    """``"120/hour"``, ``"120/h"``, ``"2/minute"`` or ``"120"`` -> messages per hour."""
    if text is None:
        return None
    number, _, unit = text.strip().lower().partition("/")
    per = {"": 1.0, "h": 1.0, "hour": 1.0, "hr": 1.0, "m": 60.0, "min": 60.0,
           "minute": 60.0, "d": 1 / 24, "day": 1 / 24}.get(unit.strip())
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if per is None or value <= 0:
        raise InvalidInput(f"--rate {text!r} must look like 120/hour (or N/minute, N/day)")
    return value * per


def schedule(messages: Messages, rate_per_hour: float | None,
             end: datetime | None = None) -> tuple[list[int], list[datetime]]:
    """The replay order (indexes into ``messages``) and each message's time.

    With timestamps: sorted by time (stable). Without: the file's order at ``rate_per_hour``,
    ending at ``end`` (default now, so the history reads like the recent past).

    Raises:
        InvalidInput: no timestamps and no rate.
    """
    if messages.timestamps is not None:
        order = sorted(range(len(messages.texts)), key=lambda i: messages.timestamps[i])  # type: ignore[index]
        return order, [messages.timestamps[i] for i in order]
    if rate_per_hour is None:
        raise InvalidInput(f"{messages.source} has no timestamp column; pass "
                           "--timestamp-column NAME, or --rate N/hour to space the messages")
    n = len(messages.texts)
    step = timedelta(hours=1 / rate_per_hour)
    first = (end or utcnow()) - step * n
    return list(range(n)), [first + step * i for i in range(n)]


def _history_end(services: Services) -> datetime | None:
    result = services.sql("SELECT max(ts) FROM predictions")
    value = result.rows[0][0] if result.rows else None
    latest = services.latest_drift()
    stamps = [t for t in (value, latest.ts if latest else None) if isinstance(t, datetime)]
    return max(stamps) if stamps else None


def run_replay(settings: Settings, messages: Messages, *, rate_per_hour: float | None = None,
               label_rate: float = 1.0, label_delay: timedelta = timedelta(hours=10),
               seed: int = 42, say: Callable[[str], None] | None = None,
               on_progress: Callable[[int, int, datetime], None] | None = None,
               should_stop: Callable[[], bool] = lambda: False) -> ReplaySummary:
    """Replay ``messages`` against the data home of ``settings``; returns the summary.

    Raises:
        InvalidInput: bad rate or label rate, no timestamps and no rate, or a data home whose
            history is newer than the file's first message.
        NoChampionError: nothing to score with yet.
    """
    if not 0 <= label_rate <= 1:
        raise InvalidInput("--label-rate must be between 0 and 1")
    order, times = schedule(messages, rate_per_hour)
    whole, loop, scoring, jobs = Stopwatch(), Stopwatch(), Stopwatch(), Stopwatch()
    with whole.timing():
        clock = SimulatedClock(times[0])
        # The replay ingests its own spool before every labelling and every check (both need
        # the predictions in the store): a flush thread would only open the file more often.
        quiet = settings.server.model_copy(update={"log_flush_seconds": IDLE_FLUSH_SECONDS})
        services = Services(settings.model_copy(update={"server": quiet}), clock=clock)
        echo = say or (lambda _line: None)
        services.monitor_log.subscribe(echo)
        try:
            retrains_before = services.monitor.retrain_time.copy()
            earlier_moves = frozenset(m.id for m in services.store.alias_moves(1_000_000))
            scheduler = _start(services, messages, order, times, clock)
            with loop.timing():
                replayed, labelled, interrupted, spam_by_day, labels_by_day = _loop(
                    services, scheduler, clock, messages, order, times, scoring, jobs,
                    label_rate=label_rate, label_delay=label_delay, seed=seed,
                    on_progress=on_progress, should_stop=should_stop)
            retrains = services.monitor.retrain_time.since(retrains_before)
            day_rows = []
            for day in sorted(spam_by_day):
                day_start = datetime(day.year, day.month, day.day)
                traffic, spam = spam_by_day[day]
                day_rows.append(day_row(services, day_start, traffic, spam / traffic,
                                        labels_by_day.get(day, 0),
                                        earlier_moves=earlier_moves))
            champion_version = services.registry.require_champion()
            services.audit(
                "replay.finished" if not interrupted else "replay.stopped", "replay", {
                    "source": messages.source, "messages": len(order), "replayed": replayed,
                    "labelled": labelled, "champion_version": champion_version},
                f"Replayed {replayed} of {len(order)} messages from {messages.source}; "
                f"champion is v{champion_version}.", actor="replay")
            versions = len(services.models())
            ended = clock.now()
        finally:
            services.monitor_log.unsubscribe(echo)
            services.close()
    return ReplaySummary(
        source=messages.source, started=times[0], ended=ended, messages=len(order),
        replayed=replayed, labelled=labelled, interrupted=interrupted, days=tuple(day_rows),
        champion_version=champion_version, versions=versions,
        drift_detections=sum(d.drift_detections for d in day_rows),
        retrains=sum(d.retrains for d in day_rows),
        deployments=sum(d.deployments for d in day_rows),
        seconds=whole.wall, loop_seconds=loop.wall, scoring_seconds=scoring.wall,
        job_seconds=jobs.wall, retrain_seconds=retrains.wall, cpu_seconds=whole.cpu,
        loop_cpu_seconds=loop.cpu, scoring_cpu_seconds=scoring.cpu, job_cpu_seconds=jobs.cpu,
        retrain_cpu_seconds=retrains.cpu)


def _start(services: Services, messages: Messages, order: list[int], times: list[datetime],
           clock: SimulatedClock) -> SimulatedScheduler:
    """Set the home up, load the champion, refuse a newer history; the scheduler."""
    services.setup_database()
    champion = services.registry.require_champion()
    services.champion.get()  # load and compile it now: start-up, not replay throughput
    newest = _history_end(services)
    if newest is not None and newest > times[0]:
        raise InvalidInput(
            f"the data home already has history up to {newest:%Y-%m-%d %H:%M}, after "
            f"the file's first message ({times[0]:%Y-%m-%d %H:%M}); replay into a fresh "
            "--home (train there first)")
    services.monitor_log.write(
        f"Replay: {len(order):,} messages from {messages.source}, "
        f"{times[0]:%Y-%m-%d %H:%M} to {times[-1]:%Y-%m-%d %H:%M}, champion v{champion}")
    start = times[0].replace(minute=0, second=0, microsecond=0)
    return SimulatedScheduler(services.scheduled_jobs(start=start), services.store, clock)


def _advance(services: Services, scheduler: SimulatedScheduler, when: datetime) -> None:
    """Run the jobs due by ``when``."""
    try:
        scheduler.advance_to(when)
    except ConflictError as exc:  # a job refused to double a running retrain
        services.monitor_log.write(f"Scheduled job skipped: {exc}")


def _loop(services: Services, scheduler: SimulatedScheduler, clock: SimulatedClock,
          messages: Messages, order: list[int], times: list[datetime], scoring: Stopwatch,
          jobs: Stopwatch, *, label_rate: float, label_delay: timedelta, seed: int,
          on_progress: Callable[[int, int, datetime], None] | None,
          should_stop: Callable[[], bool]
          ) -> tuple[int, int, bool, dict[date, list[int]], dict[date, int]]:
    """Feed the messages and move time; returns (replayed, labelled, interrupted, spam and
    traffic per day, labels per day)."""

    def next_fire() -> datetime | None:
        fires = [t for t in scheduler.next_fire_times().values() if t is not None]
        return min(fires) if fires else None

    store = services.store
    rng = random.Random(seed)
    pending: list[FeedbackRecord] = []
    replayed = labelled = 0
    spam_by_day: dict[date, list[int]] = {}
    labels_by_day: dict[date, int] = {}
    interrupted = False
    start_index = 0
    texts, truths = messages.texts, messages.labels
    while start_index < len(order):
        if should_stop():
            interrupted = True
            break
        fire = next_fire()
        if fire is not None and fire <= times[start_index]:
            # Labels due by the check and the jobs on one held connection (a retrain
            # suspends it); opening and closing it is counted with the jobs.
            with jobs.timing(), store.session():
                if any(label.ts < fire for label in pending):
                    with jobs.paused(), scoring.timing():
                        store.add_feedback_many(pending)  # flush and insert
                    pending = []
                _advance(services, scheduler, times[start_index])
            fire = next_fire()
        with scoring.timing():
            stop = start_index + 1
            while (stop < len(order) and stop - start_index < CHUNK_MESSAGES
                   and (fire is None or times[stop] < fire)):
                stop += 1
            clock.set(max(clock.now(), times[stop - 1]))
            chunk = order[start_index:stop]
            stamps = times[start_index:stop]
            predictions = services.predict([texts[i] for i in chunk], source="replay",
                                           timestamps=stamps)
            for index, prediction, ts in zip(chunk, predictions, stamps, strict=True):
                day = ts.date()
                counts = spam_by_day.setdefault(day, [0, 0])
                counts[0] += 1
                counts[1] += prediction.label == "spam"
                truth = truths[index] if truths is not None else None
                if truth is not None and rng.random() < label_rate:
                    pending.append(FeedbackRecord(prediction.id, ts + label_delay, truth,
                                                  "replay"))
                    labelled += 1
                    labels_by_day[day] = labels_by_day.get(day, 0) + 1
            replayed += len(chunk)
            start_index = stop
        if on_progress:
            on_progress(replayed, len(order), clock.now())
    with jobs.timing(), store.session():
        with jobs.paused(), scoring.timing():
            store.add_feedback_many(pending)
        if not interrupted:  # let the jobs due by the end of the last hour run
            end = times[-1].replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            _advance(services, scheduler, max(end, clock.now()))
    if interrupted:
        services.monitor_log.write(f"Replay stopped after {replayed:,} of "
                                   f"{len(order):,} messages; what was replayed is kept")
    return replayed, labelled, interrupted, spam_by_day, labels_by_day
