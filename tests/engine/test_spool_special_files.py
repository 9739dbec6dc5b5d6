"""Non-regular files under a segment's name in ``spool/`` (issue 14): a FIFO used to hang the
orphan scan in ``open`` for good (predictions stopped, SIGTERM no longer stopped the server,
``setup-database`` hung), and a directory named ``*.jsonl`` failed setup with a raw ``Is a
directory``. Each is now refused at once, moved to ``spool/refused/`` with a warning, and the
real segments around it still land."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import SimulatedClock
from engine.records import PredictionRecord
from engine.store import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)
SPAMOPS = Path(sys.executable).parent / "spamops"


def prediction(i: int) -> PredictionRecord:
    return PredictionRecord(id=f"p{i:06d}", ts=T0 + timedelta(minutes=i), text=f"message {i}",
                            model_version=1, label="ham", spam_probability=0.1,
                            latency_ms=0.5, source="test")


def _plant(spool: Path, outside: Path) -> dict[str, str]:
    """A FIFO, a directory and two symlinks named like segments; returns name -> kind."""
    spool.mkdir(parents=True, exist_ok=True)
    os.mkfifo(spool / "fifo.jsonl")
    (spool / "dir.jsonl").mkdir()
    (spool / "dir.jsonl" / "inside.txt").write_text("x")
    os.symlink("/dev/zero", spool / "zero.jsonl")
    outside.write_bytes(b'{"id": "forged"}\n')
    os.symlink(outside, spool / "elsewhere.jsonl")
    return {"fifo.jsonl": "named pipe", "dir.jsonl": "directory",
            "zero.jsonl": "symbolic link", "elsewhere.jsonl": "symbolic link"}


def _with_deadline(call: object, seconds: float) -> object:
    """Run ``call`` in a thread; fail (instead of hanging the suite) if it blocks."""
    result: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(call())  # type: ignore[operator]
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"blocked for more than {seconds} s"
    if errors:
        raise errors[0]
    return result[0]


def test_special_files_are_refused_at_once_and_real_orphans_still_land(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db, spool = tmp_path / "spamops.duckdb", tmp_path / "spool"
    clock = SimulatedClock(T0)
    writer = Store(db, spool, clock=clock, flush_seconds=60)
    writer.migrate()
    dead = Store(db, spool, clock=clock, flush_seconds=60)  # a writer that gets killed
    dead.log_predictions([prediction(i) for i in range(3)])
    dead._stop.set()
    segment = dead._spool._current
    assert segment is not None
    os.close(segment.fd)  # as if killed: the kernel drops the flock
    planted = _plant(spool, tmp_path / "outside.jsonl")

    started = time.monotonic()
    added = _with_deadline(writer.recover_spool, 10)
    assert time.monotonic() - started < 5
    assert added == 3 and writer.count_predictions() == 3
    for name, kind in planted.items():
        assert not os.path.lexists(spool / name)
        assert os.path.lexists(spool / "refused" / name)
        warning = next(r.getMessage() for r in caplog.records
                       if f"spool segment {name} refused" in r.getMessage())
        assert kind in warning and "moved to" in warning
    assert (spool / "refused" / "dir.jsonl" / "inside.txt").read_text() == "x"
    assert (tmp_path / "outside.jsonl").read_bytes() == b'{"id": "forged"}\n'  # untouched

    # The writer keeps logging; a second FIFO of the same name goes beside the first.
    os.mkfifo(spool / "fifo.jsonl")
    writer.log_prediction(prediction(10))
    assert _with_deadline(writer.flush, 10) == 1
    assert _with_deadline(writer.recover_spool, 10) == 0
    assert len(list((spool / "refused").glob("fifo.jsonl*"))) == 2
    assert writer.count_predictions() == 4
    writer.close()


def test_the_flush_thread_of_a_running_writer_survives_a_fifo(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flush thread's own orphan scan (every 30 s in production; every tick here)."""
    monkeypatch.setattr("engine.store.spool.ORPHAN_SCAN_SECONDS", 0.0)
    db, spool = tmp_path / "spamops.duckdb", tmp_path / "spool"
    writer = Store(db, spool, clock=SimulatedClock(T0), flush_seconds=0.05)
    writer.migrate()
    writer.log_prediction(prediction(0))
    os.mkfifo(spool / "fifo.jsonl")
    writer.log_prediction(prediction(1))
    deadline = time.monotonic() + 10
    while writer.count_predictions() < 2 or os.path.lexists(spool / "fifo.jsonl"):
        assert time.monotonic() < deadline, "the flush thread stopped"
        time.sleep(0.05)
    writer.log_prediction(prediction(2))
    deadline = time.monotonic() + 10
    while writer.count_predictions() < 3:
        assert time.monotonic() < deadline, "the flush thread stopped"
        time.sleep(0.05)
    _with_deadline(writer.close, 10)  # stops: the thread is not stuck in open()
    assert (spool / "refused" / "fifo.jsonl").exists()


def test_setup_database_with_a_fifo_and_a_directory_in_the_spool(tmp_path: Path) -> None:
    home = tmp_path / "home"
    planted = _plant(home / "spool", tmp_path / "outside.jsonl")
    env = {k: v for k, v in os.environ.items() if k != "SPAMOPS_HOME"}
    done = subprocess.run([str(SPAMOPS), "--home", str(home), "setup-database"], env=env,
                          text=True, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Is a directory" not in done.stderr
    for name in planted:
        assert not os.path.lexists(home / "spool" / name)
        assert os.path.lexists(home / "spool" / "refused" / name)

    # A FIFO planted afterwards neither hangs nor fails `spamops backup` (it copies spool/ first).
    os.mkfifo(home / "spool" / "late.jsonl")
    backup = subprocess.run([str(SPAMOPS), "--home", str(home), "backup", str(tmp_path / "bk")],
                            env=env, text=True, capture_output=True, timeout=120, check=False)
    assert backup.returncode == 0, backup.stderr
    assert not os.path.lexists(tmp_path / "bk" / "spool" / "late.jsonl")
