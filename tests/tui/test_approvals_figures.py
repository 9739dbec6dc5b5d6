"""The approvals screen shows its figures through the shared formatters (``tui.formatting``):
the accuracy change is the one of the set the gate judged (the set the comparison marks
"decides"), ids and versions as every other screen shows them."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

from rich.console import Console
from textual.widgets import DataTable, Static

from engine.records import Approval
from engine.rules import MIN_RECENT_FOR_DECISION
from tests.tui.conftest import CONSOLE_NOW, wait_for
from tests.tui.helpers import make_console
from tui.formatting import judged_change, points
from tui.screens import ApprovalsScreen


def _set(name: str, n: int, difference: float) -> dict[str, object]:
    metrics = {"accuracy": 0.95, "precision": 0.9, "recall": 0.9, "f1": 0.9}
    return {"name": name, "n": n, "accuracy_difference": difference, "mcnemar_b": 1,
            "mcnemar_c": 4, "mcnemar_p_value": 0.37, "accuracy_low": -0.01,
            "accuracy_high": 0.03, "champion": {"metrics": metrics},
            "challenger": {"metrics": metrics}}


def _approval(comparison: dict[str, object], champion: int | None) -> Approval:
    return Approval(id="0123456789abcdef0123456789abcdef", created_at=datetime(2025, 1, 6, 9),
                    retraining_id="fedcba9876543210fedcba9876543210", challenger_version=3,
                    champion_version=champion, status="pending", comparison=comparison)


# Too few recent labels to decide on: the gate judged the test split.
FEW_RECENT = {"champion_version": 2, "challenger_version": 3, "decided_on": "test_split",
              "sets": [_set("test_split", 1032, 0.012),
                       _set("recent_feedback", MIN_RECENT_FOR_DECISION - 5, 0.08)]}


def test_the_change_shown_is_the_judged_one() -> None:
    assert judged_change(FEW_RECENT) == points(0.012) == "+1.2 pt"
    older = {k: v for k, v in FEW_RECENT.items() if k != "decided_on"}  # before it was stored
    assert judged_change(older) == "+1.2 pt"
    assert judged_change({"sets": []}) == judged_change(None) == "–"


async def test_the_approvals_table_uses_the_shared_formatters(pending_home: Path) -> None:
    app, services = make_console(now=CONSOLE_NOW, poll_seconds=3600)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.pending, what="the pending approval")
            await pilot.press("3")
            await pilot.pause()
            assert isinstance(app.screen, ApprovalsScreen)
            app.approvals_changed.publish([_approval(FEW_RECENT, None)])
            await pilot.pause()
            table: DataTable[str] = app.screen.query_one("#approvals-table", DataTable)
            assert table.get_row_at(0) == ["2025-01-06 09:00", "v3", "–", "+1.2 pt",
                                           "01234567"]
            details = app.screen.query_one("#approval-details", Static)
            console = Console(width=200, file=io.StringIO(), record=True)
            console.print(details.content)
            text = console.export_text()
            assert "Challenger v3 vs champion –, waiting since 2025-01-06 09:00 " \
                   "(retraining fedcba98)" in text
            assert "test_split set (n=1032) · decides" in text
    finally:
        services.close()
