"""``Stopwatch``: wall and CPU time of a kind of work, summed, with pauses and differences."""

from __future__ import annotations

import time

import pytest

from engine.stopwatch import Stopwatch


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_waiting_counts_as_wall_time_and_working_as_cpu_time() -> None:
    watch = Stopwatch()
    with watch.timing():
        time.sleep(0.2)
    assert watch.wall >= 0.2 and watch.cpu < 0.1 and watch.runs == 1
    before = watch.copy()
    with watch.timing():
        _spin(0.1)
    added = watch.since(before)
    assert added.cpu >= 0.1 and added.wall >= added.cpu - 0.01 and added.runs == 1


def test_a_pause_leaves_its_body_out_and_a_failure_is_still_timed() -> None:
    watch = Stopwatch()
    with watch.timing(), watch.paused():
        time.sleep(0.3)
    assert watch.wall < 0.1
    with pytest.raises(ValueError), watch.timing():
        time.sleep(0.1)
        raise ValueError
    assert watch.wall >= 0.1 and watch.runs == 2
