"""Scheduling: the single-holder lock, the standby, recorded runs and simulated time.

Everything here is real: APScheduler 3 schedulers, fcntl locks on a temporary directory and,
for the second holder, a separate OS process. Only the recorder is an in-memory
implementation of the ``JobRecorder`` protocol, which is the interface the store satisfies.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from engine.clock import SimulatedClock, SystemClock, utcnow
from engine.config import MonitoringSettings, Settings
from engine.errors import ConfigError
from engine.records import JobRun
from engine.scheduling import (
    HolderInfo,
    JobContext,
    JobSpec,
    SchedulerEvent,
    SchedulerHost,
    SchedulerLock,
    SimulatedScheduler,
    crontab_trigger,
    default_jobs,
)

T0 = datetime(2025, 12, 1, 0, 0, 0)
"""Start of the simulated day (naive UTC, a Monday)."""


class MemoryRecorder:
    """Keeps job runs in memory, replacing by id like the store does."""

    def __init__(self) -> None:
        self._runs: dict[str, JobRun] = {}
        self._lock = threading.Lock()

    def record_job_run(self, run: JobRun) -> None:
        with self._lock:
            self._runs[run.id] = run

    def runs(self, job: str | None = None, outcome: str | None = None) -> list[JobRun]:
        with self._lock:
            found = [r for r in self._runs.values()
                     if (job is None or r.job == job) and (outcome is None or r.outcome == outcome)]
        return sorted(found, key=lambda r: r.started_at)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


async def async_wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def every(seconds: float) -> IntervalTrigger:
    return IntervalTrigger(seconds=seconds, timezone=UTC)


def ok_job(name: str, seconds: float = 0.1) -> JobSpec:
    return JobSpec(id=name, trigger=every(seconds), func=lambda ctx: f"{name} done",
                   description=f"{name} every {seconds}s")


@pytest.fixture
def lock_dir(tmp_path: Path) -> Path:
    return tmp_path / "home" / "locks"


@pytest.fixture
def recorder() -> MemoryRecorder:
    return MemoryRecorder()


@pytest.fixture
def hosts() -> Iterator[list[SchedulerHost]]:
    """Hosts created by a test; all shut down at the end, even on failure."""
    made: list[SchedulerHost] = []
    yield made
    for host in made:
        host.shutdown()


def make_host(hosts: list[SchedulerHost], jobs: list[JobSpec], recorder: MemoryRecorder,
              lock_dir: Path, **kwargs: object) -> SchedulerHost:
    options: dict[str, object] = {"kind": "monitor", "retry_seconds": 0.1}
    options.update(kwargs)
    host = SchedulerHost(jobs, recorder, SchedulerLock(lock_dir), SystemClock(),
                         **options)  # type: ignore[arg-type]
    hosts.append(host)
    return host


HOLDER_SCRIPT = """
import sys, time
from pathlib import Path
from engine.scheduling import SchedulerLock
lock = SchedulerLock(Path(sys.argv[1]))
print("held" if lock.acquire("console") else "refused", flush=True)
time.sleep(60)
"""


@pytest.fixture
def other_process_holding(lock_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """A separate OS process that holds the scheduler lock until killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER_SCRIPT, str(lock_dir)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


# The lock ---------------------------------------------------------------------------------

def test_lock_admits_one_holder_per_directory_and_names_it(lock_dir: Path) -> None:
    first, second = SchedulerLock(lock_dir), SchedulerLock(lock_dir)

    assert first.acquire("console")
    assert not second.acquire("monitor")

    seen = second.holder()
    assert seen is not None
    assert (seen.kind, seen.pid, seen.host) == ("console", os.getpid(), socket.gethostname())
    assert abs((utcnow() - seen.since).total_seconds()) < 5
    on_disk = json.loads((lock_dir / "scheduler.holder.json").read_text())
    assert on_disk["kind"] == "console"

    first.release()
    assert second.holder() is None
    assert second.acquire("monitor")
    assert first.holder() == second.holder()
    second.release()


def test_release_twice_is_harmless_and_acquire_is_idempotent(lock_dir: Path) -> None:
    sut = SchedulerLock(lock_dir)
    assert sut.acquire("demo") and sut.acquire("demo")
    sut.release()
    sut.release()
    assert sut.holder() is None


