"""The store on both backends (a real DuckDB file, a real PostgreSQL database: the
``store_url`` fixture): schema, spool, records, views, audit, analyst SQL, export; and what
only DuckDB has (file locks, its analyst gate's own messages)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from engine.clock import SimulatedClock
from engine.errors import InvalidInput, NotFound, QueryError, StoreBusy, StoreError
from engine.records import (
    Approval,
    Decision,
    DriftSnapshot,
    FeedbackRecord,
    JobRun,
    PatternCount,
    PredictionRecord,
    RetrainingEvent,
)
from engine.store import SCHEMA_VERSION, Store, read_segment
from tests.conftest import duckdb_only

T0 = datetime(2026, 11, 2, 8, 0, 0)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(T0)


@pytest.fixture
def paths(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "spamops.duckdb", tmp_path / "spool"


@pytest.fixture
def sut(
        store_url: str | None, paths: tuple[Path, Path], clock: SimulatedClock) -> Iterator[Store]:
    store = Store(*paths, clock=clock, url=store_url, flush_seconds=60)
    store.migrate()
    yield store
    store.close()


def prediction(i: int, *, ts: datetime | None = None, label: str = "ham") -> PredictionRecord:
    return PredictionRecord(id=f"p{i:06d}", ts=ts or T0 + timedelta(minutes=i),
                            text=f"message {i} ✓", model_version=1, label=label,
                            spam_probability=0.9 if label == "spam" else 0.1, latency_ms=0.5,
                            source="test")


def decision(i: int, **changes: object) -> Decision:
    fields: dict[str, object] = dict(
        id=f"d{i}", ts=T0 + timedelta(hours=i), trigger="schedule", decision="NO_ACTION",
        reasons=("drift below threshold",), window_size=500, accuracy=0.97,
        accuracy_is_estimate=False, accuracy_low=0.95, accuracy_high=0.98, n_labels=80,
        drift_score=0.05, thresholds={"drift": 0.15}, champion_version=1, snapshot_id=None)
    fields.update(changes)
    return Decision(**fields)  # type: ignore[arg-type]


def snapshot(i: int) -> DriftSnapshot:
    return DriftSnapshot(
        id=f"s{i}", ts=T0 + timedelta(hours=i), model_version=1, n=300, window_start=T0,
        window_end=T0 + timedelta(hours=i), vocabulary_drift=0.1, tfidf_drift=0.2,
        prediction_drift=None, prediction_p_value=None, drift_score=0.1 * i, p_value=0.5,
        threshold=0.15, drift_detected=i > 1,
        new_patterns=(PatternCount("crypto", 12, 0.04, 0.0),), recommendation="watch",
        spam_rate=0.2)


# Schema ------------------------------------------------------------------------------------
def test_migrate_creates_every_table_and_is_idempotent(
        store_url: str | None, paths: tuple[Path, Path], clock: SimulatedClock) -> None:
    store = Store(*paths, clock=clock, url=store_url)
    assert store.migrate() == SCHEMA_VERSION
    assert store.migrate() == SCHEMA_VERSION
    assert store.schema_version() == SCHEMA_VERSION
    tables = {row[0] for row in store.sql("SELECT table_name FROM information_schema.tables"
                                          ).rows}
    assert {"schema_version", "predictions", "feedback", "drift_snapshots", "decisions",
            "retraining_events", "approvals", "model_versions", "job_runs", "audit_log",
            "spool_segments", "v_daily_traffic", "v_daily_accuracy", "v_drift_history",
            "v_retraining_history"} <= tables
    store.close()


@duckdb_only
def test_read_only_store_needs_an_existing_database(
        store_url: str | None, paths: tuple[Path, Path], clock: SimulatedClock) -> None:
    with pytest.raises(StoreError, match="spamops setup-database"):
        Store(*paths, clock=clock, url=store_url, read_only=True)
    assert not paths[0].exists()


def test_read_only_store_refuses_writes_and_migration(
        store_url: str | None, sut: Store, paths: tuple[Path, Path], clock: SimulatedClock) -> None:
    reader = Store(*paths, clock=clock, url=store_url, read_only=True)
    with pytest.raises(StoreError, match="read-only"):
        reader.log_prediction(prediction(1))
    with pytest.raises(StoreError, match="read-only"):
        reader.save_decision(decision(1))
    with pytest.raises(StoreError):
        reader.migrate()
    assert reader.count_predictions() == 0
    reader.close()


# Spool -------------------------------------------------------------------------------------
def test_logged_predictions_reach_the_store_on_flush(sut: Store) -> None:
    sut.log_prediction(prediction(0))
    sut.log_predictions([prediction(i) for i in range(1, 5)])
    assert sut.flush() == 5
    assert sut.flush() == 0
    frame = sut.predictions_between(None, None)
    assert list(frame.columns) == ["id", "ts", "text", "model_version", "label",
                                   "spam_probability", "source"]
    assert list(frame["id"]) == [f"p{i:06d}" for i in range(5)]
    assert frame["text"][0] == "message 0 ✓"
    assert list(sut.spool_dir.glob("*.jsonl")) == []


def test_the_flush_thread_ingests_without_being_asked(
        store_url: str | None, paths: tuple[Path, Path], clock: SimulatedClock) -> None:
    store = Store(*paths, clock=clock, url=store_url, flush_seconds=0.05)
    store.migrate()
    store.log_prediction(prediction(1))
    reader = Store(*paths, clock=clock, url=store_url, read_only=True)
    deadline = datetime.now() + timedelta(seconds=5)
    while reader.count_predictions() == 0 and datetime.now() < deadline:
        pass
    assert reader.count_predictions() == 1
    store.close()


def test_close_ingests_what_is_left(
        store_url: str | None, paths: tuple[Path, Path], clock: SimulatedClock) -> None:
    store = Store(*paths, clock=clock, url=store_url, flush_seconds=60)
    store.migrate()
    store.log_predictions([prediction(i) for i in range(3)])
    store.close()
    assert Store(*paths, clock=clock, url=store_url, read_only=True).count_predictions() == 3
    with pytest.raises(StoreError, match="closed"):
        store.log_prediction(prediction(9))


def test_a_segment_already_ingested_is_never_ingested_twice(
        store_url: str | None, sut: Store, paths: tuple[Path, Path], clock: SimulatedClock) -> None:
    sut.log_predictions([prediction(i) for i in range(3)])
    segment = next(sut.spool_dir.glob("*.jsonl"))
    content = segment.read_bytes()
    sut.flush()
    segment.write_bytes(content)  # as if the process died between commit and delete
    other = Store(*paths, clock=clock, url=store_url)
    assert other.recover_spool() == 0
    assert not segment.exists()
    assert sut.count_predictions() == 3
    other.close()


def test_orphan_segments_are_recovered_at_start_and_a_truncated_line_skipped(
        store_url: str | None, sut: Store, paths: tuple[Path, Path], clock: SimulatedClock, caplog:
        pytest.LogCaptureFixture) -> None:
    dead = Store(*paths, clock=clock, url=store_url, flush_seconds=60)
    dead.log_predictions([prediction(i) for i in range(3)])
    dead._stop.set()
    segment = dead._spool._current
    assert segment is not None
    os.close(segment.fd)  # as if killed: the kernel drops the flock, nothing is sealed
    with segment.path.open("ab") as cut:
        cut.write(b'{"id": "cut-sho')  # a write the kill cut short
    restarted = Store(*paths, clock=clock, url=store_url)
    assert sut.count_predictions() == 3
    assert not segment.path.exists()
    assert "truncated" in caplog.text
    restarted.close()


def test_segments_of_a_live_process_are_not_taken(
        store_url: str | None, sut: Store, paths: tuple[Path, Path], clock: SimulatedClock) -> None:
    sut.log_prediction(prediction(1))
    other = Store(*paths, clock=clock, url=store_url)
    assert other.recover_spool() == 0
    assert sut.flush() == 1
    assert sut.count_predictions() == 1
    other.close()


def test_read_segment_skips_a_corrupt_line(tmp_path: Path) -> None:
    good = json.dumps({"id": "a", "ts": T0.isoformat(), "text": "x", "model_version": 1,
                       "label": "ham", "spam_probability": 0.1, "latency_ms": 0.1,
                       "source": "t"})
    path = tmp_path / "s.jsonl"
    path.write_text(f"{good}\n{{garbage\n{good}\n", encoding="utf-8")
    assert read_segment(path).num_rows == 2


# Predictions and feedback ------------------------------------------------------------------
def test_predictions_between_windows_and_limits_to_the_newest(sut: Store) -> None:
    sut.log_predictions([prediction(i) for i in range(10)])
    window = sut.predictions_between(T0 + timedelta(minutes=2), T0 + timedelta(minutes=5))
    assert list(window["id"]) == ["p000002", "p000003", "p000004"]
    newest = sut.predictions_between(None, None, limit=3)
    assert list(newest["id"]) == ["p000007", "p000008", "p000009"]


def test_feedback_latest_label_wins_in_labelled_between(sut: Store,
                                                        clock: SimulatedClock) -> None:
    sut.log_predictions([prediction(1, label="spam"), prediction(2)])
    sut.add_feedback("p000001", "ham", "api")
    clock.advance(timedelta(minutes=1))
    sut.add_feedback("p000001", "spam", "api")
    frame = sut.labelled_between(None, None)
    assert list(frame.columns) == ["id", "ts", "text", "label", "spam_probability",
                                   "model_version", "true_label"]
    assert frame.to_dict("records")[0]["true_label"] == "spam"
    assert len(frame) == 1


def test_feedback_with_equal_timestamps_keeps_the_last_written(sut: Store) -> None:
    sut.log_prediction(prediction(1))
    sut.add_feedback("p000001", "ham", "api")
    sut.add_feedback("p000001", "spam", "api")
    assert sut.labelled_between(None, None)["true_label"].tolist() == ["spam"]


def test_an_older_label_arriving_later_does_not_override_a_newer_one(sut: Store) -> None:
    sut.log_predictions([prediction(1), prediction(2)])
    sut.add_feedback("p000001", "spam", "api", ts=T0 + timedelta(hours=2))
    sut.add_feedback("p000001", "ham", "api", ts=T0 + timedelta(hours=1))
    sut.add_feedback_many([FeedbackRecord("p000002", T0 + timedelta(hours=2), "spam", "sim"),
                           FeedbackRecord("p000002", T0 + timedelta(hours=1), "ham", "sim")])
    assert sut.labelled_between(None, None)["true_label"].tolist() == ["spam", "spam"]
    assert sut.sql("SELECT true_label FROM v_latest_feedback ORDER BY prediction_id").rows == [
        ("spam",), ("spam",)]


def test_labels_received_between_windows_on_when_the_label_arrived(sut: Store) -> None:
    sut.log_predictions([prediction(1), prediction(2), prediction(3)])
    sut.add_feedback("p000003", "spam", "api", ts=T0 + timedelta(days=1))
    sut.add_feedback("p000001", "ham", "api", ts=T0 + timedelta(days=2))
    frame = sut.labels_received_between(T0 + timedelta(hours=12), None)
    assert frame["id"].tolist() == ["p000003", "p000001"]
    assert frame.columns[-2:].tolist() == ["true_label", "labelled_at"]
    assert sut.labels_received_between(None, T0 + timedelta(days=1)).empty


def test_feedback_for_an_unknown_prediction_or_label_is_refused(sut: Store) -> None:
    sut.log_prediction(prediction(1))
    with pytest.raises(NotFound, match="nope"):
        sut.add_feedback("nope", "spam", "api")
    with pytest.raises(InvalidInput, match="ham or spam"):
        sut.add_feedback("p000001", "eggs", "api")
    with pytest.raises(NotFound, match="nope"):
        sut.add_feedback_many([FeedbackRecord("p000001", T0, "ham", "sim"),
                               FeedbackRecord("nope", T0, "ham", "sim")])
    assert sut.labelled_between(None, None).empty


def test_add_feedback_many_inserts_in_bulk(sut: Store) -> None:
    sut.log_predictions([prediction(i) for i in range(50)])
    added = sut.add_feedback_many([FeedbackRecord(f"p{i:06d}", T0, "ham", "sim")
                                   for i in range(50)])
    assert added == 50
    assert len(sut.labelled_between(None, None)) == 50


# Records -----------------------------------------------------------------------------------
def test_snapshots_round_trip_newest_first(sut: Store) -> None:
    for i in range(3):
        sut.save_snapshot(snapshot(i))
    assert sut.latest_snapshot() == snapshot(2)
    assert [s.id for s in sut.snapshots()] == ["s2", "s1", "s0"]
    assert [s.id for s in sut.snapshots(since=T0 + timedelta(hours=1))] == ["s2", "s1"]
    assert sut.snapshots(limit=1, until=T0 + timedelta(hours=1)) == [snapshot(0)]


def test_decisions_round_trip_and_update(sut: Store) -> None:
    assert sut.last_decision() is None
    sut.save_decision(decision(1))
    sut.save_decision(decision(2, decision="RETRAIN", reasons=("drift", "accuracy")))
    assert sut.last_decision() == decision(2, decision="RETRAIN", reasons=("drift", "accuracy"))
    updated = sut.update_decision("d1", outcome="deployed v2", retraining_id="r1")
    assert (updated.outcome, updated.retraining_id) == ("deployed v2", "r1")
    assert sut.decisions(since=T0 + timedelta(hours=2)) == [sut.last_decision()]
    with pytest.raises(NotFound):
        sut.update_decision("nope", outcome="x")
    with pytest.raises(InvalidInput):
        sut.update_decision("d1", colour="red")


def test_retraining_events_replace_by_id(sut: Store) -> None:
    running = RetrainingEvent(id="r1", started_at=T0, trigger="drift", status="running",
                              champion_version=1, pid=os.getpid())
    sut.save_retraining(running)
    assert sut.running_retrainings() == [running]
    done = RetrainingEvent(id="r1", started_at=T0, trigger="drift", status="completed",
                           champion_version=1, finished_at=T0 + timedelta(minutes=1),
                           challenger_version=2, deployment="DEPLOY", improvement=0.02,
                           comparison={"p_value": 0.01}, lineage={"labels": 300})
    sut.save_retraining(done)
    assert sut.retraining("r1") == done
    assert sut.running_retrainings() == []
    assert sut.retraining_events() == [done]
    with pytest.raises(NotFound):
        sut.retraining("nope")
    history = sut.sql("SELECT outcome, duration_seconds FROM v_retraining_history").rows
    assert history == [("deployed v2", 60)]


def test_approvals_filter_by_status(sut: Store) -> None:
    pending = Approval(id="a1", created_at=T0, retraining_id="r1", challenger_version=2,
                       champion_version=1, status="pending", comparison={"gain": 0.02})
    sut.save_approval(pending)
    assert sut.approval("a1") == pending
    assert sut.approvals("pending") == [pending]
    assert sut.approvals("approved") == []
    with pytest.raises(NotFound):
        sut.approval("nope")


def test_job_runs_and_model_versions(sut: Store) -> None:
    sut.record_job_run(JobRun("j1", "monitor", T0, T0, None, "running"))
    sut.record_job_run(JobRun("j1", "monitor", T0, T0, T0, "ok", holder="h:1"))
    sut.record_job_run(JobRun("j2", "retrain", None, T0 + timedelta(hours=1), None, "failed"))
    assert [r.id for r in sut.job_runs()] == ["j2", "j1"]
    assert sut.job_runs(job="monitor")[0].outcome == "ok"
    sut.record_model_version(1, "run1", T0, {"accuracy": 0.98}, {"trigger": "manual"})
    sut.record_model_version(1, "run1", T0, {"accuracy": 0.99}, {"trigger": "manual"})
    assert sut.model_versions_seen() == [{"version": 1, "run_id": "run1", "registered_at": T0,
                                          "metrics": {"accuracy": 0.99},
                                          "lineage": {"trigger": "manual"}}]


# Views -------------------------------------------------------------------------------------
def test_daily_traffic_and_accuracy_views(sut: Store) -> None:
    day2 = T0 + timedelta(days=1)
    sut.log_predictions([prediction(1, label="spam"), prediction(2), prediction(3),
                         prediction(4, ts=day2, label="spam")])
    sut.add_feedback("p000001", "spam", "t")
    sut.add_feedback("p000002", "spam", "t")
    sut.add_feedback("p000004", "spam", "t")
    traffic = sut.sql("SELECT * FROM v_daily_traffic").rows
    assert traffic == [(T0.date(), 3, 1, pytest.approx(1 / 3)), (day2.date(), 1, 1, 1.0)]
    accuracy = sut.sql("SELECT * FROM v_daily_accuracy").rows
    assert accuracy == [(T0.date(), 2, 1, 0.5), (day2.date(), 1, 1, 1.0)]


def test_drift_history_view(sut: Store) -> None:
    sut.save_snapshot(snapshot(2))
    result = sut.sql("SELECT day, drift_score, drift_detected FROM v_drift_history")
    assert result.rows == [((T0 + timedelta(hours=2)).date(), pytest.approx(0.2), True)]


# Audit -------------------------------------------------------------------------------------
def test_audit_records_chain_and_verify(sut: Store) -> None:
    first = sut.append_audit("alice", "promote", "v2", {"from": 1, "to": 2}, "better")
    second = sut.append_audit("scheduler", "decision", "d1", {"drift": 0.3}, "drift high")
    assert second.prev_hash == first.hash
    assert sut.audit_records() == [first, second]
    assert sut.audit_records(limit=1) == [second]
    assert sut.verify_audit().ok


def tamper(
        store_url: str | None, paths: tuple[Path, Path], statement: str) -> None:
    """Change the history behind the store's back, as someone with database access could."""
    if store_url is None:
        with duckdb.connect(str(paths[0])) as con:
            con.execute(statement)
    else:
        import psycopg

        with psycopg.connect(store_url) as con:
            con.execute(statement)  # type: ignore[arg-type]


