"""View 5, performance trend: daily accuracy, measured from feedback and estimated by the
monitoring checks, above daily traffic (aggregated in DuckDB by the engine).

Must not aggregate the prediction log itself.
"""

from __future__ import annotations

import streamlit as st

from engine.errors import SpamopsError
from web_dashboard import charts, data
from web_dashboard.views import ViewContext


def render(ctx: ViewContext) -> None:
    """Draw the daily performance chart."""
    st.subheader("Performance trend")
    try:
        frame = data.performance(ctx.services, ctx.home, ctx.window.since, ctx.epoch)
    except SpamopsError as exc:
        st.error(f"performance history unavailable: {exc}")
        return
    if frame.empty:
        st.info(f"No predictions in {ctx.window.label.lower()}: the API (`spamops serve`) "
                "and `spamops simulate` log them.")
        return
    st.plotly_chart(charts.performance_chart(frame), width="stretch", key="performance_chart")
    st.caption(f"{int(frame['predictions'].sum()):,} predictions over {len(frame)} days, "
               f"{int(frame['labelled'].sum()):,} with a true label. Measured accuracy counts "
               "predictions by the day they were made; estimated accuracy by the day of the "
               "check.")
