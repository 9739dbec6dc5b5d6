"""Cached reads for the dashboard: ``Services`` results -> pandas DataFrames for the charts.

Owns the cache policy and the shape of every frame the views and ``charts.py`` use (the
columns are listed in each function's docstring). Frames are built here from the frozen
dataclasses ``Services`` returns; aggregation over the prediction log (daily traffic and
accuracy) runs in DuckDB behind ``Services.daily_traffic``/``daily_accuracy``, so no function
here ever sees a million rows.

Caching: ``open_services`` keeps one read-only ``Services`` per process (``st.cache_resource``);
it lives in this imported module, not in the script, so that its cache key is the same for the
page and for the launcher (``web_dashboard.serve``), which opens it before the server is ready.
Every read is ``st.cache_data`` keyed by the data home, the window start and the refresh
``epoch`` (wall-clock time divided by the refresh period), so all sessions share one read per
refresh period and the next refresh reads fresh data; ``ttl`` bounds how long an entry lives.
``Services`` (unhashable) is passed as ``_services`` and skipped by the hasher.

Must not: import duckdb/mlflow/sklearn, open the store itself, or decide anything the engine
decides (drift, deployment): it only reshapes records for display.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from engine.config import load_settings
from engine.errors import SpamopsError
from engine.registry import ModelVersionInfo
from engine.services import Overview, Services

RANGES: dict[str, timedelta | None] = {
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "Last 90 days": timedelta(days=90),
    "All time": None,
}
"""The time-range selector's choices."""

DEFAULT_RANGE = "Last 30 days"
"""Selected when the page opens."""

CACHE_TTL_SECONDS = 600
"""Upper bound on a cache entry's life; the refresh ``epoch`` in every key renews data sooner."""

MAX_SNAPSHOTS = 5000
"""Most drift snapshots drawn (newest first); more would only crowd the chart."""

MAX_RETRAININGS = 500
"""Most retraining events listed."""

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
"""Test-split metrics shown per version."""


def refresh_epoch(period_seconds: int, now: float | None = None) -> int:
    """The number of the current refresh period (changes every ``period_seconds``)."""
    period = max(int(period_seconds), 1) if period_seconds else 30
    return int((time.time() if now is None else now) // period)


@dataclass(frozen=True)
class Window:
    """The time range being shown: ``since`` (None = everything) up to ``until``."""

    label: str
    since: datetime | None
    until: datetime


def window_for(label: str, overview: Overview) -> Window:
    """The window of a selector choice, anchored at the newest thing the home recorded.

    Anchoring at ``max(now, newest snapshot, newest decision)`` keeps a simulated week that
    ran ahead of the wall clock in view. ``since`` is cut to the minute so it stays one cache
    key for a whole refresh period.
    """
    candidates = [overview.now]
    if overview.latest_snapshot is not None:
        candidates.append(overview.latest_snapshot.ts)
    if overview.latest_decision is not None:
        candidates.append(overview.latest_decision.ts)
    until = max(candidates)
    span = RANGES.get(label, RANGES[DEFAULT_RANGE])
    since = None if span is None else (until - span).replace(second=0, microsecond=0)
    return Window(label=label, since=since, until=until)


def is_empty(overview: Overview) -> bool:
    """Whether the home has nothing to show yet (no model, no predictions, no checks)."""
    return (overview.champion is None and overview.versions == 0
            and overview.predictions_total == 0 and overview.latest_snapshot is None)


# Reads -------------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def open_services(home_env: str | None, cwd: str) -> Services:
    """Read-only services for the data home the environment names (one per process).

    The arguments are the cache key: the same ``SPAMOPS_HOME`` and working directory (where
    ``spamops.toml`` is looked up) give the same ``Services``, so the registry's per-process
    cache of run data, filled once, serves every session.
    """
    return Services(load_settings(), read_only=True)


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=32, show_spinner=False)
def overview(_services: Services, home: str, epoch: int) -> Overview:
    """``Services.overview`` (champion card, latest snapshot and decision, counts)."""
    return _services.overview()


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=32, show_spinner=False)
def failing_receivers(_services: Services, home: str, epoch: int) -> list[str]:
    """One line per failing webhook receiver (name, last error, counts); empty when none is
    configured or all deliver."""
    if not _services.settings.notify.webhooks:
        return []
    return [f"{r.receiver}: {r.last_error or 'failing'} ({r.pending} pending, "
            f"{r.failed} given up)" for r in _services.failing_receivers()]


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=32, show_spinner=False)
def versions(_services: Services, home: str, epoch: int, count: int) -> pd.DataFrame:
    """Every registered version, newest first.

    ``count`` is ``Overview.versions``: with none, the registry (MLflow, slow to import) is
    not touched at all, so a fresh home stays untouched and fast.

    Columns: version, aliases, created_at, accuracy, precision, recall, f1, roc_auc, trigger,
    training_data, feedback_labels, dataset (``name:fingerprint`` of each dataset).
    """
    infos = _services.models() if count else []
    return versions_frame(infos)


