"""The dashboard script under Streamlit's AppTest, on a populated and on an empty data home:
each view is checked on what it rendered (metric values, table cells, chart data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_settings
from engine.records import RetrainingEvent
from engine.services import Services
from tests.web_dashboard.conftest import chart_specs, run_app
from web_dashboard.data import outcome_of
from web_dashboard.views.metrics import delta_points


def _services() -> Services:
    return Services(load_settings(), read_only=True)


def _trace(spec: dict, name: str) -> dict:
    found = [t for t in spec["data"] if t.get("name", "").startswith(name)]
    assert found, f"no trace {name!r} in {[t.get('name') for t in spec['data']]}"
    return found[0]


def _outcome(event: RetrainingEvent) -> str:
    return outcome_of(event.status, event.deployment, event.champion_version,
                      event.challenger_version)


def _texts(elements: object) -> list[str]:
    return [str(e.value) for e in elements]  # type: ignore[attr-defined]


# Populated home ------------------------------------------------------------------------------
def test_metric_cards_show_the_champion_and_the_change_against_the_previous_version(
        populated_home: Path) -> None:
    versions = {v.version: v for v in _services().models()}
    at = run_app()
    assert not at.exception
    cards = {m.label: m for m in at.metric}
    assert cards["Champion"].value == "v2"
    for label, name in (("Accuracy", "accuracy"), ("F1 (spam)", "f1"),
                        ("Precision (spam)", "precision"), ("Recall (spam)", "recall")):
        assert cards[label].value == f"{versions[2].metrics[name]:.2%}"
        assert cards[label].delta == delta_points(versions[2].metrics[name],
                                                  versions[1].metrics[name])
    assert cards["Predictions logged"].value == "1,500"
    assert cards["Pending approvals"].value == "0"


def test_live_accuracy_says_whether_it_was_measured_or_estimated(populated_home: Path) -> None:
    latest = _services().decisions(1)[0]
    at = run_app()
    cards = {m.label: m for m in at.metric}
    # The last check saw no labels: its accuracy is an estimate and the card says so.
    assert latest.accuracy_is_estimate
    assert cards["Live accuracy (estimated)"].value == f"{latest.accuracy:.1%}"
    assert "Live accuracy (measured)" not in cards
    assert any("estimated from calibrated probabilities" in c for c in _texts(at.caption))


def test_drift_chart_plots_each_statistic_with_threshold_and_retraining_marker(
        populated_home: Path) -> None:
    snapshots = sorted(_services().drift_history(), key=lambda s: s.ts)
    drifted = next(s for s in snapshots if s.drift_detected)
    spec = chart_specs(run_app())["Drift over time"]
    for name, column in (("vocabulary drift", "vocabulary_drift"), ("TF-IDF drift", "tfidf_drift"),
                         ("prediction drift", "prediction_drift"), ("drift score", "drift_score")):
        assert _trace(spec, name)["y"] == pytest.approx([getattr(s, column) for s in snapshots])
    assert set(_trace(spec, "threshold")["y"]) == {0.15}
    marker = _trace(spec, "retraining triggered")
    assert marker["y"] == pytest.approx([drifted.drift_score])
    assert marker["customdata"][0][1] == _outcome(_services().retraining_history(1)[0])
    # Hovering the drifted point shows its new patterns.
    index = snapshots.index(drifted)
    hover = _trace(spec, "drift score")["customdata"][index][1]
    assert drifted.new_patterns and drifted.new_patterns[0].term in hover
    assert _trace(spec, "drift score")["customdata"][0][1] == "-"


def test_retraining_timeline_shows_trigger_decision_reasoning_and_outcome(
        populated_home: Path) -> None:
    event = _services().retraining_history(1)[0]
    at = run_app()
    table = next(d.value for d in at.dataframe if "reasoning" in d.value.columns)
    assert len(table) == 1
    row = table.iloc[0]
    assert event.deployment is not None
    assert (row["trigger"], row["decision"], row["outcome"]) == (
        event.trigger, event.deployment, _outcome(event))
    assert row["reasoning"] == event.reasoning
    assert row["p_value"] == pytest.approx(next(
        s["mcnemar_p_value"] for s in (event.comparison or {})["sets"]
        if s["name"] == "recent_feedback"))
    spec = chart_specs(at)["Retraining timeline"]
    assert _trace(spec, event.deployment)["y"] == [event.trigger]


def test_versions_table_lists_metrics_aliases_lineage_and_the_comparison_p_value(
        populated_home: Path) -> None:
    services = _services()
    event = services.latest_comparison()
    assert event is not None and event.comparison is not None
    recent = next(s for s in event.comparison["sets"] if s["name"] == "recent_feedback")
    at = run_app()
    versions = next(d.value for d in at.dataframe if "aliases" in d.value.columns)
    assert list(versions["version"]) == [2, 1]
    assert list(versions["aliases"]) == ["champion", "previous"]
    assert versions.iloc[0]["accuracy"] == pytest.approx(services.models()[0].metrics["accuracy"])
    assert versions.iloc[0]["training_data"].startswith("training split + feedback labelled")
    assert versions.iloc[1]["training_data"] == "training split"
    comparison = next(d.value for d in at.dataframe if "mcnemar_p_value" in d.value.columns)
    assert set(comparison["set"]) == {"test split", "recent feedback"}
    row = comparison[comparison["set"] == "recent feedback"].iloc[0]
    assert row["mcnemar_p_value"] == pytest.approx(recent["mcnemar_p_value"])
    assert (row["champion_version"], row["challenger_version"]) == (1, 2)
    assert any(f"McNemar p = {recent['mcnemar_p_value']:.4g} on recent feedback" in c
               for c in _texts(at.caption))


def test_performance_chart_shows_daily_measured_and_estimated_accuracy_and_traffic(
        populated_home: Path) -> None:
    services = _services()
    traffic, accuracy = services.daily_traffic(), services.daily_accuracy()
    spec = chart_specs(run_app())["Performance trend"]
    assert _trace(spec, "predictions")["y"] == [t.predictions for t in traffic]
    assert sum(_trace(spec, "predictions")["y"]) == 1500
    assert _trace(spec, "predicted spam")["y"] == [t.spam_predicted for t in traffic]
    assert _trace(spec, "measured")["y"] == pytest.approx([a.measured for a in accuracy])
    assert _trace(spec, "estimated")["y"] == pytest.approx([a.estimated for a in accuracy])


def test_time_range_selector_reruns_with_the_chosen_window(populated_home: Path) -> None:
    at = run_app()
    at.selectbox(key="time_range").set_value("All time").run()
    assert not at.exception
    assert any(c.startswith("Showing the beginning to") for c in _texts(at.caption))
    assert "Drift over time" in chart_specs(at)


def test_rerun_within_a_refresh_period_uses_the_cache(populated_home: Path) -> None:
    at = run_app()
    first = {m.label: m.value for m in at.metric}
    at.run()
    assert {m.label: m.value for m in at.metric} == first


# Empty and broken homes ----------------------------------------------------------------------
@pytest.mark.parametrize("exists", [True, False], ids=["empty-home", "missing-home"])
def test_a_home_without_history_says_what_to_do_next_in_every_view(
        data_home: Path, exists: bool) -> None:
    if not exists:
        data_home.rmdir()
    at = run_app()
    assert not at.exception and not at.error
    infos = _texts(at.info)
    assert any("spamops demo" in i and "spamops train" in i for i in infos)
    for expected in ("No champion model yet", "No predictions in last 30 days",
                     "No drift snapshots in last 30 days", "No retraining in last 30 days",
                     "No model registered yet", "No comparison yet"):
        assert any(i.startswith(expected) for i in infos), expected
    assert at.get("plotly_chart") == [] or len(at.get("plotly_chart")) == 0
    # A read-only dashboard creates nothing in the home.
    assert not data_home.exists() or list(data_home.iterdir()) == []


def test_a_broken_database_is_one_line_not_a_traceback(data_home: Path) -> None:
    (data_home / "spamops.duckdb").write_bytes(b"this is not a duckdb file" * 100)
    at = run_app()
    assert not at.exception
    assert len(at.error) == 1
    assert "\n" not in at.error[0].value
