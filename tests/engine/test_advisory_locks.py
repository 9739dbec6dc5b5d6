"""The single-holder locks of a PostgreSQL store, on a real PostgreSQL (tests/postgres.py):
the scheduler lock names its holder's host and pid to every host, a holder whose session
ends (the server restarts) finds out, stops scheduling and takes the lock again, the check
and retrain locks refuse naming the holder, a check or retrain holder's fence notices a lock
lost while held, and lock sessions carry TCP keepalives."""

from __future__ import annotations

import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.triggers.interval import IntervalTrigger

from engine.advisory import AdvisoryHold, SessionHolder, holder_text
from engine.clock import SystemClock
from engine.errors import Busy, LockLost
from engine.locks import FileLock
from engine.scheduling import (
    AdvisorySchedulerLock,
    JobContext,
    JobSpec,
    SchedulerEvent,
    SchedulerHost,
)
from engine.store import Store
from tests.postgres import PostgresServer


def _store(home: Path, url: str) -> Store:
    store = Store(home / "spamops.duckdb", home / "spool", clock=SystemClock(), url=url)
    store.migrate()
    return store


def test_the_scheduler_lock_names_its_holder_to_every_host(tmp_path: Path,
                                                            postgres_url: str) -> None:
    store = _store(tmp_path, postgres_url)
    first = AdvisorySchedulerLock(store, tmp_path / "a")
    second = AdvisorySchedulerLock(store, tmp_path / "b")
    try:
        assert second.holder() is None
        before = datetime.utcnow().replace(microsecond=0)
        assert first.acquire("monitor") and first.held and first.still_held()
        assert not second.acquire("console") and not second.held
        seen = second.holder()  # read from pg_locks/pg_stat_activity, not from `first`
        assert seen is not None
        assert (seen.host, seen.pid, seen.kind) == (socket.gethostname(), os.getpid(), "monitor")
        assert seen.since >= before
        first.release()
        assert second.holder() is None and second.acquire("console")
        assert first.holder() is not None and first.holder().kind == "console"  # type: ignore[union-attr]
    finally:
        first.release()
        second.release()
        store.close()


def test_a_holder_whose_server_restarted_finds_out_and_takes_the_lock_again(
        tmp_path: Path, postgres_url: str, postgres_server: PostgresServer) -> None:
    store = _store(tmp_path, postgres_url)
    lock = AdvisorySchedulerLock(store, tmp_path / "locks")
    try:
        assert lock.acquire("monitor")
        postgres_server.stop()
        assert not lock.still_held() and not lock.held
        postgres_server.start()
        assert lock.acquire("monitor") and lock.still_held()
    finally:
        lock.release()
        store.close()


def _tick(ctx: JobContext) -> str:
    return "tick"


def test_the_scheduler_stops_when_its_lock_is_lost_and_resumes_when_it_is_back(
        tmp_path: Path, postgres_url: str, postgres_server: PostgresServer) -> None:
    """A PostgreSQL restart ends the holder's lock session: the host must stop scheduling
    (another host may take the lock meanwhile), then hold it and schedule again."""
    store = _store(tmp_path, postgres_url)
    events: list[str] = []
    seen = threading.Condition()

    def on_event(event: SchedulerEvent) -> None:
        with seen:
            events.append(event.kind)
            seen.notify_all()

    def wait_for(kind: str, count: int, timeout: float) -> None:
        with seen:
            assert seen.wait_for(lambda: events.count(kind) >= count, timeout), events

    spec = JobSpec("tick", IntervalTrigger(hours=1, timezone=UTC), _tick, "never fires here")
    host = SchedulerHost([spec], store, AdvisorySchedulerLock(store, tmp_path / "locks"),
                         SystemClock(), kind="monitor", on_event=on_event, retry_seconds=0.2)
    try:
        assert host.start() and host.status().active
        postgres_server.stop()
        wait_for("standby", 1, timeout=10)
        status = host.status()
        assert not status.active and status.standby  # no longer schedules
        postgres_server.start()
        wait_for("active", 2, timeout=20)
        assert host.status().active
        assert host.status().jobs[0].next_run_time is not None
    finally:
        host.shutdown()
        if not postgres_server.is_running():
            postgres_server.start()
        store.close()


