"""Pure plotly builders for the dashboard: a DataFrame (shaped by ``data.py``) -> a Figure.

Owns how each chart looks: traces, colours, hover text, axes. Must not import streamlit,
read anything, or compute anything the engine decides; every function here is a pure function
of its frames, so it can be tested without a server.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

COLORS = {
    "drift_score": "#d62728",
    "vocabulary_drift": "#1f77b4",
    "tfidf_drift": "#9467bd",
    "prediction_drift": "#2ca02c",
    "threshold": "#7f7f7f",
    "retrain": "#ff7f0e",
    "measured": "#1f77b4",
    "estimated": "#9467bd",
    "traffic": "#aec7e8",
    "spam": "#d62728",
}
"""One colour per series, the same in every chart."""

DECISION_COLORS = {
    "DEPLOY": "#2ca02c", "APPROVED": "#2ca02c", "KEEP": "#7f7f7f", "REJECTED": "#7f7f7f",
    "PENDING_APPROVAL": "#ff7f0e", "FAILED": "#d62728", "INTERRUPTED": "#d62728",
    "RUNNING": "#1f77b4",
}
"""Colour of a retraining by its deployment decision."""

DRIFT_SERIES = (("drift_score", "drift score (judged against the threshold)", 3),
                ("vocabulary_drift", "vocabulary drift", 1.5),
                ("tfidf_drift", "TF-IDF drift", 1.5),
                ("prediction_drift", "prediction drift", 1.5))
"""(column, legend name, line width) of the drift chart's series."""

MARKER_LIMIT = 200
"""Above this many snapshots the drift series are drawn as lines only: every SVG marker is a
DOM node, and 4 x 1,000 of them cost the browser seconds (hover still finds each point)."""

_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "hovermode": "closest",
           "legend": {"orientation": "h", "y": -0.15}, "template": "plotly_white"}


def _empty(title: str, message: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper",
                          yref="paper")
    figure.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False},
                         **_LAYOUT)
    return figure


def drift_chart(drift: pd.DataFrame, markers: pd.DataFrame) -> go.Figure:
    """Drift statistics over time, the threshold, and where retraining was triggered.

    Args:
        drift: ``data.drift`` frame (ts, drift_score, vocabulary_drift, tfidf_drift,
            prediction_drift, threshold, n, patterns, ...).
        markers: ``data.retrain_markers`` frame (ts, drift_score, trigger, outcome).
    """
    if drift.empty:
        return _empty("Drift over time", "no drift snapshots in this range")
    figure = go.Figure()
    hover = ("%{fullData.name}: %{y:.3f}<br>%{x|%Y-%m-%d %H:%M} UTC, n=%{customdata[0]}"
             "<br><b>new patterns</b><br>%{customdata[1]}<extra></extra>")
    custom = drift[["n", "patterns"]].to_numpy()
    mode = "lines+markers" if len(drift) <= MARKER_LIMIT else "lines"
    for column, name, width in DRIFT_SERIES:
        figure.add_trace(go.Scatter(
            x=drift["ts"], y=drift[column], name=name, mode=mode,
            line={"color": COLORS[column], "width": width}, marker={"size": 4 + width},
            customdata=custom, hovertemplate=hover))
    figure.add_trace(go.Scatter(
        x=drift["ts"], y=drift["threshold"], name=f"threshold ({drift['threshold'].iloc[-1]:g})",
        mode="lines", line={"color": COLORS["threshold"], "dash": "dash", "shape": "hv"},
        hovertemplate="threshold %{y:g}<extra></extra>"))
    if not markers.empty:
        figure.add_trace(go.Scatter(
            x=markers["ts"], y=markers["drift_score"], name="retraining triggered",
            mode="markers", marker={"symbol": "star", "size": 16, "color": COLORS["retrain"],
                                    "line": {"width": 1, "color": "black"}},
            customdata=markers[["trigger", "outcome"]].to_numpy(),
            hovertemplate=("retraining triggered (%{customdata[0]})<br>"
                           "%{customdata[1]}<extra></extra>")))
    figure.update_layout(title="Drift over time", yaxis_title="drift", **_LAYOUT)
    figure.update_yaxes(rangemode="tozero")
    return figure


def performance_chart(performance: pd.DataFrame) -> go.Figure:
    """Daily accuracy (measured from feedback, estimated by checks) above daily traffic."""
    if performance.empty:
        return _empty("Performance", "no predictions in this range")
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                           row_heights=[0.55, 0.45],
                           subplot_titles=("Accuracy per day", "Predictions per day"))
    day = performance["day"]
    figure.add_trace(go.Scatter(
        x=day, y=performance["measured_accuracy"], name="measured (from feedback)",
        mode="lines+markers", line={"color": COLORS["measured"], "width": 2.5},
        customdata=performance[["labelled"]].to_numpy(),
        hovertemplate="%{x|%Y-%m-%d}: %{y:.1%} measured on %{customdata[0]} labels"
                      "<extra></extra>"), row=1, col=1)
    figure.add_trace(go.Scatter(
        x=day, y=performance["estimated_accuracy"], name="estimated (no labels yet)",
        mode="lines+markers", line={"color": COLORS["estimated"], "dash": "dot"},
        customdata=performance[["checks"]].to_numpy(),
        hovertemplate="%{x|%Y-%m-%d}: %{y:.1%} estimated by %{customdata[0]} checks"
                      "<extra></extra>"), row=1, col=1)
    figure.add_trace(go.Bar(
        x=day, y=performance["predictions"], name="predictions",
        marker={"color": COLORS["traffic"]},
        hovertemplate="%{x|%Y-%m-%d}: %{y} predictions<extra></extra>"), row=2, col=1)
    figure.add_trace(go.Bar(
        x=day, y=performance["spam_predicted"], name="predicted spam",
        marker={"color": COLORS["spam"]},
        hovertemplate="%{x|%Y-%m-%d}: %{y} predicted spam<extra></extra>"), row=2, col=1)
    figure.update_layout(barmode="overlay", title="Performance trend", **_LAYOUT)
    figure.update_yaxes(tickformat=".0%", row=1, col=1)
    return figure


def retraining_chart(retrainings: pd.DataFrame) -> go.Figure:
    """Retrainings on a timeline, one row per trigger, coloured by deployment decision."""
    if retrainings.empty:
        return _empty("Retraining history", "no retraining in this range")
    figure = go.Figure()
    for decision, group in retrainings.groupby("decision", sort=True):
        figure.add_trace(go.Scatter(
            x=group["started_at"], y=group["trigger"], name=str(decision), mode="markers",
            marker={"size": 14, "symbol": "diamond",
                    "color": DECISION_COLORS.get(str(decision), "#1f77b4")},
            customdata=group[["outcome", "reasoning"]].to_numpy(),
            hovertemplate=("%{x|%Y-%m-%d %H:%M} UTC, trigger %{y}<br><b>%{customdata[0]}</b>"
                           "<br>%{customdata[1]}<extra></extra>")))
    figure.update_layout(title="Retraining timeline", yaxis_title="trigger", **_LAYOUT)
    return figure
