"""The scheduled jobs: what runs and when (``JobSpec``, ``default_jobs``, crontabs).

Owns the job records a scheduler is given (``JobSpec``, ``JobContext``, ``JobRecorder``),
the standard jobs of a data home (interval monitoring check, cron retraining, daily prune),
crontab parsing with cron's own weekday numbering (``crontab_trigger``), and the naive-UTC
time helpers of APScheduler 3's triggers. It must not know what the jobs do (they are
callables handed in) nor run anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from engine.clock import Clock
from engine.config import MonitoringSettings, Settings
from engine.errors import ConfigError
from engine.records import JobRun

Trigger = Literal["schedule", "manual"]


Outcome = Literal["running", "ok", "failed", "skipped", "missed"]


@dataclass(frozen=True)
class JobContext:
    """What a job function is told about the run it is doing."""

    job_id: str
    run_id: str
    """Id of the ``JobRun`` that records this run."""
    trigger: Trigger
    """``schedule`` for a fire time of the trigger, ``manual`` for ``run_now``."""
    scheduled_at: datetime | None
    """The fire time this run serves (naive UTC); ``None`` for a manual run."""
    started_at: datetime
    clock: Clock
    """The clock the run is timed by; jobs use it for their own timestamps (simulated time)."""


JobFunction = Callable[[JobContext], str]
"""A job: does its work and returns a one-line detail for the record; raising means failed."""


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: what runs, and when."""

    id: str
    """``monitor``, ``retrain``, ...; unique within a scheduler."""
    trigger: BaseTrigger
    """An APScheduler 3 trigger, used as is by both the real and the simulated scheduler."""
    func: JobFunction
    description: str
    """One line for status displays, e.g. ``monitoring check every 60 min``."""


PRUNE_CRON = "15 4 * * *"
"""When the retention job runs: daily at 04:15 UTC (after the default Sunday 03:00 retrain)."""


def default_jobs(settings: Settings | MonitoringSettings, monitor_fn: JobFunction,
                 retrain_fn: JobFunction, *, start: datetime | None = None,
                 prune_fn: JobFunction | None = None) -> list[JobSpec]:
    """Build the standard jobs: the interval monitoring check, the cron retraining and, when
    ``prune_fn`` is given, the daily retention prune (``PRUNE_CRON``).

    Args:
        settings: the installation's settings (or just their ``monitoring`` part).
        monitor_fn: one monitoring cycle.
        retrain_fn: one scheduled retraining.
        start: naive UTC anchor of the monitoring interval; the first check fires one
            interval after it. Default: one interval after now, in real time. A simulated
            clock needs its own start here, or the first check would be in real time.

    Raises:
        ConfigError: ``monitoring.retrain_cron`` is not a valid crontab.
    """
    monitoring = settings.monitoring if isinstance(settings, Settings) else settings
    minutes = monitoring.interval_minutes
    first = None if start is None else aware_utc(start) + timedelta(minutes=minutes)
    interval = IntervalTrigger(minutes=minutes, timezone=UTC, start_date=first)
    try:
        cron = crontab_trigger(monitoring.retrain_cron)
    except ValueError as exc:
        raise ConfigError(f"invalid config value monitoring.retrain_cron="
                          f"{monitoring.retrain_cron!r}: {exc}") from None
    return [
        JobSpec("monitor", interval, monitor_fn, f"monitoring check every {minutes:g} min"),
        JobSpec("retrain", cron, retrain_fn,
                f"retraining on cron '{monitoring.retrain_cron}' (UTC)"),
    ] + ([JobSpec("prune", crontab_trigger(PRUNE_CRON), prune_fn,
                  f"retention prune daily on cron '{PRUNE_CRON}' (UTC)")] if prune_fn else [])


_CRONTAB_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def crontab_trigger(expr: str) -> BaseTrigger:
    """A UTC ``CronTrigger`` for a standard five-field crontab, weekdays as cron means them.

    APScheduler 3's ``CronTrigger.from_crontab`` numbers weekdays from Monday = 0, so
    ``0 3 * * 0`` would fire on Mondays (agronholm/apscheduler#286, fixed only in 4.x).
    Numeric weekdays are therefore rewritten as names (0 and 7 = ``sun``), ranges, lists and
    steps included; names pass through unchanged. When both day-of-month and day-of-week are
    restricted (neither starts with ``*``), cron fires on days matching *either* field, where
    a single ``CronTrigger`` needs both: such a crontab becomes an ``OrTrigger`` of two.

    Raises:
        ValueError: not a valid crontab.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    weekdays = _crontab_weekdays(weekday)
    if day.startswith("*") or weekday.startswith("*"):
        return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                           day_of_week=weekdays, timezone=UTC)
    # Both restricted: cron fires when EITHER matches (crontab(5): "the command will be run
    # when either field matches"), APScheduler's CronTrigger only when both do.
    return OrTrigger([
        CronTrigger(minute=minute, hour=hour, day=day, month=month, timezone=UTC),
        CronTrigger(minute=minute, hour=hour, month=month, day_of_week=weekdays, timezone=UTC),
    ])


def _crontab_weekdays(field: str) -> str:
    if field == "*":
        return field
    parts: list[str] = []
    for part in field.split(","):
        base, has_step, step_text = part.partition("/")
        if any(char.isalpha() for char in base):
            parts.append(part)
            continue
        step = int(step_text) if has_step else 1
        if base == "*":
            low, high = 0, 6
        elif "-" in base:
            low_text, high_text = base.split("-", 1)
            low, high = int(low_text), int(high_text)
        else:
            low = int(base)
            high = 6 if has_step else low
        if not (0 <= low <= high <= 7) or step < 1:
            raise ValueError(f"invalid weekday {part!r} (0-7, 0 and 7 are Sunday)")
        days = sorted({number % 7 for number in range(low, high + 1, step)})
        parts.append(",".join(_CRONTAB_DAY_NAMES[number] for number in days))
    return ",".join(parts)


class JobRecorder(Protocol):
    """Where job runs are written; ``Store`` satisfies it. Must insert-or-replace by id."""

    def record_job_run(self, run: JobRun) -> None:
        """Persist ``run``, replacing an earlier record with the same id."""
        ...


def aware_utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def naive_utc(when: Any) -> datetime:
    if not isinstance(when, datetime):
        raise TypeError(f"expected a datetime, got {when!r}")
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when


def next_fire(trigger: BaseTrigger, previous: datetime | None, now: datetime) -> datetime | None:
    """The trigger's next fire time (naive UTC) after ``previous``, from ``now``."""
    fire = trigger.get_next_fire_time(None if previous is None else aware_utc(previous),
                                      aware_utc(now))
    return None if fire is None else naive_utc(fire)