def versions_frame(infos: list[ModelVersionInfo]) -> pd.DataFrame:
    """The versions table from registry records (see ``versions``)."""
    rows = []
    for info in infos:
        tags = info.tags
        rows.append({
            "version": info.version,
            "aliases": ", ".join(info.aliases),
            "created_at": info.created_at,
            **{name: info.metrics.get(name) for name in METRICS},
            "trigger": tags.get("trigger", ""),
            "training_data": training_range(tags),
            "feedback_labels": int(tags.get("feedback_train") or 0),
            "dataset": dataset_lineage(tags),
        })
    columns = ["version", "aliases", "created_at", *METRICS, "trigger", "training_data",
               "feedback_labels", "dataset"]
    return pd.DataFrame(rows, columns=columns)


def dataset_lineage(tags: dict[str, str]) -> str:
    """The datasets a version was trained on, ``name:fingerprint`` each (``spamops data
    list``); versions trained before datasets had names were trained on uci."""
    named = tags.get("dataset_fingerprints", "")
    if named:
        return named
    fingerprint = tags.get("dataset_fingerprint", "")
    return f"uci:{fingerprint[:16]}" if fingerprint else ""


def training_range(tags: dict[str, str]) -> str:
    """What a version was trained on, from its lineage tags."""
    start, end = tags.get("feedback_from", ""), tags.get("feedback_to", "")
    if start or end:
        span = start if start == end else f"{start} .. {end}"
        return f"training split + feedback labelled {span}"
    return "training split"


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=32, show_spinner=False)
def drift(_services: Services, home: str, since: datetime | None, epoch: int) -> pd.DataFrame:
    """Drift snapshots in the window, oldest first.

    Columns: ts, model_version, n, drift_score, threshold, drift_detected, p_value,
    vocabulary_drift, tfidf_drift, prediction_drift, spam_rate, recommendation, patterns
    (the new patterns as hover text, ``"-"`` when none), components (the drift components that
    exceeded, comma-separated), accuracy_unreliable (the check's estimate was unreliable).
    """
    if not _services.has_history():
        return drift_frame([])
    return drift_frame(_services.drift_history(limit=MAX_SNAPSHOTS, since=since))


def drift_frame(snapshots: list[Any]) -> pd.DataFrame:
    """The drift frame from ``DriftSnapshot`` records (any order)."""
    columns = ["ts", "model_version", "n", "drift_score", "threshold", "drift_detected",
               "p_value", "vocabulary_drift", "tfidf_drift", "prediction_drift", "spam_rate",
               "recommendation", "patterns", "components", "accuracy_unreliable"]
    rows = [{
        "ts": s.ts, "model_version": s.model_version, "n": s.n, "drift_score": s.drift_score,
        "threshold": s.threshold, "drift_detected": s.drift_detected, "p_value": s.p_value,
        "vocabulary_drift": s.vocabulary_drift, "tfidf_drift": s.tfidf_drift,
        "prediction_drift": s.prediction_drift, "spam_rate": s.spam_rate,
        "recommendation": s.recommendation, "patterns": patterns_text(s.new_patterns),
        "components": ", ".join(s.drift_components) or "-",
        "accuracy_unreliable": s.accuracy_unreliable,
    } for s in snapshots]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("ts", kind="stable").reset_index(drop=True)


