"""Replaying people's own logged traffic through the real engine, in simulated time.

``spamops replay FILE`` does with a file of messages what ``spamops demo`` does with generated
traffic: a ``SimulatedClock`` moves through the file's timestamps (or an even ``--rate`` when
it has none), every message is scored by the champion exactly as the API would score it and
logged, a share of the file's true labels is filed ``label_delay`` later, and the real
monitoring and retraining jobs fire at their simulated times through ``SimulatedScheduler``:
drift is checked, and challengers are trained, compared and deployed or kept. The replay
decides nothing itself; it only feeds traffic and moves time.

Messages are scored in chunks (at most ``CHUNK_MESSAGES``, never across a scheduled job's
fire time), each message logged at its own time. Labels are dated ``label_delay`` after their
message and filed in bulk just before the first check that could read one of them, so a
10-hour delay means one insert per ~10 simulated hours, not one per check. The caller's
``should_stop`` is asked between chunks, so Ctrl-C stops cleanly: what was replayed stays in
the history and the summary covers it.
"""

from __future__ import annotations

import random
import time
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

CHUNK_MESSAGES = 5000
"""Most messages scored in one call."""


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
    scoring_seconds: float
    """Wall time spent reading, scoring, logging and labelling: everything but the jobs."""
    job_seconds: float
    """Wall time spent in the scheduled jobs (checks, retrains, comparisons)."""

    @property
    def messages_per_second(self) -> float:
        """Replay speed apart from the scheduled jobs."""
        return self.replayed / self.scoring_seconds if self.scoring_seconds else 0.0


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
    wall = time.perf_counter()
    clock = SimulatedClock(times[0])
    services = Services(settings, clock=clock)
    echo = say or (lambda _line: None)
    services.monitor_log.subscribe(echo)
    try:
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
        scheduler = SimulatedScheduler(services.scheduled_jobs(start=start), services.store,
                                       clock)

        def next_fire() -> datetime | None:
            fires = [t for t in scheduler.next_fire_times().values() if t is not None]
            return min(fires) if fires else None

        rng = random.Random(seed)
        pending: list[FeedbackRecord] = []
        replayed = labelled = 0
        job_seconds = 0.0
        spam_by_day: dict[date, list[int]] = {}
        labels_by_day: dict[date, int] = {}
        interrupted = False
        start_index = 0
        scoring_seconds = 0.0
        while start_index < len(order):
            if should_stop():
                interrupted = True
                break
            fire = next_fire()
            if fire is not None and fire <= times[start_index]:
                began = time.perf_counter()
                if any(label.ts < fire for label in pending):  # labels due by the check
                    services.store.add_feedback_many(pending)
                    pending = []
                scoring_seconds += time.perf_counter() - began
                began = time.perf_counter()
                try:
                    scheduler.advance_to(times[start_index])
                except ConflictError as exc:  # a job refused to double a running retrain
                    services.monitor_log.write(f"Scheduled job skipped: {exc}")
                job_seconds += time.perf_counter() - began
                fire = next_fire()
            began = time.perf_counter()
            stop = start_index + 1
            while (stop < len(order) and stop - start_index < CHUNK_MESSAGES
                   and (fire is None or times[stop] < fire)):
                stop += 1
            clock.set(max(clock.now(), times[stop - 1]))
            chunk = order[start_index:stop]
            stamps = times[start_index:stop]
            predictions = services.predict([messages.texts[i] for i in chunk], source="replay",
                                           timestamps=stamps)
            for index, prediction, ts in zip(chunk, predictions, stamps, strict=True):
                counts = spam_by_day.setdefault(ts.date(), [0, 0])
                counts[0] += 1
                counts[1] += prediction.label == "spam"
                truth = messages.labels[index] if messages.labels is not None else None
                if truth is not None and rng.random() < label_rate:
                    pending.append(FeedbackRecord(prediction.id, ts + label_delay, truth,
                                                  "replay"))
                    labelled += 1
                    labels_by_day[ts.date()] = labels_by_day.get(ts.date(), 0) + 1
            replayed += len(chunk)
            start_index = stop
            scoring_seconds += time.perf_counter() - began
            if on_progress:
                on_progress(replayed, len(order), clock.now())
        began = time.perf_counter()
        services.store.add_feedback_many(pending)
        scoring_seconds += time.perf_counter() - began
        if not interrupted:  # let the jobs due by the end of the last hour run
            began = time.perf_counter()
            end = times[-1].replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            try:
                scheduler.advance_to(max(end, clock.now()))
            except ConflictError as exc:
                services.monitor_log.write(f"Scheduled job skipped: {exc}")
            job_seconds += time.perf_counter() - began
        else:
            services.monitor_log.write(f"Replay stopped after {replayed:,} of "
                                       f"{len(order):,} messages; what was replayed is kept")
        day_rows = []
        for day in sorted(spam_by_day):
            day_start = datetime(day.year, day.month, day.day)
            traffic, spam = spam_by_day[day]
            day_rows.append(day_row(services, day_start, traffic, spam / traffic,
                                    labels_by_day.get(day, 0)))
        seconds = time.perf_counter() - wall
        summary = ReplaySummary(
            source=messages.source, started=times[0], ended=clock.now(), messages=len(order),
            replayed=replayed, labelled=labelled, interrupted=interrupted,
            days=tuple(day_rows), champion_version=services.registry.require_champion(),
            versions=len(services.models()),
            drift_detections=sum(d.drift_detections for d in day_rows),
            retrains=sum(d.retrains for d in day_rows),
            deployments=sum(d.deployments for d in day_rows), seconds=seconds,
            scoring_seconds=scoring_seconds, job_seconds=job_seconds)
        services.audit("replay.finished" if not interrupted else "replay.stopped", "replay", {
            "source": messages.source, "messages": len(order), "replayed": replayed,
            "labelled": labelled, "champion_version": summary.champion_version},
            f"Replayed {replayed} of {len(order)} messages from {messages.source}; champion is "
            f"v{summary.champion_version}.", actor="replay")
        return summary
    finally:
        services.monitor_log.unsubscribe(echo)
        services.close()