def test_verify_audit_names_a_row_altered_or_deleted_with_plain_sql(
        sut: Store, paths: tuple[Path, Path], store_url: str | None) -> None:
    for i in range(4):
        sut.append_audit("op", "config", f"k{i}", {"i": i}, "why")
    tamper(store_url, paths, "UPDATE audit_log SET reasoning = 'nothing to see' WHERE seq = 3")
    result = sut.verify_audit()
    assert (result.ok, result.first_bad_seq) == (False, 3)
    tamper(store_url, paths, "DELETE FROM audit_log WHERE seq = 2")
    result = sut.verify_audit()
    assert (result.ok, result.first_bad_seq) == (False, 2)


# Analyst SQL -------------------------------------------------------------------------------
@pytest.mark.parametrize("query", [
    "DELETE FROM predictions", "INSERT INTO feedback VALUES (1, 'x', now(), 'ham', 's')",
    "DROP TABLE audit_log", "SELECT 1; UPDATE audit_log SET actor = 'x'",
    "COPY predictions TO 'x.csv'", "ATTACH 'other.db'", "CREATE TABLE x (a INT)",
    "SET threads = 1", "CALL checkpoint()",
])
def test_sql_refuses_anything_that_is_not_a_read(sut: Store, query: str,
                                                 store_url: str | None) -> None:
    sut.append_audit("op", "x", "y", {}, "")
    # DuckDB's own parser names the statement; PostgreSQL refuses it in its READ ONLY
    # transaction (or as a syntax error inside SELECT * FROM (...)): either way nothing ran.
    match = "only read-only queries are allowed" if store_url is None else None
    with pytest.raises(QueryError, match=match):
        sut.sql(query)
    assert sut.sql("SELECT count(*), min(actor) FROM audit_log").rows == [(1, "op")]
    assert "x" not in {row[0] for row in sut.sql(
        "SELECT table_name FROM information_schema.tables").rows}


