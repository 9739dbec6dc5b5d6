"""A pruned text must be gone from the history file's bytes, not only from its rows.

DuckDB keeps the old values of updated rows in free blocks of the file (CHECKPOINT marks them
free; VACUUM does not reclaim them), so after `spamops prune` a pruned text can still be read
with `grep -a`. `spamops prune --compact` rewrites the file with its live rows only. These
tests grep the real file's bytes, as someone holding the disk would.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from engine.clock import SimulatedClock, utcnow
from engine.config import load_settings
from engine.errors import Busy
from engine.locks import FileLock
from engine.records import PredictionRecord
from engine.services import SERVING_LOCK, Services
from tests.cli_helpers import run_cli

NOW = utcnow().replace(microsecond=0)
"""Now by the wall clock, which the CLI runs on."""
SECRET = "call Dr Quillfeather on 07700 900461 about your parcel ZQXJ-5521"
"""A text older than the retention period: it must not survive a compacting prune."""
RECENT = "see you at the Blue Heron at eight, bring the maps"
"""A text inside the retention period: it must survive."""


def _log(services: Services) -> None:
    filler = [PredictionRecord(id=f"f{i}", ts=NOW - timedelta(days=40, minutes=i),
                               text=f"ordinary message {i} about lunch", model_version=1,
                               label="ham", spam_probability=0.1, latency_ms=1.0,
                               source="test") for i in range(2000)]
    services.store.log_predictions([
        *filler,
        PredictionRecord(id="old", ts=NOW - timedelta(days=40), text=SECRET, model_version=1,
                         label="spam", spam_probability=0.9, latency_ms=1.0, source="test"),
        PredictionRecord(id="new", ts=NOW - timedelta(days=2), text=RECENT, model_version=1,
                         label="ham", spam_probability=0.1, latency_ms=1.0, source="test")])
    services.store.flush()


def _file_has(home: Path, text: str) -> bool:
    """Whether the history file (and its WAL, if any) holds ``text``'s bytes."""
    needle = text.encode("utf-8")
    return any(needle in path.read_bytes() for path in
               (home / "spamops.duckdb", home / "spamops.duckdb.wal") if path.exists())


@pytest.fixture
def services(trained_home: Path) -> Services:
    return Services(load_settings(retention={"text_days": 30}), clock=SimulatedClock(NOW))


def test_prune_alone_leaves_the_text_in_the_files_free_blocks(services: Services,
                                                              trained_home: Path) -> None:
    """The limit `--compact` exists for (a measured DuckDB 2.0 behaviour)."""
    _log(services)
    services.close()  # checkpointed: the text is in the file itself
    assert _file_has(trained_home, SECRET)
    services.prune()
    services.close()
    assert services.sql("SELECT count(*) FROM predictions WHERE text IS NOT NULL "
                        "AND text LIKE '%Quillfeather%'").rows == [(0,)]
    assert _file_has(trained_home, SECRET)


def test_prune_compact_removes_the_text_from_the_file_and_keeps_the_rest(
        trained_home: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_RETENTION__TEXT_DAYS", "30")
    services = Services(load_settings(), clock=SimulatedClock(NOW))
    _log(services)
    counts = services.store.table_counts()
    old_texts = services.store.texts_older_than(NOW - timedelta(days=30))
    services.close()
    assert _file_has(trained_home, SECRET) and _file_has(trained_home, RECENT)

    run = run_cli(capsys, "prune", "--compact", "--json")

    assert run.code == 0, run.err
    out = json.loads(run.out)
    assert out["texts_pruned"] == old_texts > 2000
    assert out["compaction"]["rows"] == sum(counts.values()) + 1  # + the prune's audit record
    assert not _file_has(trained_home, SECRET)
    assert _file_has(trained_home, RECENT)
    assert not list(trained_home.glob(".spamops.duckdb.compact*"))
    after = Services(load_settings())
    try:
        found = after.store.table_counts()
        assert {t: n for t, n in found.items() if t != "audit_log"} == \
               {t: n for t, n in counts.items() if t != "audit_log"}
        assert found["audit_log"] == counts["audit_log"] + 2  # the prune, the compaction
        assert after.verify_audit().ok
        actions = [r.action for r in after.audit_records(2)]
        assert sorted(actions) == ["history.compacted", "retention.prune"]
        after.audit("test.write", "x", {}, "a write after the swap")  # the file takes writes
        assert after.store.table_counts()["audit_log"] == found["audit_log"] + 1
    finally:
        after.close()


def test_compact_is_refused_while_an_api_serves_and_changes_nothing(
        services: Services, trained_home: Path) -> None:
    _log(services)
    services.prune()
    size = (trained_home / "spamops.duckdb").stat().st_size
    serving = FileLock(trained_home / "locks" / SERVING_LOCK)
    with serving.hold(refuse=lambda _n: AssertionError("lock taken")), \
            pytest.raises(Busy, match="while an API serves from it"):
        services.compact_history()
    services.close()
    assert (trained_home / "spamops.duckdb").stat().st_size == size
    assert _file_has(trained_home, SECRET)


def test_compact_and_dry_run_do_not_mix(trained_home: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, "prune", "--compact", "--dry-run")
    assert run.code != 0 and "cannot be a dry run" in run.err


def test_compact_on_postgresql_is_refused_before_anything_is_pruned(
        data_home: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """--compact is DuckDB's; on PostgreSQL it used to prune first and then fail (exit 1,
    the prune done and audited), or, with an API running, tell the operator to stop it when
    stopping it would not help either. It is a usage error, before any change."""
    monkeypatch.setenv("SPAMOPS_STORE__URL", postgres_url)
    assert run_cli(capsys, "setup-database").code == 0
    services = Services(load_settings(retention={"text_days": 30}), clock=SimulatedClock(NOW))
    _log(services)
    serving = FileLock(data_home / "locks" / SERVING_LOCK)
    with serving.hold(refuse=lambda _n: AssertionError("lock taken")):
        run = run_cli(capsys, "prune", "--compact")
    assert run.code == 2, run
    assert "VACUUM FULL" in run.err and "serves" not in run.err
    assert services.store.sql("SELECT count(*) FROM predictions WHERE text IS NULL").rows \
        == [(0,)]
    assert services.store.sql(
        "SELECT count(*) FROM audit_log WHERE action = 'retention.prune'").rows == [(0,)]
    services.close()
