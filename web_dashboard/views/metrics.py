"""View 1, current metrics: the champion's test metrics with the change against the previous
version, and its live accuracy, saying plainly whether it was measured or estimated.

Must not compute metrics: it shows what the registry and the latest check recorded.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.errors import SpamopsError
from web_dashboard import data
from web_dashboard.views import ViewContext

CARDS = (("accuracy", "Accuracy"), ("f1", "F1 (spam)"), ("precision", "Precision (spam)"),
         ("recall", "Recall (spam)"))
"""(metric, label) of the test-split cards, in order."""


def delta_points(current: float | None, previous: float | None) -> str | None:
    """The change in percentage points, as ``st.metric`` shows it (None when unknown)."""
    if current is None or previous is None:
        return None
    return f"{(current - previous) * 100:+.2f} pts"


def render(ctx: ViewContext) -> None:
    """Draw the metric cards."""
    st.subheader("Current metrics")
    card = ctx.overview.champion
    if card is None:
        st.info("No champion model yet: `spamops train` registers the first one.")
        return
    try:
        versions = data.versions(ctx.services, ctx.home, ctx.epoch, ctx.overview.versions)
    except SpamopsError as exc:
        st.error(f"model versions unavailable: {exc}")
        versions = data.versions_frame([])
    previous = versions[versions["version"] == card.previous_version]
    previous_metrics = previous.iloc[0].to_dict() if len(previous) else {}
    against = (f"against previous v{card.previous_version}" if card.previous_version
               else "first champion: no previous version to compare with")

    columns = st.columns(len(CARDS) + 1)
    columns[0].metric("Champion", f"v{card.version}",
                      help=f"Registered {card.created_at:%Y-%m-%d %H:%M}; "
                           f"{ctx.overview.versions} versions in the registry.")
    for column, (name, label) in zip(columns[1:], CARDS, strict=True):
        value = getattr(card, name)
        before = previous_metrics.get(name)
        before = None if before is None or pd.isna(before) else float(before)
        column.metric(label, "n/a" if value is None else f"{value:.2%}",
                      delta=delta_points(value, before),
                      help=f"Test split at training time, {against}.")
    st.caption(f"Test-split metrics of v{card.version}; the change is {against}.")

    live = st.columns(4)
    if card.live_accuracy is None:
        live[0].metric("Live accuracy", "n/a", help="No monitoring check has run yet.")
    elif card.live_accuracy_is_estimate and card.live_accuracy_unreliable:
        live[0].metric("Live accuracy", "unknown (unreliable)",
                       help=f"Drift was detected, so the label-free CBPE estimate "
                            f"({card.live_accuracy:.1%}) is unreliable: accuracy is unknown "
                            "until labels arrive.")
    elif card.live_accuracy_is_estimate:
        interval = (f" (95% interval {card.live_accuracy_low:.1%}–{card.live_accuracy_high:.1%})"
                    if card.live_accuracy_low is not None and card.live_accuracy_high is not None
                    else "")
        live[0].metric("Live accuracy (estimated)", f"{card.live_accuracy:.1%}",
                       help="Estimated from the calibrated spam probabilities of the latest "
                            "window, because too few true labels had arrived" + interval
                            + ". Drift makes this estimate optimistic.")
    else:
        live[0].metric("Live accuracy (measured)", f"{card.live_accuracy:.1%}",
                       help=f"Measured on {card.live_labels} labelled messages of the latest "
                            "window.")
    snapshot = ctx.overview.latest_snapshot
    live[1].metric("Latest drift score",
                   "n/a" if snapshot is None else f"{snapshot.drift_score:.3f}",
                   help=None if snapshot is None else
                   f"Threshold {snapshot.threshold:g}; window of {snapshot.n} messages.")
    live[2].metric("Predictions logged", f"{ctx.overview.predictions_total:,}")
    live[3].metric("Pending approvals", str(ctx.overview.pending_approvals))
    if card.live_accuracy is not None:
        how = ("unknown under drift until labels arrive (the label-free estimate is unreliable)"
               if card.live_accuracy_is_estimate and card.live_accuracy_unreliable
               else "estimated from calibrated probabilities (no or too few labels)"
               if card.live_accuracy_is_estimate
               else f"measured on {card.live_labels} labelled messages")
        st.caption(f"Live accuracy of the latest check: {how}.")