@pytest.mark.parametrize("query, fragment", [
    ("SELEC 1", "syntax error"), ("SELECT * FROM nosuch", "nosuch"), ("", "empty"),
])
def test_sql_reports_a_bad_query_on_one_line(sut: Store, query: str, fragment: str) -> None:
    with pytest.raises(QueryError, match=fragment) as caught:
        sut.sql(query)
    assert "\n" not in str(caught.value)


def test_sql_reads_with_limit(sut: Store) -> None:
    sut.log_predictions([prediction(i) for i in range(5)])
    sut.flush()
    result = sut.sql("WITH x AS (SELECT id FROM predictions ORDER BY id) SELECT * FROM x",
                     limit=2)
    assert result.columns == ["id"] and result.rows == [("p000000",), ("p000001",)]


@duckdb_only
def test_sql_on_a_missing_database_says_what_to_do(
        store_url: str | None, paths: tuple[Path, Path], clock: SimulatedClock) -> None:
    store = Store(*paths, clock=clock, url=store_url)
    with pytest.raises(StoreError, match="setup-database"):
        store.sql("SELECT 1")


def test_query_frame_reads_a_dataframe(sut: Store) -> None:
    frame = sut.query_frame("SELECT ? AS a", [3])
    assert frame["a"].tolist() == [3]