def test_the_retrain_lock_refuses_naming_the_holder_on_any_host(
        tmp_path: Path, postgres_url: str) -> None:
    store = _store(tmp_path, postgres_url)
    first = AdvisoryHold(store, "retrain", "retrain")
    second = AdvisoryHold(store, "retrain", "retrain")
    try:
        assert not second.in_use()
        with first.hold(refuse=Busy):
            assert second.in_use()
            busy = second.hold(refuse=lambda h: Busy(f"a retrain is already running{h}"),
                               wait=0.3)
            with pytest.raises(Busy) as refused, busy:
                pass
            assert str(refused.value).startswith(
                f"a retrain is already running (retrain on {socket.gethostname()}, "
                f"pid {os.getpid()}, since ")
        assert not second.in_use()
        with second.hold(refuse=Busy):  # free again once the first block ended
            assert first.in_use()
    finally:
        store.close()


LOST = ("retrain stopped: its lock on PostgreSQL was lost (server restarted?); another host "
        "may hold it now")


def test_the_fence_holds_while_the_lock_does_and_stops_the_holder_after_a_restart(
        tmp_path: Path, postgres_url: str, postgres_server: PostgresServer) -> None:
    store = _store(tmp_path, postgres_url)
    first = AdvisoryHold(store, "retrain", "retrain")
    second = AdvisoryHold(store, "retrain", "retrain")
    try:
        with first.hold(refuse=Busy) as fence:
            fence.verify()  # held: returns
            postgres_server.stop()
            postgres_server.start()
            # The server is back and the lock is free: another host takes it ...
            with second.hold(refuse=Busy) as other:
                other.verify()
                # ... and the first holder, still running, learns it lost it.
                with pytest.raises(LockLost) as lost:
                    fence.verify()
                assert str(lost.value) == LOST
                assert fence.lost
                other.verify()  # the new holder is unaffected
    finally:
        if not postgres_server.is_running():
            postgres_server.start()
        store.close()


def test_the_fence_reads_pg_locks_not_only_whether_the_session_answers(
        tmp_path: Path, postgres_url: str) -> None:
    """A session that answers but no longer holds the lock (here it unlocked the key itself)
    is not a holder: the check asks pg_locks for the session's own pid."""
    store = _store(tmp_path, postgres_url)
    hold = AdvisoryHold(store, "check", "check")
    try:
        with hold.hold(refuse=Busy) as fence:
            lock = fence._lock
            assert lock._con is not None
            lock._con.execute("SELECT pg_advisory_unlock(%s)", [lock.key])
            assert lock._con.execute("SELECT 1").fetchone() == (1,)  # the session lives
            with pytest.raises(LockLost, match=r"^check stopped: its lock on PostgreSQL "):
                fence.verify()
    finally:
        store.close()


def test_a_file_lock_has_no_fence_since_it_cannot_be_lost_while_held(tmp_path: Path) -> None:
    with FileLock(tmp_path / "retrain.lock").hold(refuse=Busy) as fence:
        assert fence is None  # MonitorBase.verify_lock is a no-op on DuckDB


def test_lock_sessions_carry_tcp_keepalives_from_the_takeover_budget(
        tmp_path: Path, postgres_url: str) -> None:
    store = _store(tmp_path, postgres_url)
    lock = store.advisory_lock("scheduler", holder_text("monitor"), dead_peer_seconds=20)
    assert lock is not None
    try:
        assert lock.try_acquire()
        con = lock._con  # the lock's own session: what the server applies to it
        assert con is not None
        shown = {name: con.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                 for name in ("tcp_keepalives_idle", "tcp_keepalives_interval",
                              "tcp_keepalives_count", "tcp_user_timeout")}
        assert shown == {"tcp_keepalives_idle": "6", "tcp_keepalives_interval": "2",
                         "tcp_keepalives_count": "3", "tcp_user_timeout": "10000"}  # ms
    finally:
        lock.close()
        store.close()


def test_a_holder_name_reads_back_and_a_foreign_one_still_shows() -> None:
    since = datetime(2026, 11, 29, 12, 0, 0)
    assert SessionHolder.parse("monitor 812 box.example", since) == SessionHolder(
        "monitor", 812, "box.example", since)
    assert SessionHolder.parse("someone else", since) == SessionHolder(
        "someone else", 0, "?", since)
    assert holder_text("check") == f"check {os.getpid()} {socket.gethostname()}"
