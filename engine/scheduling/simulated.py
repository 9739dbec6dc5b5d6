"""``SimulatedScheduler``: fires jobs at simulated times, deterministically, for the demo.

Owns advancing a ``SimulatedClock`` from fire time to fire time and running each due job
through the same recording wrapper as ``SchedulerHost``. It takes no lock (simulated time
belongs to the one process that drives it) and must not import APScheduler's schedulers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from engine.clock import SimulatedClock
from engine.records import JobRun
from engine.scheduling.jobs import (
    JobRecorder,
    JobSpec,
    next_fire,
)
from engine.scheduling.runs import EventSink, RunRecorder


class SimulatedScheduler:
    """Fires jobs at their simulated times, deterministically, for the demo.

    Uses the jobs' own APScheduler triggers and the same recording wrapper as
    ``SchedulerHost``. ``advance_to`` moves the clock from fire time to fire time, setting it
    to each fire time before running the job, so scheduled and actual start are equal and
    every timestamp a job writes is in simulated time. Jobs due at the same instant run in the
    order they were given. If something else moved the clock past fire times, the job runs once,
    late, for the latest of them (like APScheduler's coalescing). No lock: simulated time
    belongs to the one process that drives it. Run ids are random; the schedule is not.
    """

    def __init__(self, jobs: Sequence[JobSpec], recorder: JobRecorder, clock: SimulatedClock,
                 *, on_event: EventSink | None = None) -> None:
        self._runner = RunRecorder(jobs, recorder, clock, on_event)
        self._specs = list(jobs)
        self._clock = clock
        now = clock.now()
        self._next: dict[str, datetime | None] = {
            spec.id: next_fire(spec.trigger, None, now) for spec in jobs}

    def next_fire_times(self) -> dict[str, datetime | None]:
        """Each job's next simulated fire time (naive UTC)."""
        return dict(self._next)

    def advance_to(self, when: datetime) -> list[JobRun]:
        """Run every job due up to and including ``when``, in time order; end with the clock at
        ``when`` (or later, if a job moved it). Returns the final records, in order."""
        runs: list[JobRun] = []
        while True:
            due = [(fire, index, spec) for index, spec in enumerate(self._specs)
                   if (fire := self._next[spec.id]) is not None and fire <= when]
            if not due:
                break
            fire, _, spec = min(due, key=lambda item: (item[0], item[1]))
            now = self._clock.now()
            while fire < now:  # coalesce fire times the clock was moved past
                following = next_fire(spec.trigger, fire, now)
                if following is None or following > now:
                    break
                fire = following
            if fire > now:
                self._clock.set(fire)
            runs.append(self._runner.run(spec.id, scheduled_at=fire, trigger="schedule"))
            self._next[spec.id] = next_fire(spec.trigger, fire, max(fire, self._clock.now()))
        if when > self._clock.now():
            self._clock.set(when)
        return runs

    def run_now(self, job_id: str) -> JobRun:
        """Run a job at the current simulated time, as a manual run.

        Raises:
            KeyError: no job has that id.
        """
        self._runner.spec(job_id)
        return self._runner.run(job_id, scheduled_at=None, trigger="manual")