def test_holder_file_of_a_dead_process_counts_as_no_holder(lock_dir: Path) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    lock_dir.mkdir(parents=True)
    (lock_dir / "scheduler.holder.json").write_text(json.dumps({
        "host": socket.gethostname(), "pid": int(finished.stdout), "kind": "monitor",
        "since": "2025-12-01T00:00:00"}))

    assert SchedulerLock(lock_dir).holder() is None


def test_lock_held_by_another_process_is_freed_when_it_is_killed(
        lock_dir: Path, other_process_holding: subprocess.Popen[str]) -> None:
    sut = SchedulerLock(lock_dir)
    assert not sut.acquire("monitor")
    holder = sut.holder()
    assert holder is not None and holder.pid == other_process_holding.pid

    other_process_holding.kill()
    other_process_holding.wait()

    assert sut.acquire("monitor")
    sut.release()


# The host: single holder and standby ---------------------------------------------------------

def test_second_host_stands_by_names_the_holder_and_takes_over_when_it_dies(
        lock_dir: Path, recorder: MemoryRecorder, hosts: list[SchedulerHost],
        other_process_holding: subprocess.Popen[str]) -> None:
    events: list[SchedulerEvent] = []
    sut = make_host(hosts, [ok_job("tick")], recorder, lock_dir, on_event=events.append)

    assert sut.start() is False
    status = sut.status()
    assert status.standby and not status.active
    assert status.holder == HolderInfo(host=socket.gethostname(), pid=other_process_holding.pid,
                                       kind="console", since=status.holder.since)  # type: ignore[union-attr]
    assert [job.id for job in status.jobs] == ["tick"]
    assert status.jobs[0].next_run_time is None
    assert "console" in status.describe() and str(other_process_holding.pid) in status.describe()
    assert [e.kind for e in events] == ["standby"]
    time.sleep(0.3)
    assert recorder.runs() == []

    other_process_holding.kill()
    other_process_holding.wait()

    wait_until(lambda: sut.status().active)
    status = sut.status()
    assert not status.standby
    assert status.holder is not None and status.holder.pid == os.getpid()
    assert status.holder.kind == "monitor"
    assert status.jobs[0].next_run_time is not None
    wait_until(lambda: len(recorder.runs("tick", "ok")) >= 1)
    assert [e.kind for e in events][:2] == ["standby", "active"]


def test_only_one_of_two_hosts_on_one_data_home_is_active(
        lock_dir: Path, recorder: MemoryRecorder, hosts: list[SchedulerHost]) -> None:
    first = make_host(hosts, [ok_job("tick")], recorder, lock_dir, kind="monitor")
    second = make_host(hosts, [ok_job("tick")], recorder, lock_dir, kind="console")

    assert first.start() is True
    assert second.start() is False
    assert second.status().holder == first.status().holder

    first.shutdown()
    wait_until(lambda: second.status().active)
    assert not first.status().active and not first.status().standby


def test_shutdown_twice_releases_the_lock(lock_dir: Path, recorder: MemoryRecorder,
                                          hosts: list[SchedulerHost]) -> None:
    sut = make_host(hosts, [ok_job("tick")], recorder, lock_dir)
    assert sut.start()
    sut.shutdown()
    sut.shutdown()
    assert SchedulerLock(lock_dir).holder() is None
    assert SchedulerLock(lock_dir).acquire("console")


# The host: recorded runs ---------------------------------------------------------------------

def test_runs_are_recorded_with_scheduled_and_actual_start(
        lock_dir: Path, recorder: MemoryRecorder, hosts: list[SchedulerHost]) -> None:
    sut = make_host(hosts, [ok_job("tick", 0.1)], recorder, lock_dir)
    sut.start()
    wait_until(lambda: len(recorder.runs("tick", "ok")) >= 3)
    sut.shutdown()

    runs = recorder.runs("tick", "ok")
    for run in runs:
        assert run.scheduled_at is not None and run.finished_at is not None
        assert run.scheduled_at <= run.started_at <= run.finished_at
        assert (run.started_at - run.scheduled_at).total_seconds() < 0.5
        assert run.detail == "tick done"
        assert run.holder == f"{socket.gethostname()}:{os.getpid()}"
    scheduled = [run.scheduled_at for run in runs]
    assert len(set(scheduled)) == len(scheduled)


