"""View 2, drift over time: vocabulary, TF-IDF and prediction drift with the drift score, the
threshold line and stars where retraining was triggered; hovering shows new patterns.

Must not judge drift: the scores and the threshold are the snapshots' own.
"""

from __future__ import annotations

import streamlit as st

from engine.errors import SpamopsError
from web_dashboard import charts, data
from web_dashboard.views import ViewContext


def render(ctx: ViewContext) -> None:
    """Draw the drift chart."""
    st.subheader("Drift over time")
    try:
        drift = data.drift(ctx.services, ctx.home, ctx.window.since, ctx.epoch)
        retrainings = data.retrainings(ctx.services, ctx.home, ctx.window.since, ctx.epoch)
    except SpamopsError as exc:
        st.error(f"drift history unavailable: {exc}")
        return
    if drift.empty:
        st.info(f"No drift snapshots in {ctx.window.label.lower()}: each monitoring check "
                "records one (`spamops monitor --check-now`).")
        return
    markers = data.retrain_markers(drift, retrainings)
    st.plotly_chart(charts.drift_chart(drift, markers), width="stretch", key="drift_chart")
    detected = int(drift["drift_detected"].sum())
    st.caption(f"{len(drift)} snapshots, {detected} above the threshold "
               f"({drift['threshold'].iloc[-1]:g}, applied to the drift score); "
               f"{len(markers)} retrainings triggered. Hover a point for its new patterns.")
