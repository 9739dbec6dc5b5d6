"""The keyed audit chain and its anchors against someone who can write the database file
(issue 14, item 10).

The attacks are done the way an attacker would: straight on the database (the DuckDB file,
or the PostgreSQL history: ``home_with_history`` runs on both), recomputing hashes with what
they can get (the published algorithm; then the key itself).
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from engine import audit
from engine.config import load_settings
from engine.datakey import KEY_FILE, load_key
from engine.records import AuditRecord
from engine.services import Services
from engine.store.audit_log import chain_key
from tests.cli_helpers import run_cli
from tests.postgres import migrate_to_postgres


class _Postgres:
    """The PostgreSQL history with the DuckDB connection's ``execute`` and ``with``."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.con = psycopg.connect(url)

    def __enter__(self) -> _Postgres:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.con.commit()
        self.con.close()

    def execute(self, sql: str, params: Sequence[object] = ()) -> object:
        from engine.store.postgres import translate

        return self.con.execute(translate(sql) if params else sql,  # type: ignore[arg-type]
                                list(params) or None)


def db(home: Path) -> duckdb.DuckDBPyConnection:
    url = os.environ.get("SPAMOPS_STORE__URL")
    if url:
        return _Postgres(url)  # type: ignore[return-value]
    return duckdb.connect(str(home / "spamops.duckdb"))


def stored_records(home: Path) -> list[AuditRecord]:
    with db(home) as con:
        cursor = con.execute("SELECT * FROM audit_log ORDER BY seq")
        columns = [d[0] for d in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        row["details"] = json.loads(row["details"])
    return [AuditRecord(**row) for row in rows]


def rewrite_chain(home: Path, records: list[AuditRecord], key: audit.ChainKey | None) -> None:
    """Replace the whole audit_log by ``records``, re-chained and re-hashed from record 1."""
    previous: AuditRecord | None = None
    rebuilt = []
    for record in records:
        record = dataclasses.replace(record, prev_hash=previous.hash if previous else
                                     audit.GENESIS)
        digest = audit.record_hash(
            seq=record.seq, ts=record.ts, actor=record.actor, action=record.action,
            subject=record.subject, details=record.details, reasoning=record.reasoning,
            prev_hash=record.prev_hash,
            key=key.secret if key is not None and record.seq >= key.keyed_from else None)
        record = dataclasses.replace(record, hash=digest)
        rebuilt.append(record)
        previous = record
    with db(home) as con:
        con.execute("DELETE FROM audit_log")
        for r in rebuilt:
            con.execute("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [r.seq, r.ts, r.actor, r.action, r.subject,
                         audit.canonical_json(r.details), r.reasoning, r.prev_hash, r.hash])


@pytest.fixture
def home_with_history(trained_home: Path, store_url: str | None,
                      monkeypatch: pytest.MonkeyPatch) -> Path:
    if store_url is not None:  # the home moved to PostgreSQL, as `spamops store migrate` does
        migrate_to_postgres(trained_home, store_url)
        monkeypatch.setenv("SPAMOPS_STORE__URL", store_url)
    services = Services(load_settings())
    for i in range(4):
        services.audit("promote", f"v{i}", {"i": i}, f"step {i}")
    services.close()
    return trained_home


def verify(home: Path) -> tuple[bool, str]:
    result = Services(load_settings(), read_only=True).verify_audit()
    return result.ok, result.message


def test_the_untouched_chain_verifies_with_its_anchors(home_with_history: Path) -> None:
    ok, message = verify(home_with_history)
    assert ok, message
    assert "anchors matched" in message


def test_editing_record_1_and_recomputing_every_hash_is_detected(
        home_with_history: Path) -> None:
    """What an attacker with write access could do on main: edit, then re-hash with sha256."""
    records = stored_records(home_with_history)
    records[0] = dataclasses.replace(records[0], reasoning="nothing to see here")
    rewrite_chain(home_with_history, records, key=None)

    ok, message = verify(home_with_history)

    assert not ok
    assert "record 1 " in message and "altered" in message