def test_failing_job_is_recorded_as_failed_and_the_scheduler_keeps_running(
        lock_dir: Path, recorder: MemoryRecorder, hosts: list[SchedulerHost]) -> None:
    def explode(ctx: JobContext) -> str:
        raise RuntimeError("model registry unreachable\nsecond line")

    boom = JobSpec(id="boom", trigger=every(0.1), func=explode, description="always fails")
    sut = make_host(hosts, [boom, ok_job("tick", 0.1)], recorder, lock_dir)
    sut.start()

    wait_until(lambda: len(recorder.runs("boom", "failed")) >= 3
               and len(recorder.runs("tick", "ok")) >= 3)
    assert sut.status().active
    failed = recorder.runs("boom", "failed")[0]
    assert failed.detail == "RuntimeError: model registry unreachable"
    assert failed.finished_at is not None
    assert recorder.runs("boom", "ok") == []


def test_slow_job_never_runs_twice_at_once(lock_dir: Path, recorder: MemoryRecorder,
                                            hosts: list[SchedulerHost]) -> None:
    running, most = 0, 0
    guard = threading.Lock()

    def slow(ctx: JobContext) -> str:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        time.sleep(0.35)
        with guard:
            running -= 1
        return "slow done"

    spec = JobSpec(id="slow", trigger=every(0.05), func=slow,
                   description="slower than its interval")
    sut = make_host(hosts, [spec], recorder, lock_dir)
    sut.start()
    wait_until(lambda: len(recorder.runs("slow", "ok")) >= 3)
    sut.shutdown()

    assert most == 1
    done = recorder.runs("slow", "ok")
    for earlier, later in itertools.pairwise(done):
        assert earlier.finished_at is not None and earlier.finished_at <= later.started_at
    assert recorder.runs("slow", "skipped"), "overlapping fire times are recorded as skipped"


def test_missed_run_is_recorded_as_missed(lock_dir: Path, recorder: MemoryRecorder,
                                          hosts: list[SchedulerHost]) -> None:
    long_ago = datetime.now(UTC) - timedelta(seconds=30)
    spec = JobSpec(id="late", trigger=DateTrigger(run_date=long_ago),
                   func=lambda ctx: "should not run", description="due long ago")
    sut = make_host(hosts, [spec], recorder, lock_dir, misfire_grace_seconds=1)
    sut.start()

    wait_until(lambda: len(recorder.runs("late")) == 1)
    missed = recorder.runs("late")[0]
    assert missed.outcome == "missed"
    assert missed.scheduled_at == long_ago.replace(tzinfo=None)
    assert "missed by" in missed.detail


def test_run_now_records_a_manual_run(lock_dir: Path, recorder: MemoryRecorder,
                                      hosts: list[SchedulerHost]) -> None:
    seen: list[JobContext] = []

    def check(ctx: JobContext) -> str:
        seen.append(ctx)
        return "check done"

    spec = JobSpec(id="monitor", trigger=IntervalTrigger(hours=1, timezone=UTC), func=check,
                   description="hourly check")
    sut = make_host(hosts, [spec], recorder, lock_dir)
    sut.start()

    run = sut.run_now("monitor")

    assert (run.job, run.outcome, run.detail, run.scheduled_at) == ("monitor", "ok",
                                                                     "check done", None)
    assert recorder.runs("monitor") == [run]
    assert seen[0].trigger == "manual" and seen[0].run_id == run.id
    with pytest.raises(KeyError):
        sut.run_now("no-such-job")


def test_run_now_while_the_job_runs_is_skipped(lock_dir: Path, recorder: MemoryRecorder,
                                               hosts: list[SchedulerHost]) -> None:
    release = threading.Event()
    spec = JobSpec(id="retrain", trigger=IntervalTrigger(hours=1, timezone=UTC),
                   func=lambda ctx: "trained" if release.wait(5) else "timeout",
                   description="retrain")
    sut = make_host(hosts, [spec], recorder, lock_dir)
    first = threading.Thread(target=sut.run_now, args=("retrain",))
    first.start()
    wait_until(lambda: len(recorder.runs("retrain", "running")) == 1)

    second = sut.run_now("retrain")
    release.set()
    first.join()

    assert second.outcome == "skipped" and "already running" in second.detail
    assert [r.outcome for r in recorder.runs("retrain")] == ["ok", "skipped"]


