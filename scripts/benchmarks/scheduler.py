"""Scheduler benchmark: prints exactly one JSON line.

``schedule_*`` keys: a real ``BackgroundScheduler`` (through ``SchedulerHost``, with its lock
and recording wrapper) runs one job every second for at least 60 runs; from the recorded runs
we report the share that started within 0.5 s of their scheduled time (target 100 %), the
number of duplicate runs of one fire time and of fire times that got no run (missed, skipped
or absent; target 0 each), and start-delay percentiles.

``retrain_cycle_seconds``: one full retrain-and-compare cycle on the UCI data (target < 15 s).

Each measurement is a function returning a dict of keys, listed in ``MEASUREMENTS``.

Usage: ``python scripts/benchmarks/scheduler.py [--jobs 60] [--interval 1.0]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger

from engine.clock import SystemClock
from engine.records import JobRun
from engine.scheduling import JobContext, JobSpec, SchedulerHost, SchedulerLock

ON_TIME_SECONDS = 0.5
"""A run counts as on time if it started at most this long after its scheduled time."""


class _MemoryRecorder:
    """Final job-run records in memory (insert-or-replace by id, like the store)."""

    def __init__(self) -> None:
        self._runs: dict[str, JobRun] = {}
        self._lock = threading.Lock()

    def record_job_run(self, run: JobRun) -> None:
        with self._lock:
            self._runs[run.id] = run

    def finished(self) -> list[JobRun]:
        """Every record whose run is over (``ok``, ``failed``, ``skipped``, ``missed``)."""
        with self._lock:
            return [run for run in self._runs.values() if run.outcome != "running"]


def measure_schedule_precision(jobs: int = 60, interval: float = 1.0) -> dict[str, Any]:
    """Run ``jobs`` fire times of a ``interval``-second job on a real scheduler."""
    recorder = _MemoryRecorder()
    first = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    spec = JobSpec(id="bench", trigger=IntervalTrigger(seconds=interval, start_date=first,
                                                       timezone=UTC),
                   func=_work, description=f"benchmark job every {interval:g}s")
    last = first + timedelta(seconds=interval * (jobs - 1))
    with tempfile.TemporaryDirectory(prefix="spamops-bench-") as tmp:
        host = SchedulerHost([spec], recorder, SchedulerLock(Path(tmp) / "locks"),
                             SystemClock(), kind="benchmark", misfire_grace_seconds=1)
        if not host.start():
            raise RuntimeError("benchmark scheduler did not become active")
        try:
            # Run until the last measured fire time has had time to start and finish.
            time.sleep(max(0.0, (last - datetime.now(UTC)).total_seconds()) + 1.5)
        finally:
            host.shutdown()
    expected = [first.replace(tzinfo=None) + timedelta(seconds=interval * n)
                for n in range(jobs)]
    measured = [run for run in recorder.finished() if run.scheduled_at in set(expected)]
    ok = [run for run in measured if run.outcome == "ok"]
    delays = sorted((run.started_at - run.scheduled_at).total_seconds()  # type: ignore[operator]
                    for run in ok)
    per_fire_time = Counter(run.scheduled_at for run in ok)
    return {
        "schedule_jobs": jobs,
        "schedule_interval_seconds": interval,
        "schedule_runs_ok": len(ok),
        "schedule_on_time_share": round(sum(d <= ON_TIME_SECONDS for d in delays) / jobs, 4),
        "schedule_duplicates": sum(count - 1 for count in per_fire_time.values()),
        "schedule_misses": sum(when not in per_fire_time for when in expected),
        "schedule_not_ok_records": len(measured) - len(ok),
        "schedule_delay_p50_ms": _ms(statistics.median(delays)) if delays else None,
        "schedule_delay_p99_ms": _ms(delays[min(len(delays) - 1, int(0.99 * len(delays)))])
        if delays else None,
        "schedule_delay_max_ms": _ms(delays[-1]) if delays else None,
    }


def _work(ctx: JobContext) -> str:
    return f"ran for {ctx.scheduled_at}"


def measure_retrain_cycle(dataset_url: str | None) -> dict[str, Any]:
    """Seconds for one full retrain-and-compare cycle on the UCI data (target < 15 s).

    A fresh data home gets a champion first (not timed); then drifted traffic with labels is
    logged and one ``Services.retrain`` is timed: training the challenger on the split plus
    feedback, registering it in MLflow, comparing on both sets and the deployment decision.
    """
    import os

    from engine.config import load_settings
    from engine.services import Services

    source = dataset_url or os.environ.get("SPAMOPS_DATASET_URL")
    if not source:
        return {"retrain_cycle_seconds": None, "retrain_cycle_note": "no dataset source"}
    with tempfile.TemporaryDirectory() as tmp:
        services = Services(load_settings(home=Path(tmp) / "home", dataset_url=source))
        services.train(trigger="benchmark")
        services.simulate(messages=1000, drift=0.3, label_rate=0.5, seed=1)
        started = time.perf_counter()
        result = services.retrain(trigger="benchmark")
        seconds = time.perf_counter() - started
        services.close()
    return {"retrain_cycle_seconds": round(seconds, 2),
            "retrain_cycle_decision": result.deployment.decision,
            "retrain_cycle_target_seconds": 15}


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


MEASUREMENTS: list[Callable[[argparse.Namespace], dict[str, Any]]] = [
    lambda args: measure_schedule_precision(args.jobs, args.interval),
    lambda args: measure_retrain_cycle(args.dataset_url),
]
"""Every measurement, in order; each returns the keys it adds to the one JSON line."""


def main(argv: list[str] | None = None) -> int:
    """Run every measurement and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=60, help="runs to measure (default 60)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between runs")
    parser.add_argument("--dataset-url", default=None,
                        help="UCI zip for the retrain cycle (default SPAMOPS_DATASET_URL)")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"benchmark": "scheduler"}
    for measure in MEASUREMENTS:
        result.update(measure(args))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