def test_a_chain_rebuilt_with_the_key_is_caught_by_the_monitor_log_anchors(
        home_with_history: Path) -> None:
    key = load_key(home_with_history / KEY_FILE)
    assert key is not None
    records = stored_records(home_with_history)
    records[2] = dataclasses.replace(records[2], actor="someone else")
    rewrite_chain(home_with_history, records, key=chain_key(key))

    ok, message = verify(home_with_history)

    assert not ok
    assert "record 3 was rewritten" in message and "monitor log" in message


def test_records_cut_off_the_end_are_caught_by_the_anchors(home_with_history: Path) -> None:
    head = stored_records(home_with_history)[-1].seq
    with db(home_with_history) as con:
        con.execute("DELETE FROM audit_log WHERE seq >= ?", [head - 1])

    ok, message = verify(home_with_history)

    assert not ok
    assert f"records {head - 1}-{head} removed from the end" in message


def test_the_metrics_counter_catches_a_cut_end_too(home_with_history: Path) -> None:
    services = Services(load_settings(), read_only=True)
    head = services.audit_head_anchored()
    assert head == stored_records(home_with_history)[-1].seq
    assert services.verify_audit(metrics_count=head).ok
    result = services.verify_audit(metrics_count=head + 3)
    assert not result.ok and "/metrics counter anchored record" in result.message


def test_the_key_is_created_0600_at_setup_beside_not_inside_the_database(
        data_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "setup-database").code == 0
    key_file = data_home / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    secret = json.loads(key_file.read_text())["key"]
    assert secret.encode() not in (data_home / "spamops.duckdb").read_bytes()
    assert run_cli(capsys, "setup-database").code == 0  # again: the same key
    assert json.loads(key_file.read_text())["key"] == secret


def test_an_existing_unkeyed_chain_still_verifies_and_the_switch_point_is_marked(
        data_home: Path) -> None:
    """A home from before keys: three plain sha256 records and no key file."""
    services = Services(load_settings())
    services.setup_database()
    services.close()
    (data_home / KEY_FILE).unlink()
    (data_home / "logs" / "monitor.log").unlink()  # no anchors before keys either
    previous = None
    old = []
    for i in range(3):
        previous = audit.next_record(previous, ts=datetime(2026, 1, 1, 0, i), actor="op",
                                     action="promote", subject=f"v{i}", details={"i": i},
                                     reasoning="before keys")
        old.append(previous)
    rewrite_chain(data_home, old, key=None)

    upgraded = Services(load_settings())
    upgraded.setup_database()  # the upgrade: creates the key, marks the switch
    upgraded.audit("promote", "v9", {}, "after keys")
    records = upgraded.audit_records()

    assert [r.action for r in records][3] == "audit.keyed"
    assert records[3].details == {"scheme": "hmac-sha256", "keyed_from": 4}
    assert load_key(data_home / KEY_FILE).keyed_from == 4  # type: ignore[union-attr]
    assert upgraded.verify_audit().ok, upgraded.verify_audit().message
    # Records before the switch stay plain sha256; a rewrite of them is still detected.
    tampered = [dataclasses.replace(r, reasoning="edited") if r.seq == 2 else r
                for r in stored_records(data_home)]
    rewrite_chain(data_home, tampered, key=None)
    assert not upgraded.verify_audit().ok


def test_without_the_key_file_verification_says_so(home_with_history: Path) -> None:
    (home_with_history / KEY_FILE).rename(home_with_history / "elsewhere.key")
    ok, message = verify(home_with_history)
    assert not ok
    assert "key file" in message and "missing" in message


def test_anchor_lines_stay_out_of_the_log_people_read(home_with_history: Path) -> None:
    services = Services(load_settings(), read_only=True)
    assert services.monitor_log.anchors()
    assert not [line for line in services.monitor_log.tail() if "Audit anchor" in line]