def test_run_now_on_a_standby_host_skips_a_job_the_active_holder_runs(
        lock_dir: Path, hosts: list[SchedulerHost]) -> None:
    """The scheduler lock decides who schedules; a manual run in another process (standing
    by) must still not run the same job at the same time (issue 14, item 6)."""
    release = threading.Event()
    runs = {"n": 0}

    def check(ctx: JobContext) -> str:
        runs["n"] += 1
        return "checked" if release.wait(5) else "timeout"

    spec = JobSpec(id="monitor", trigger=IntervalTrigger(hours=1, timezone=UTC), func=check,
                   description="hourly check")
    active_recorder, standby_recorder = MemoryRecorder(), MemoryRecorder()
    active = make_host(hosts, [spec], active_recorder, lock_dir)
    standby = make_host(hosts, [spec], standby_recorder, lock_dir)
    assert active.start() and not standby.start()
    first = threading.Thread(target=active.run_now, args=("monitor",))
    first.start()
    wait_until(lambda: len(active_recorder.runs("monitor", "running")) == 1)

    second = standby.run_now("monitor")
    release.set()
    first.join()

    assert second.outcome == "skipped" and "another process" in second.detail
    assert runs["n"] == 1
    assert standby.run_now("monitor").outcome == "ok"  # once it is free, it runs


# The host on a running asyncio loop (the console) -------------------------------------------

async def test_asyncio_mode_runs_jobs_on_the_running_loop_and_hands_over(
        lock_dir: Path, recorder: MemoryRecorder, hosts: list[SchedulerHost]) -> None:
    first = make_host(hosts, [ok_job("tick", 0.1)], recorder, lock_dir, mode="asyncio",
                      kind="console")
    second = make_host(hosts, [ok_job("tick", 0.1)], recorder, lock_dir, mode="asyncio",
                       kind="console")

    assert first.start() is True
    assert second.start() is False
    await async_wait_until(lambda: len(recorder.runs("tick", "ok")) >= 2)
    assert second.status().standby

    first.shutdown()
    await async_wait_until(lambda: second.status().active)
    before = len(recorder.runs("tick", "ok"))
    await async_wait_until(lambda: len(recorder.runs("tick", "ok")) >= before + 2)
    second.shutdown()


def test_asyncio_mode_needs_a_running_loop(lock_dir: Path, recorder: MemoryRecorder) -> None:
    sut = SchedulerHost([ok_job("tick")], recorder, SchedulerLock(lock_dir), SystemClock(),
                        kind="console", mode="asyncio")
    with pytest.raises(RuntimeError, match="running asyncio loop"):
        sut.start()
    assert SchedulerLock(lock_dir).holder() is None


# Simulated time (the demo) ------------------------------------------------------------------

def simulated_day_jobs(clock: SimulatedClock,
                       calls: list[tuple[str, datetime, datetime]]) -> list[JobSpec]:
    def monitor(ctx: JobContext) -> str:
        calls.append(("monitor", ctx.clock.now(), ctx.scheduled_at or T0))
        return "checked"

    def retrain(ctx: JobContext) -> str:
        calls.append(("retrain", ctx.clock.now(), ctx.scheduled_at or T0))
        return "retrained"

    settings = MonitoringSettings(interval_minutes=60, retrain_cron="0 3 * * *")
    return default_jobs(settings, monitor, retrain, start=clock.now())


def test_simulated_day_fires_hourly_24_times_and_daily_cron_once_at_simulated_times(
        recorder: MemoryRecorder) -> None:
    clock = SimulatedClock(T0)
    calls: list[tuple[str, datetime, datetime]] = []
    sut = SimulatedScheduler(simulated_day_jobs(clock, calls), recorder, clock)

    runs = sut.advance_to(T0 + timedelta(days=1))

    monitor_runs = recorder.runs("monitor", "ok")
    assert [r.scheduled_at for r in monitor_runs] == [T0 + timedelta(hours=h)
                                                      for h in range(1, 25)]
    retrain_runs = recorder.runs("retrain", "ok")
    assert [r.scheduled_at for r in retrain_runs] == [T0 + timedelta(hours=3)]
    assert all(r.started_at == r.scheduled_at == r.finished_at for r in recorder.runs())
    assert all(now == scheduled for _, now, scheduled in calls)
    assert [r.job for r in runs[:4]] == ["monitor", "monitor", "monitor", "retrain"]
    assert clock.now() == T0 + timedelta(days=1)
    assert sut.next_fire_times() == {"monitor": T0 + timedelta(hours=25),
                                     "retrain": T0 + timedelta(days=1, hours=3)}


