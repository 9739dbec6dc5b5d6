"""SVG snapshots of the overview at 80x24 and 120x40 (pytest-textual-snapshot).

Deterministic: the populated template was built on a simulated clock, its model creation
times are fixed, the console's clock is frozen at ``CONSOLE_NOW``, the scheduler is not hosted
(no next-run times) and the poll never fires again after the first read. Update with
``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the SVGs before
committing them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.tui.conftest import CONSOLE_NOW, wait_for
from tests.tui.helpers import make_console
from tui.app import SpamopsConsole


def _loaded(app: SpamopsConsole) -> Callable[[Pilot[None]], object]:
    async def run_before(pilot: Pilot[None]) -> None:
        await wait_for(pilot, lambda: app.overview is not None and app.snapshot_history
                       and app.history_rows, what="the first reads")
        await pilot.pause(0.2)

    return run_before


class TestOverviewSnapshots:
    """The overview of a populated home."""

    @pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
    def test_overview(self, populated_home: Path, snap_compare: Callable[..., bool],
                      size: tuple[int, int]) -> None:
        """Champion v2 after a drift retrain: card, scheduler, sparklines, latest decision."""
        app, services = make_console(now=CONSOLE_NOW, poll_seconds=3600)
        try:
            assert snap_compare(app, terminal_size=size, run_before=_loaded(app))
        finally:
            services.close()

    def test_empty_home(self, data_home: Path, snap_compare: Callable[..., bool]) -> None:
        """A new installation: what to do next."""
        app, services = make_console(now=CONSOLE_NOW, poll_seconds=3600)

        async def run_before(pilot: Pilot[None]) -> None:
            await wait_for(pilot, lambda: app.overview is not None, what="the first read")
            await pilot.pause(0.2)

        try:
            assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
        finally:
            services.close()
