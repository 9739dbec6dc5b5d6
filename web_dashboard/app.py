"""The Streamlit dashboard: page, time range, auto-refresh, and the five views in order.

Run by ``spamops dashboard``: the launcher ``web_dashboard.serve`` warms the process, then
hands over to ``streamlit run`` on this file. The data home comes from
``engine.config.load_settings()``, so ``SPAMOPS_HOME`` picks it. ``Services`` is opened
read-only, once per process (``data.open_services``, ``st.cache_resource``): the dashboard
never writes, never migrates, and reads through short connections, so it runs beside the API
and the console. The page body is a fragment re-run every
``settings.dashboard.refresh_seconds`` (30 s by default, 0 = off); reads are cached per
refresh period in ``data.py``.

Must not: import duckdb/mlflow/sklearn or another UI, or write to the data home.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import streamlit as st

from engine.config import Settings
from engine.errors import SpamopsError
from engine.services import Services
from web_dashboard import data
from web_dashboard.views import NEXT_STEPS, ViewContext, drift, metrics, performance, retraining
from web_dashboard.views import versions as versions_view


def _header(settings: Settings) -> str:
    """The range selector and refresh button; returns the chosen range."""
    st.title("spamops · SMS-spam classifier operations")
    left, middle, right = st.columns([2, 1, 4], vertical_alignment="bottom")
    labels = list(data.RANGES)
    label = left.selectbox("Time range", labels, index=labels.index(data.DEFAULT_RANGE),
                           key="time_range")
    if middle.button("Refresh now", key="refresh"):
        st.cache_data.clear()
    period = settings.dashboard.refresh_seconds
    every = f"refreshes every {period} s" if period else "auto-refresh off"
    right.caption(f"Data home `{settings.home}` · read-only · {every}")
    return str(label)


def _body(services: Services, home: str, label: str) -> None:
    """Everything below the header (re-run by the auto-refresh fragment)."""
    epoch = data.refresh_epoch(services.settings.dashboard.refresh_seconds)
    overview, error = data.safely(data.overview, services, home, epoch)
    if error is not None:
        st.error(error)
        return
    window = data.window_for(label, overview)
    ctx = ViewContext(services=services, home=home, epoch=epoch, window=window,
                      overview=overview)
    since = "the beginning" if window.since is None else f"{window.since:%Y-%m-%d %H:%M}"
    st.caption(f"Showing {since} to {window.until:%Y-%m-%d %H:%M} UTC · read at "
               f"{overview.now:%H:%M:%S} UTC")
    if data.is_empty(overview):
        st.info(f"This data home has no history yet. {NEXT_STEPS}", icon="ℹ️")
    failing, _ = data.safely(data.failing_receivers, services, home, epoch)
    for line in failing or []:
        st.warning(f"Webhook receiver failing — {line}. See `spamops notify status`.",
                   icon="✉️")
    metrics.render(ctx)
    performance.render(ctx)
    drift.render(ctx)
    retraining.render(ctx)
    versions_view.render(ctx)


def main() -> None:
    """Draw the page."""
    st.set_page_config(page_title="spamops dashboard", layout="wide")
    try:
        services = data.open_services(os.environ.get("SPAMOPS_HOME"), str(Path.cwd()))
    except SpamopsError as exc:
        st.error(f"cannot open the data home: {exc}")
        return
    settings = services.settings
    label = _header(settings)
    home = str(settings.home.resolve())
    period = settings.dashboard.refresh_seconds
    body = st.fragment(run_every=timedelta(seconds=period) if period else None)(_body)
    body(services, home, label)


if __name__ == "__main__":  # streamlit runs this file as __main__; importing it draws nothing
    main()
