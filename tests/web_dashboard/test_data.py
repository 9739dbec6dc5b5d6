"""The dashboard's read side: the daily aggregates Services computes in DuckDB, and the pure
frame and window helpers of ``web_dashboard.data``."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from engine.config import load_settings
from engine.records import DriftSnapshot, PatternCount
from engine.services import Overview, Services
from web_dashboard import charts, data


def _overview(now: datetime, snapshot: DriftSnapshot | None = None) -> Overview:
    return Overview(champion=None, latest_snapshot=snapshot, latest_decision=None,
                    pending_approvals=0, predictions_total=0, versions=0,
                    scheduler_holder=None, now=now)


def _snapshot(ts: datetime, score: float = 0.0, patterns: tuple[PatternCount, ...] = ()
              ) -> DriftSnapshot:
    return DriftSnapshot(id=ts.isoformat(), ts=ts, model_version=1, n=300, window_start=None,
                         window_end=None, vocabulary_drift=0.1, tfidf_drift=0.2,
                         prediction_drift=0.01, prediction_p_value=0.5, drift_score=score,
                         p_value=0.5, threshold=0.15, drift_detected=score > 0.15,
                         new_patterns=patterns, recommendation="")


def test_daily_reads_aggregate_the_prediction_log_in_duckdb(populated_home: Path) -> None:
    services = Services(load_settings(), read_only=True)
    traffic = services.daily_traffic()
    frame = services.sql("SELECT count(*), count(*) FILTER (WHERE label = 'spam'), "
                         "count(true_label), count(*) FILTER (WHERE label = true_label) "
                         "FROM predictions").rows[0]
    assert sum(t.predictions for t in traffic) == frame[0] == 1500
    assert sum(t.spam_predicted for t in traffic) == frame[1]
    accuracy = services.daily_accuracy()
    assert sum(a.labelled for a in accuracy) == frame[2]
    assert sum(a.correct for a in accuracy) == frame[3]
    assert accuracy[-1].measured == pytest.approx(frame[3] / frame[2])
    estimates = [d.accuracy for d in services.decisions() if d.accuracy_is_estimate]
    assert accuracy[-1].checks == len(estimates) == 1
    assert accuracy[-1].estimated == pytest.approx(estimates[0])


def test_daily_reads_honour_the_window(populated_home: Path) -> None:
    services = Services(load_settings(), read_only=True)
    tomorrow = datetime.utcnow() + timedelta(days=1)
    assert services.daily_traffic(since=tomorrow) == []
    assert services.daily_accuracy(since=tomorrow) == []
    yesterday = datetime.utcnow() - timedelta(days=1)
    assert services.daily_traffic(until=yesterday) == []
    assert len(services.daily_traffic(since=yesterday)) >= 1


def test_a_home_without_a_database_has_no_history(data_home: Path) -> None:
    services = Services(load_settings(), read_only=True)
    assert not services.has_history()
    assert list(data_home.iterdir()) == []


@pytest.mark.parametrize(("label", "days"), [("Last 24 hours", 1), ("Last 7 days", 7),
                                              ("All time", None)])
def test_window_is_anchored_at_the_newest_record(label: str, days: int | None) -> None:
    now = datetime(2026, 1, 10, 12, 30, 45)
    ahead = now + timedelta(days=3, minutes=7)  # a simulated week ran ahead of the clock
    window = data.window_for(label, _overview(now, _snapshot(ahead)))
    assert window.until == ahead
    expected = None if days is None else (ahead - timedelta(days=days)).replace(second=0,
                                                                                microsecond=0)
    assert window.since == expected


def test_unknown_range_falls_back_to_the_default() -> None:
    now = datetime(2026, 1, 10)
    assert data.window_for("nonsense", _overview(now)).since == now - timedelta(days=30)


def test_refresh_epoch_changes_once_per_period() -> None:
    assert data.refresh_epoch(30, now=59.9) == data.refresh_epoch(30, now=30.0) == 1
    assert data.refresh_epoch(30, now=60.0) == 2
    assert data.refresh_epoch(0, now=61.0) == 2  # auto-refresh off: still cached for 30 s


def test_retraining_markers_sit_on_the_snapshot_that_triggered_them() -> None:
    t0 = datetime(2026, 1, 1)
    drift = data.drift_frame([_snapshot(t0, 0.0), _snapshot(t0 + timedelta(hours=1), 0.7)])
    events = pd.DataFrame({
        "started_at": [t0 - timedelta(hours=1), t0 + timedelta(hours=1, seconds=2)],
        "trigger": ["operator", "drift"], "outcome": ["kept v1", "deployed v2"]})
    markers = data.retrain_markers(drift, events)
    assert list(markers["drift_score"]) == [0.7]
    assert list(markers["outcome"]) == ["deployed v2"]


def test_patterns_become_hover_lines() -> None:
    patterns = (PatternCount("refund", 40, 0.2, 0.001), PatternCount("xyz", 30, 0.15, 0.0))
    assert data.patterns_text(patterns) == ("refund: 20.0% of window vs 0.1% of reference<br>"
                                            "xyz: 15.0% of window vs 0.0% of reference")
    assert data.patterns_text(()) == "-"


@pytest.mark.parametrize(("status", "deployment", "expected"), [
    ("completed", "DEPLOY", "deployed v3"), ("completed", "APPROVED", "deployed v3"),
    ("completed", "KEEP", "kept v2"), ("completed", "REJECTED", "kept v2"),
    ("completed", "PENDING_APPROVAL", "pending approval"), ("failed", None, "failed"),
    ("running", None, "running"), ("interrupted", None, "interrupted")])
def test_outcome_words_match_the_history_view(status: str, deployment: str | None,
                                              expected: str) -> None:
    assert data.outcome_of(status, deployment, 2, 3) == expected


def test_p_value_is_taken_from_recent_feedback_when_there_is_any() -> None:
    comparison = {"sets": [{"name": "test_split", "mcnemar_p_value": 1.0},
                           {"name": "recent_feedback", "mcnemar_p_value": 0.0078}]}
    assert data.decisive_p_value(comparison) == 0.0078
    assert data.decisive_p_value({"sets": comparison["sets"][:1]}) == 1.0
    assert data.decisive_p_value(None) is None


def test_p_value_is_taken_from_the_set_the_gate_named() -> None:
    comparison = {"decided_on": "test_split",
                  "sets": [{"name": "test_split", "mcnemar_p_value": 0.01},
                           {"name": "recent_feedback", "mcnemar_p_value": 1.0}]}
    assert data.decisive_p_value(comparison) == 0.01


@pytest.mark.parametrize("builder", [
    lambda: charts.drift_chart(data.drift_frame([]), data.retrain_markers(
        data.drift_frame([]), data.retraining_frame([], None))),
    lambda: charts.performance_chart(data.performance_frame([], [])),
    lambda: charts.retraining_chart(data.retraining_frame([], None)),
])
def test_charts_of_empty_frames_say_there_is_nothing(builder: object) -> None:
    figure = builder()  # type: ignore[operator]
    assert figure.layout.annotations[0].text.startswith("no ")
