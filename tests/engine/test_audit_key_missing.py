"""A deleted data home key is reported, never silently replaced (issue 14, item 10).

It used to be: ``mv spamops.key elsewhere`` then ``spamops feedback ID ham`` succeeded, made a
new key and wrote an ``audit.keyed`` record, and the old key's records could no longer be
verified. Now audited writes fail with one line naming the key path, write nothing, and
``audit verify`` says "key missing"; once the key is back everything works and verifies.
Real ``spamops`` processes on a real (trained) data home.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

SPAMOPS = Path(sys.executable).parent / "spamops"


def spamops(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SPAMOPS_HOME"}
    return subprocess.run([str(SPAMOPS), "--home", str(home), *args], env=env, text=True,
                          capture_output=True, timeout=300, check=False)


def counts(home: Path) -> tuple[int, int, int]:
    """Audit records, feedback rows and predictions in the history."""
    with duckdb.connect(str(home / "spamops.duckdb"), read_only=True) as con:
        return tuple(int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
                     for table in ("audit_log", "feedback", "predictions"))  # type: ignore[return-value]


def predict(home: Path, text: str) -> str:
    done = spamops(home, "predict", text, "--json")
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["prediction_id"])


def test_a_missing_key_stops_audited_writes_and_verify_says_so_until_it_is_restored(
        trained_home: Path, tmp_path: Path) -> None:
    home = trained_home
    key = home / "spamops.key"
    first = predict(home, "WINNER!! claim your prize now")
    assert spamops(home, "audit", "verify").returncode == 0
    kept = tmp_path / "elsewhere.key"
    shutil.move(key, kept)
    before = counts(home)

    refused = spamops(home, "feedback", first, "ham")
    assert refused.returncode != 0
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert str(key) in lines[0] and "restore" in lines[0] and "backup" in lines[0]
    assert not key.exists()  # no new key was made
    assert counts(home) == before  # nothing written: no label, no audit.keyed record

    verify = spamops(home, "audit", "verify")
    assert verify.returncode == 1
    assert verify.stdout.startswith("key missing:") and str(key) in verify.stdout
    assert "BROKEN" not in verify.stdout and "intact" not in verify.stdout
    report = json.loads(spamops(home, "audit", "verify", "--json").stdout)
    assert report["key_missing"] is True and report["ok"] is False

    served = predict(home, "see you at six")  # prediction serving goes on without the key
    assert counts(home)[2] == before[2] + 1 and served

    setup = spamops(home, "setup-database")  # setup must not make a new key either
    assert setup.returncode != 0 and str(key) in setup.stderr
    assert not key.exists()

    shutil.move(kept, key)  # restored from the backup
    assert spamops(home, "feedback", first, "ham").returncode == 0
    audits, feedback, _ = counts(home)
    assert feedback == before[1] + 1 and audits > before[0]
    intact = spamops(home, "audit", "verify")
    assert intact.returncode == 0, intact.stdout


@pytest.mark.parametrize("legacy", [False, True])
def test_a_key_is_still_made_for_a_chain_without_keyed_records(
        tmp_path: Path, legacy: bool) -> None:
    """A fresh history gets its key at setup; a plain-sha256 chain from before keys is
    upgraded (an ``audit.keyed`` marker), as before."""
    from engine import audit
    from engine.clock import SimulatedClock
    from engine.store import Store

    db, spool = tmp_path / "spamops.duckdb", tmp_path / "spool"
    clock = SimulatedClock(__import__("datetime").datetime(2026, 1, 1))
    store = Store(db, spool, clock=clock, flush_seconds=60)
    store.migrate()
    store.close()
    (tmp_path / "spamops.key").unlink()  # as before keys existed
    if legacy:
        record = audit.next_record(None, ts=clock.now(), actor="op", action="legacy",
                                   subject="x", details={}, reasoning="before keys")
        with duckdb.connect(str(db)) as con:
            con.execute("DELETE FROM audit_log")
            con.execute("INSERT INTO audit_log (seq, ts, actor, action, subject, details, "
                        "reasoning, prev_hash, hash) VALUES (?, ?, ?, ?, ?, '{}', ?, ?, ?)",
                        [record.seq, record.ts, record.actor, record.action, record.subject,
                         record.reasoning, record.prev_hash, record.hash])
    else:
        with duckdb.connect(str(db)) as con:
            con.execute("DELETE FROM audit_log")
    store = Store(db, spool, clock=clock, flush_seconds=60)
    store.append_audit("op", "test.write", "x", {}, "after")
    assert (tmp_path / "spamops.key").exists()
    actions = [r.action for r in store.audit_records()]
    assert actions == (["legacy", "audit.keyed", "test.write"] if legacy else ["test.write"])
    assert store.verify_audit().ok
    store.close()


def test_the_api_serves_without_the_key_and_says_why_in_health(
        trained_home: Path, tmp_path: Path) -> None:
    """A real ``spamops serve``: ``/predict`` answers and its predictions land; ``/health`` is
    degraded naming the missing key (not "another process holds it"); no new key is made."""
    import time

    import httpx

    from tests.server.conftest import KEY
    from tests.server.test_live_server import start_server

    key = trained_home / "spamops.key"
    shutil.move(key, tmp_path / "elsewhere.key")
    before = counts(trained_home)
    server = start_server(trained_home)
    try:
        with httpx.Client(base_url=server.url, headers=KEY, timeout=30) as http:
            assert http.post("/predict", json={"text": "WIN a prize now"}).status_code == 200
            deadline = time.monotonic() + 30
            while True:
                health = http.get("/health").json()
                if any(str(key) in p for p in health["problems"]):
                    break
                assert time.monotonic() < deadline, health
                time.sleep(0.5)
            assert health["status"] == "degraded"
            assert any("missing" in p and "spool" in p for p in health["problems"])
    finally:
        assert server.stop() == 0
    assert not key.exists()
    assert counts(trained_home)[2] == before[2] + 1  # the prediction reached the history