# Export ------------------------------------------------------------------------------------
def test_export_writes_parquet_partitioned_by_day(sut: Store, tmp_path: Path) -> None:
    sut.log_predictions([prediction(1), prediction(2, ts=T0 + timedelta(days=1))])
    sut.save_decision(decision(1))
    sut.append_audit("op", "export", "x", {}, "")
    written = sut.export_parquet(tmp_path / "out")
    assert {p.name for p in written} == {"predictions", "decisions", "audit_log",
                                         "spool_segments", "schema_version"}  # non-empty
    days = sorted(p.name for p in (tmp_path / "out" / "predictions").iterdir())
    assert days == ["day=2026-11-02", "day=2026-11-03"]
    with duckdb.connect() as con:
        count = con.execute(f"SELECT count(*) FROM read_parquet('{tmp_path}/out/predictions/*/"
                            "*.parquet', hive_partitioning = true)").fetchone()
    assert count == (2,)
    assert len(sut.export_parquet(tmp_path / "out")) == 5  # a second export replaces


def test_export_of_more_rows_than_one_batch_keeps_every_row_in_its_day(
        sut: Store, tmp_path: Path) -> None:
    """PostgreSQL streams a table in batches (here of 4 rows: three batches); every row
    lands once, in the partition of its UTC day, as on DuckDB."""
    sut.log_predictions([prediction(i, ts=T0 + timedelta(days=i % 3, minutes=i))
                         for i in range(10)])
    sut.flush()
    sut.export_parquet(tmp_path / "out", batch_rows=4)
    days = sorted(p.name for p in (tmp_path / "out" / "predictions").iterdir())
    assert days == ["day=2026-11-02", "day=2026-11-03", "day=2026-11-04"]
    with duckdb.connect() as con:
        rows = con.execute(
            f"SELECT CAST(day AS VARCHAR), count(*), count(DISTINCT id), "
            f"count(*) FILTER (CAST(ts AS DATE) <> day) FROM read_parquet("
            f"'{tmp_path}/out/predictions/*/*.parquet', hive_partitioning = true) "
            "GROUP BY day ORDER BY day").fetchall()
    assert rows == [("2026-11-02", 4, 4, 0), ("2026-11-03", 3, 3, 0),
                    ("2026-11-04", 3, 3, 0)]


