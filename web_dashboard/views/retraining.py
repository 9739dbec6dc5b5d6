"""View 3, retraining history: a timeline of retrainings with trigger, deployment decision,
reasoning and outcome, and the same as a table.

Must not re-decide anything: decisions and reasons are the recorded ones.
"""

from __future__ import annotations

import streamlit as st

from engine.errors import SpamopsError
from web_dashboard import charts, data
from web_dashboard.views import ViewContext

COLUMNS = ["started_at", "trigger", "decision", "outcome", "improvement", "p_value",
           "reasoning"]
"""Table columns, in order."""


def render(ctx: ViewContext) -> None:
    """Draw the retraining timeline and table."""
    st.subheader("Retraining history")
    try:
        frame = data.retrainings(ctx.services, ctx.home, ctx.window.since, ctx.epoch)
    except SpamopsError as exc:
        st.error(f"retraining history unavailable: {exc}")
        return
    if frame.empty:
        st.info(f"No retraining in {ctx.window.label.lower()}: it starts when a check finds "
                "drift or low accuracy, or with `spamops retrain`.")
        return
    st.plotly_chart(charts.retraining_chart(frame), width="stretch", key="retraining_chart")
    st.dataframe(
        frame[COLUMNS], hide_index=True, width="stretch", key="retraining_table",
        column_config={
            "started_at": st.column_config.DatetimeColumn("started (UTC)",
                                                          format="YYYY-MM-DD HH:mm"),
            "improvement": st.column_config.NumberColumn("improvement", format="%+.3f"),
            "p_value": st.column_config.NumberColumn("McNemar p", format="%.4f"),
            "reasoning": st.column_config.TextColumn("reasoning", width="large"),
        })
