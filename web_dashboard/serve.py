"""Start the dashboard server warm: ``python -m web_dashboard.serve [streamlit run options]``.

Owns the dashboard server's start-up (``spamops dashboard`` runs this module). Before Streamlit
listens, and so before ``/_stcore/health`` answers, it pays in this process what the first
session after a start would otherwise pay (issue 8: the first page load took 4-5 s, a later
one about 1 s):

- the page's imports (``web_dashboard.app``: Streamlit, pandas, plotly, ``engine.services``
  and the views);
- the read-only ``Services`` the page uses (``data.open_services``, one per process through
  ``st.cache_resource``, so the page gets this very object), and one ``overview()`` on it:
  that starts MLflow, reads the registry (filling its per-process cache of run data) and
  opens the store.

Then it runs Streamlit's own command line, ``streamlit run web_dashboard/app.py`` with the
given options, in the same process. The per-period data caches (``st.cache_data``) stay
empty: the first session reads the data itself, as every refresh does.

Warming never stops the server from starting: on a fresh or missing home there is little to
do (the page then says what to run next), and any error becomes one line on stderr; the page
shows it properly when it runs.

Must not: write to the data home, compute anything the page shows, or import
duckdb/mlflow/sklearn (they come through ``engine.services``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"
"""The page script Streamlit runs."""


def warm() -> str:
    """Pay the first session's one-time costs in this process; returns what was done.

    Raises whatever opening the home raises (see ``warm_or_skip``).
    """
    began = time.perf_counter()
    import streamlit  # noqa: F401  (creates Streamlit's loggers, which set their own levels)

    # Importing data.py before Streamlit's runtime exists makes Streamlit warn once per cached
    # function ("No runtime found"); the caches themselves are created on first use, inside it.
    chatty = logging.getLogger("streamlit.runtime.caching.cache_data_api")
    level = chatty.level
    chatty.setLevel(logging.ERROR)
    try:
        import web_dashboard.app  # noqa: F401  (the page's imports, paid once per process)
        from web_dashboard import data
    finally:
        chatty.setLevel(level)
    services = data.open_services(os.environ.get("SPAMOPS_HOME"), str(Path.cwd()))
    overview = services.overview()
    return (f"warmed up in {time.perf_counter() - began:.1f} s "
            f"(model versions: {overview.versions}, "
            f"predictions: {overview.predictions_total:,})")


def warm_or_skip() -> str:
    """``warm()``, or the reason it was skipped; the outcome is printed as one line to stderr."""
    try:
        message = warm()
    except Exception as exc:  # warming only saves time: the page reports real errors itself
        message = f"warm-up skipped ({type(exc).__name__}: {exc})"
    print(f"spamops dashboard: {message}", file=sys.stderr, flush=True)
    return message


def main(argv: Sequence[str] | None = None) -> None:
    """Warm this process, then serve ``app.py`` with Streamlit's options ``argv``."""
    options = list(sys.argv[1:] if argv is None else argv)
    warm_or_skip()
    from streamlit.web import cli

    cli.main(["run", str(APP), *options], prog_name="streamlit")


if __name__ == "__main__":
    main()