# Concurrency -------------------------------------------------------------------------------
def _hold_database(path: Path, seconds: float) -> subprocess.Popen[str]:
    script = textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(path)!r})
        print("held", flush=True)
        time.sleep({seconds})
        con.close()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


@duckdb_only
def test_a_locked_database_is_waited_for(sut: Store, paths: tuple[Path, Path]) -> None:
    holder = _hold_database(paths[0], 0.7)
    sut.save_decision(decision(1))  # waits for the other process instead of failing
    assert sut.last_decision() == decision(1)
    holder.wait()


@duckdb_only
def test_a_database_locked_too_long_raises_store_busy(
        store_url: str | None, paths: tuple[Path, Path], clock: SimulatedClock) -> None:
    Store(*paths, clock=clock, url=store_url).migrate()
    impatient = Store(*paths, clock=clock, url=store_url, busy_timeout=0.3)
    holder = _hold_database(paths[0], 3)
    try:
        with pytest.raises(StoreBusy, match="locked by another process"):
            impatient.count_predictions()
    finally:
        holder.kill()
        holder.wait()


# Analyst SQL on PostgreSQL -----------------------------------------------------------------
postgresql_only = pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)


@postgresql_only
@pytest.mark.parametrize("query", [
    "SELECT 1; COMMIT; BEGIN READ WRITE; DELETE FROM audit_log",
    "WITH gone AS (DELETE FROM audit_log RETURNING *) SELECT * FROM gone",
    "SELECT 1) AS q; DELETE FROM audit_log; SELECT (1",
    "SELECT set_config('transaction_read_only', 'off', false)",
    "SELECT nextval('feedback_seq')",
])
def test_postgresql_sql_cannot_write_or_leave_its_read_only_transaction(
        sut: Store, query: str) -> None:
    sut.append_audit("op", "x", "y", {}, "")
    with pytest.raises(QueryError) as caught:
        sut.sql(query)
    assert "\n" not in str(caught.value)
    assert sut.sql("SELECT count(*) FROM audit_log").rows == [(1,)]
    assert sut.sql("SELECT current_setting('transaction_read_only')").rows == [("on",)]