def patterns_text(patterns: Any, limit: int = 8) -> str:
    """New patterns as short hover lines: ``term: 12% of window vs 0.1% of reference``."""
    lines = [f"{p.term}: {p.window_rate:.1%} of window vs {p.reference_rate:.1%} of reference"
             for p in list(patterns)[:limit]]
    return "<br>".join(lines) if lines else "-"


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=32, show_spinner=False)
def retrainings(_services: Services, home: str, since: datetime | None,
                epoch: int) -> pd.DataFrame:
    """Retraining events in the window, newest first.

    Columns: started_at, finished_at, trigger, status, decision, outcome, champion_version,
    challenger_version, improvement, p_value, reasoning, actor.
    """
    if not _services.has_history():
        return retraining_frame([], since)
    return retraining_frame(_services.retraining_history(limit=MAX_RETRAININGS), since)


def outcome_of(status: str, deployment: str | None, champion: int | None,
               challenger: int | None) -> str:
    """A retraining's outcome in words, as ``v_retraining_history`` words it."""
    if status in ("running", "failed", "interrupted"):
        return status
    if deployment in ("DEPLOY", "APPROVED"):
        return f"deployed v{challenger}"
    if deployment in ("KEEP", "REJECTED"):
        return f"kept v{champion if champion is not None else '?'}"
    if deployment == "PENDING_APPROVAL":
        return "pending approval"
    return status


def decisive_p_value(comparison: dict[str, Any] | None) -> float | None:
    """McNemar's p-value of the set the deployment rule judged on (``decided_on``; for older
    records, recent labels first)."""
    sets = (comparison or {}).get("sets") or []
    by_name = {s.get("name"): s for s in sets}
    chosen = by_name.get((comparison or {}).get("decided_on")) or by_name.get(
        "recent_feedback") or by_name.get("test_split") or (sets[0] if sets else None)
    value = chosen.get("mcnemar_p_value") if chosen else None
    return float(value) if value is not None else None


def retraining_frame(events: list[Any], since: datetime | None) -> pd.DataFrame:
    """The retraining frame from ``RetrainingEvent`` records (see ``retrainings``)."""
    columns = ["started_at", "finished_at", "trigger", "status", "decision", "outcome",
               "champion_version", "challenger_version", "improvement", "p_value",
               "reasoning", "actor"]
    rows = [{
        "started_at": e.started_at, "finished_at": e.finished_at, "trigger": e.trigger,
        "status": e.status, "decision": e.deployment or e.status.upper(),
        "outcome": outcome_of(e.status, e.deployment, e.champion_version,
                              e.challenger_version),
        "champion_version": e.champion_version, "challenger_version": e.challenger_version,
        "improvement": e.improvement, "p_value": decisive_p_value(e.comparison),
        "reasoning": e.reasoning, "actor": e.actor,
    } for e in events if since is None or e.started_at >= since]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("started_at", ascending=False, kind="stable").reset_index(drop=True)


def retrain_markers(drift_frame: pd.DataFrame, retraining_frame: pd.DataFrame) -> pd.DataFrame:
    """Where retraining was triggered, on the drift chart.

    Each retraining is placed on the newest snapshot at or before its start (the check that
    triggered it); retrainings before the first snapshot in view are left out.

    Columns: ts (the snapshot's), drift_score, started_at, trigger, outcome.
    """
    columns = ["ts", "drift_score", "started_at", "trigger", "outcome"]
    if drift_frame.empty or retraining_frame.empty:
        return pd.DataFrame(columns=columns)
    snapshots = drift_frame[["ts", "drift_score"]].sort_values("ts")
    events = retraining_frame[["started_at", "trigger", "outcome"]].sort_values("started_at")
    merged = pd.merge_asof(events, snapshots, left_on="started_at", right_on="ts",
                           direction="backward")
    merged = merged.dropna(subset=["ts"])
    return merged[columns].reset_index(drop=True)


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=32, show_spinner=False)
def comparison(_services: Services, home: str, epoch: int) -> pd.DataFrame:
    """The newest champion/challenger comparison, one row per evaluation set.

    Columns: set, role (decides/guard), n, labelled_from, labelled_to, champion_version,
    challenger_version, champion_accuracy, challenger_accuracy, accuracy_difference,
    accuracy_low, accuracy_high (95% Bonett-Price), champion_ham_fpr, challenger_ham_fpr,
    champion_f1, challenger_f1, mcnemar_b, mcnemar_c, mcnemar_p_value, bootstrap_low,
    bootstrap_high, started_at, decision.
    """
    event = _services.latest_comparison() if _services.has_history() else None
    return comparison_frame(event)


