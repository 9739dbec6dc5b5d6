"""The demo/replay day table reads each day from the history as it stood during that day.

A champion change at exactly midnight belongs to the day that starts then; a day's row must
not show a champion that only took over after the day ended, nor lose the day's checks
because later days logged more than a page of them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from engine.clock import SimulatedClock, utcnow
from engine.config import load_settings
from engine.demo import champion_at, day_row
from engine.records import AliasMoveRecord
from engine.services import Services


def _day_start() -> datetime:
    """A simulated day well after the fixture's real-time training (its first champion)."""
    return (utcnow() + timedelta(days=10)).replace(hour=0, minute=0, second=0, microsecond=0)


def test_a_deploy_at_midnight_belongs_to_the_day_it_starts(two_versions_home: Path) -> None:
    day_start = _day_start()
    day_end = day_start + timedelta(days=1)
    clock = SimulatedClock(day_end)  # the promotion happens exactly at midnight
    services = Services(load_settings(home=two_versions_home), clock=clock)
    try:
        assert services.registry.require_champion() == 1
        services.promote(2, actor="test")
        clock.set(day_end + timedelta(hours=3))
        before = day_row(services, day_start, 0, 0.0, 0)
        after = day_row(services, day_end, 0, 0.0, 0)
    finally:
        services.close()
    assert before.champion_version == 1  # the old champion served the whole day
    assert after.champion_version == 2


def test_a_day_row_is_the_same_whenever_it_is_read(two_versions_home: Path) -> None:
    """The replay reads every row after the whole file: a later change must not leak back."""
    day_start = _day_start()
    clock = SimulatedClock(day_start + timedelta(days=3, hours=5))
    services = Services(load_settings(home=two_versions_home), clock=clock)
    try:
        first = day_row(services, day_start, 0, 0.0, 0)
        services.promote(2, actor="test")
        services.rollback(actor="test")  # v1 again, v2 previous
        clock.set(day_start + timedelta(days=4))
        services.promote(2, actor="test")
        again = day_row(services, day_start, 0, 0.0, 0)
        fourth = day_row(services, day_start + timedelta(days=3), 0, 0.0, 0)
        fifth = day_row(services, day_start + timedelta(days=4), 0, 0.0, 0)
    finally:
        services.close()
    assert first == again
    assert (again.champion_version, fourth.champion_version, fifth.champion_version) == (1, 1, 2)


def _move(at: datetime, before: int | None, after: int, status: str = "done") -> AliasMoveRecord:
    return AliasMoveRecord(id=f"m{at:%d%H%M}", created_at=at, kind="deploy",
                           aliases_before={} if before is None else {"champion": before},
                           aliases_after={"champion": after}, status=status, actor="t",
                           reasoning="r")


def test_champion_at_reads_the_moves_not_the_registry() -> None:
    t0 = datetime(2026, 1, 1)
    moves = [_move(t0, None, 1), _move(t0 + timedelta(days=1), 1, 2),
             _move(t0 + timedelta(days=2), 2, 3, status="undone")]
    assert champion_at(moves, t0, current=9) is None  # nothing was champion before the first
    assert champion_at(moves, t0 + timedelta(hours=1), current=9) == 1
    assert champion_at(moves, t0 + timedelta(days=1), current=9) == 1  # exclusive bound
    assert champion_at(moves, t0 + timedelta(days=1, seconds=1), current=9) == 2
    assert champion_at(moves, t0 + timedelta(days=5), current=9) == 2  # undone: no change
    assert champion_at([], t0, current=9) == 9  # a home older than the move log


def test_moves_at_one_instant_are_ordered_by_how_their_aliases_chain() -> None:
    t0, t1 = datetime(2026, 1, 1), datetime(2026, 1, 1, 5)
    promote = AliasMoveRecord(id="b", created_at=t1, kind="promote",
                              aliases_before={"champion": 1},
                              aliases_after={"champion": 2, "previous": 1}, status="done",
                              actor="t", reasoning="r")
    rollback = AliasMoveRecord(id="a", created_at=t1, kind="rollback",
                               aliases_before={"champion": 2, "previous": 1},
                               aliases_after={"champion": 1, "previous": 2}, status="done",
                               actor="t", reasoning="r")
    adopt = _move(t0, None, 1)
    for listed in ([adopt, promote, rollback], [rollback, promote, adopt]):
        assert champion_at(listed, t1 + timedelta(hours=1), current=9) == 1