def test_simulated_schedule_is_deterministic() -> None:
    def fire_times() -> list[tuple[str, datetime | None]]:
        clock = SimulatedClock(T0)
        recorder = MemoryRecorder()
        sut = SimulatedScheduler(simulated_day_jobs(clock, []), recorder, clock)
        for hour in range(1, 50, 7):
            sut.advance_to(T0 + timedelta(hours=hour))
        return [(r.job, r.scheduled_at) for r in recorder.runs()]

    assert fire_times() == fire_times()
    assert len(fire_times()) == 43 + 2  # hourly up to 43:00, daily at 03:00 and 27:00


def test_simulated_clock_moved_past_fire_times_coalesces_into_one_late_run(
        recorder: MemoryRecorder) -> None:
    clock = SimulatedClock(T0)
    sut = SimulatedScheduler(simulated_day_jobs(clock, []), recorder, clock)

    clock.set(T0 + timedelta(hours=5, minutes=30))
    sut.advance_to(T0 + timedelta(hours=5, minutes=30))

    monitor = recorder.runs("monitor")
    assert [(r.scheduled_at, r.started_at) for r in monitor] == [
        (T0 + timedelta(hours=5), T0 + timedelta(hours=5, minutes=30))]
    assert len(recorder.runs("retrain")) == 1


def test_simulated_failing_job_and_manual_run(recorder: MemoryRecorder) -> None:
    clock = SimulatedClock(T0)

    def explode(ctx: JobContext) -> str:
        raise ValueError("no champion")

    spec = JobSpec(id="boom", trigger=IntervalTrigger(hours=1, start_date=T0, timezone=UTC),
                   func=explode, description="fails")
    sut = SimulatedScheduler([spec], recorder, clock)
    sut.advance_to(T0 + timedelta(hours=2))
    manual = sut.run_now("boom")

    # 00:00, 01:00, 02:00 and the manual run
    assert [r.outcome for r in recorder.runs("boom")] == ["failed"] * 4
    assert manual.scheduled_at is None and manual.started_at == T0 + timedelta(hours=2)


# Jobs from settings -------------------------------------------------------------------------

def test_default_jobs_follow_the_settings() -> None:
    settings = Settings(monitoring=MonitoringSettings(interval_minutes=15,
                                                      retrain_cron="30 2 * * 1"))
    monitor, retrain = default_jobs(settings, lambda ctx: "m", lambda ctx: "r")

    assert (monitor.id, retrain.id) == ("monitor", "retrain")
    assert isinstance(monitor.trigger, IntervalTrigger)
    assert monitor.trigger.interval == timedelta(minutes=15)
    assert isinstance(retrain.trigger, CronTrigger)
    after = datetime(2025, 12, 2, 0, 0, tzinfo=UTC)  # a Tuesday
    assert retrain.trigger.get_next_fire_time(None, after) == datetime(2025, 12, 8, 2, 30,
                                                                        tzinfo=UTC)
    assert "15" in monitor.description and "30 2 * * 1" in retrain.description


@pytest.mark.parametrize(("crontab", "fires_on"), [
    ("0 3 * * 0", [7]),  # the default: Sundays, not Mondays (APScheduler 3 counts from Monday)
    ("0 3 * * 7", [7]),
    ("0 3 * * 1-5", [1, 2, 3, 4, 5]),
    ("0 3 * * 5-7", [5, 6, 7]),
    ("0 3 * * 0,3", [3, 7]),
    ("0 3 * * */2", [2, 4, 6, 7]),
    ("0 3 * * sun", [7]),
    ("0 3 * * mon-wed", [1, 2, 3]),
    ("0 3 * * *", [1, 2, 3, 4, 5, 6, 7]),
])
def test_crontab_weekdays_mean_what_cron_means(crontab: str, fires_on: list[int]) -> None:
    trigger = crontab_trigger(crontab)
    fire = datetime(2025, 12, 1, 0, 0, tzinfo=UTC)  # Monday 1 December
    days = []
    for _ in range(7):
        fire = trigger.get_next_fire_time(None, fire + timedelta(seconds=1))
        if fire.day > 7:
            break
        days.append(fire.day)
    assert days == fires_on