def comparison_frame(event: Any) -> pd.DataFrame:
    """The comparison frame of a ``RetrainingEvent`` (empty when it has none)."""
    columns = ["set", "role", "n", "labelled_from", "labelled_to", "champion_version",
               "challenger_version", "champion_accuracy", "challenger_accuracy",
               "accuracy_difference", "accuracy_low", "accuracy_high", "champion_ham_fpr",
               "challenger_ham_fpr", "champion_f1", "challenger_f1", "mcnemar_b", "mcnemar_c",
               "mcnemar_p_value", "bootstrap_low", "bootstrap_high", "started_at", "decision"]
    if event is None or not event.comparison:
        return pd.DataFrame(columns=columns)
    data = event.comparison
    rows = []
    for entry in data.get("sets", []):
        champion = entry.get("champion", {})
        challenger = entry.get("challenger", {})
        decided_on = data.get("decided_on")
        rows.append({
            "set": str(entry.get("name", "")).replace("_", " "),
            "role": (None if decided_on is None
                     else "decides" if entry.get("name") == decided_on else "guard"),
            "n": entry.get("n"),
            "labelled_from": (entry.get("first_at") or "")[:10] or None,
            "labelled_to": (entry.get("last_at") or "")[:10] or None,
            "champion_version": data.get("champion_version", champion.get("version")),
            "challenger_version": data.get("challenger_version", challenger.get("version")),
            "champion_accuracy": champion.get("metrics", {}).get("accuracy"),
            "challenger_accuracy": challenger.get("metrics", {}).get("accuracy"),
            "accuracy_difference": entry.get("accuracy_difference"),
            "accuracy_low": entry.get("accuracy_low"), "accuracy_high": entry.get("accuracy_high"),
            "champion_ham_fpr": entry.get("champion_ham_fpr"),
            "challenger_ham_fpr": entry.get("challenger_ham_fpr"),
            "champion_f1": champion.get("metrics", {}).get("f1"),
            "challenger_f1": challenger.get("metrics", {}).get("f1"),
            "mcnemar_b": entry.get("mcnemar_b"), "mcnemar_c": entry.get("mcnemar_c"),
            "mcnemar_p_value": entry.get("mcnemar_p_value"),
            "bootstrap_low": entry.get("bootstrap_low"),
            "bootstrap_high": entry.get("bootstrap_high"),
            "started_at": event.started_at, "decision": event.deployment or event.status,
        })
    return pd.DataFrame(rows, columns=columns)


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=32, show_spinner=False)
def performance(_services: Services, home: str, since: datetime | None,
                epoch: int) -> pd.DataFrame:
    """Daily traffic and accuracy in the window, oldest first (aggregated in DuckDB).

    Columns: day, predictions, spam_predicted, spam_rate, labelled, measured_accuracy,
    estimated_accuracy, checks.
    """
    if not _services.has_history():
        return performance_frame([], [])
    return performance_frame(_services.daily_traffic(since=since),
                             _services.daily_accuracy(since=since))


def performance_frame(traffic: list[Any], accuracy: list[Any]) -> pd.DataFrame:
    """One row per day from ``DailyTraffic`` and ``DailyAccuracy`` records."""
    columns = ["day", "predictions", "spam_predicted", "spam_rate", "labelled",
               "measured_accuracy", "estimated_accuracy", "checks"]
    days: dict[Any, dict[str, Any]] = {}
    for t in traffic:
        days.setdefault(t.day, {}).update(predictions=t.predictions,
                                          spam_predicted=t.spam_predicted,
                                          spam_rate=t.spam_rate)
    for a in accuracy:
        days.setdefault(a.day, {}).update(labelled=a.labelled, measured_accuracy=a.measured,
                                          estimated_accuracy=a.estimated, checks=a.checks)
    rows = [{"day": pd.Timestamp(day), "predictions": 0, "spam_predicted": 0,
             "spam_rate": None, "labelled": 0, "measured_accuracy": None,
             "estimated_accuracy": None, "checks": 0, **values}
            for day, values in sorted(days.items())]
    return pd.DataFrame(rows, columns=columns)


def safely(read: Any, *args: Any) -> tuple[Any, str | None]:
    """Call a read; a ``SpamopsError`` becomes its one-line message instead of a traceback."""
    try:
        return read(*args), None
    except SpamopsError as exc:
        return None, str(exc)
