"""View 4, model versions: every version's test metrics, aliases and training data range
(lineage tags), and the latest champion/challenger comparison with McNemar's p-value.

Must not compare models itself: the comparison is the one the retraining recorded.
"""

from __future__ import annotations

import streamlit as st

from engine.errors import SpamopsError
from web_dashboard import data
from web_dashboard.views import ViewContext

_METRIC = st.column_config.NumberColumn(format="%.4f")


def render(ctx: ViewContext) -> None:
    """Draw the versions table and the latest comparison."""
    st.subheader("Model versions")
    try:
        versions = data.versions(ctx.services, ctx.home, ctx.epoch, ctx.overview.versions)
        comparison = data.comparison(ctx.services, ctx.home, ctx.epoch)
    except SpamopsError as exc:
        st.error(f"model versions unavailable: {exc}")
        return
    if versions.empty:
        st.info("No model registered yet: `spamops train` registers the first one.")
    else:
        st.dataframe(
            versions, hide_index=True, width="stretch", key="versions_table",
            column_config={
                "created_at": st.column_config.DatetimeColumn("created",
                                                              format="YYYY-MM-DD HH:mm"),
                "accuracy": _METRIC, "precision": _METRIC, "recall": _METRIC, "f1": _METRIC,
                "roc_auc": _METRIC,
                "training_data": st.column_config.TextColumn("training data", width="large"),
                "dataset": st.column_config.TextColumn("datasets", width="medium"),
            })
    st.markdown("**Latest champion/challenger comparison**")
    if comparison.empty:
        st.info("No comparison yet: one is recorded with every retraining.")
        return
    first = comparison.iloc[0]
    decisive = comparison[comparison["role"] == "decides"]
    if not len(decisive):  # records from before the gate named its deciding set
        decisive = comparison[comparison["set"] == "recent feedback"]
    chosen = decisive.iloc[0] if len(decisive) else first
    st.caption(f"v{first['champion_version']} (champion) vs v{first['challenger_version']} "
               f"(challenger), {first['started_at']:%Y-%m-%d %H:%M} UTC, decision "
               f"{first['decision']}. McNemar p = {chosen['mcnemar_p_value']:.4g} on "
               f"{chosen['set']} (n={chosen['n']}).")
    st.dataframe(
        comparison.drop(columns=["started_at", "decision"]), hide_index=True, width="stretch",
        key="comparison_table",
        column_config={
            "champion_accuracy": _METRIC, "challenger_accuracy": _METRIC,
            "accuracy_difference": st.column_config.NumberColumn(format="%+.4f"),
            "accuracy_low": st.column_config.NumberColumn("95% low", format="%+.4f"),
            "accuracy_high": st.column_config.NumberColumn("95% high", format="%+.4f"),
            "champion_ham_fpr": _METRIC, "challenger_ham_fpr": _METRIC,
            "champion_f1": _METRIC, "challenger_f1": _METRIC,
            "mcnemar_p_value": st.column_config.NumberColumn("McNemar p", format="%.4g"),
            "bootstrap_low": _METRIC, "bootstrap_high": _METRIC,
        })