def fire_dates(crontab: str, start: datetime, end: datetime) -> list[str]:
    """Every fire time of ``crontab`` in [start, end), as ``MM-DD HH:MM``."""
    trigger = crontab_trigger(crontab)
    fires, previous = [], None
    now = start.replace(tzinfo=UTC)
    while (fire := trigger.get_next_fire_time(previous, now)) < end.replace(tzinfo=UTC):
        fires.append(f"{fire:%m-%d %H:%M}")
        previous, now = fire, fire + timedelta(seconds=1)
    return fires


def test_day_of_month_and_weekday_both_set_fire_on_either_like_cron() -> None:
    """``0 3 1 * 1``: every Monday and on the 1st (cron's OR), not only Mondays the 1st."""
    fires = fire_dates("0 3 1 * 1", datetime(2025, 12, 1), datetime(2026, 2, 1))
    assert fires == ["12-01 03:00", "12-08 03:00", "12-15 03:00", "12-22 03:00",
                     "12-29 03:00", "01-01 03:00", "01-05 03:00", "01-12 03:00",
                     "01-19 03:00", "01-26 03:00"]


@pytest.mark.parametrize(("crontab", "expected"), [
    ("0 3 */10 * 1", ["12-01 03:00"]),  # days 1, 11, 21, 31 that are Mondays
    ("0 3 1 * *", ["12-01 03:00"]),
    ("30 4 * * 0", ["12-07 04:30", "12-14 04:30", "12-21 04:30", "12-28 04:30"]),
])
def test_a_star_in_either_day_field_keeps_the_other_alone(crontab: str,
                                                          expected: list[str]) -> None:
    """Cron ANDs the two day fields when either starts with ``*`` (``*/10`` included)."""
    assert fire_dates(crontab, datetime(2025, 12, 1), datetime(2026, 1, 1)) == expected


def test_simulated_scheduler_fires_an_or_crontab_on_both_kinds_of_day(
        recorder: MemoryRecorder) -> None:
    clock = SimulatedClock(T0)
    job = JobSpec("retrain", crontab_trigger("0 3 1 * 1"), lambda ctx: "r", "retrain")
    scheduler = SimulatedScheduler([job], recorder, clock)
    runs = scheduler.advance_to(datetime(2026, 1, 6))
    assert [r.scheduled_at.strftime("%m-%d") for r in runs if r.scheduled_at] == [
        "12-01", "12-08", "12-15", "12-22", "12-29", "01-01", "01-05"]


@pytest.mark.parametrize("crontab", ["every sunday", "0 3 * * 8", "0 3 * * 5-2", "0 3 * *"])
def test_crontab_trigger_refuses_invalid_expressions(crontab: str) -> None:
    with pytest.raises(ValueError):
        crontab_trigger(crontab)


def test_a_bad_crontab_is_refused_at_load_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"retrain_cron"):
        MonitoringSettings(retrain_cron="every sunday")


def test_default_jobs_reject_a_bad_crontab_naming_the_key() -> None:
    # Settings built without validation (model_construct) still cannot schedule a bad crontab.
    settings = MonitoringSettings.model_construct(retrain_cron="every sunday")
    with pytest.raises(ConfigError, match=r"monitoring\.retrain_cron"):
        default_jobs(settings, lambda ctx: "m", lambda ctx: "r")


# The benchmark script -----------------------------------------------------------------------

@pytest.mark.slow
def test_scheduler_benchmark_prints_one_json_line() -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "benchmarks" / "scheduler.py"
    done = subprocess.run([sys.executable, str(script), "--jobs", "3", "--interval", "0.5"],
                          capture_output=True, text=True, check=True, timeout=60)

    lines = done.stdout.splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["schedule_jobs"] == 3
    assert (result["schedule_duplicates"], result["schedule_misses"]) == (0, 0)
    assert result["schedule_on_time_share"] == 1.0