@postgresql_only
def test_postgresql_sql_stops_a_query_at_the_statement_timeout(sut: Store) -> None:
    sut.statement_timeout = 0.3
    began = datetime.now()
    with pytest.raises(QueryError,
                       match=r"query stopped after 0.3 s \(store.statement_timeout_seconds\)"):
        sut.sql("SELECT count(*) FROM generate_series(1, 2000000000)")
    assert datetime.now() - began < timedelta(seconds=3)


@postgresql_only
@pytest.mark.parametrize("query", [
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
    "SELECT * FROM pg_stat_activity WHERE pg_cancel_backend(pid)",
    "SELECT x FROM (SELECT pg_advisory_lock(42) AS x) AS inner_query",
    "SELECT pg_notify('spamops', 'hello')",
    "SELECT PG_TERMINATE_BACKEND(1)",
])
def test_postgresql_sql_refuses_functions_that_act_beyond_reading(
        sut: Store, query: str, postgres_url: str) -> None:
    """A READ ONLY transaction still runs pg_terminate_backend (it ended the scheduler
    holder's lock session and every API connection of the role); volatile calls are refused
    before the query runs, wherever in the query they are."""
    import psycopg

    with psycopg.connect(postgres_url, application_name="bystander") as bystander:
        with pytest.raises(QueryError, match="VOLATILE") as caught:
            sut.sql(query)
        assert "\n" not in str(caught.value)
        assert bystander.execute("SELECT 1").fetchone() == (1,)  # still connected
        assert bystander.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone() == (0,)
    assert sut.sql("SELECT count(*), now() IS NOT NULL FROM audit_log").rows == [(0, True)]


@postgresql_only
@pytest.mark.parametrize(("query", "kind"), [
    ("COPY predictions TO '/tmp/x.csv'", "COPY"), ("DESCRIBE predictions", "DESCRIBE"),
    ("SET default_transaction_read_only = off", "SET"), ("EXPLAIN SELECT 1", "EXPLAIN"),
    ("-- a comment\n  delete from predictions", "DELETE"), ("SHOW TABLES", "SHOW"),
])
def test_postgresql_sql_names_a_statement_that_is_not_a_query(
        sut: Store, query: str, kind: str) -> None:
    """PostgreSQL alone answered these with 'syntax error at or near ")"' (from the wrapper
    the user never wrote)."""
    with pytest.raises(QueryError, match=f"; this is a {kind} statement$") as caught:
        sut.sql(query)
    assert "syntax error" not in str(caught.value)
    for fine in ("select 1", "/* c */ (SELECT 1)", "VALUES (1)", "TABLE schema_version",
                 "WITH x AS (SELECT 1) SELECT * FROM x"):
        assert sut.sql(fine).rows
