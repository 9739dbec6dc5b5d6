"""The dashboard launcher (``web_dashboard.serve``): the warm-up it does before Streamlit
listens, on an empty, a populated and a broken data home, and that the page then runs on the
very ``Services`` the warm-up opened."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.web_dashboard.conftest import home_files, run_app
from web_dashboard import data, serve


def _page_services() -> object:
    """The ``Services`` the page gets (the key ``app.main`` uses)."""
    return data.open_services(os.environ.get("SPAMOPS_HOME"), str(Path.cwd()))


def test_warm_up_on_an_empty_home_writes_nothing_and_the_page_still_says_what_to_do(
        data_home: Path) -> None:
    message = serve.warm_or_skip()
    assert message.startswith("warmed up"), message
    assert "model versions: 0, predictions: 0" in message
    assert list(data_home.iterdir()) == []
    at = run_app()
    assert not at.exception
    assert any("no history yet" in str(info.value) for info in at.info)
    assert list(data_home.iterdir()) == []


def test_warm_up_opens_the_services_the_page_then_uses(populated_home: Path) -> None:
    before = home_files(populated_home)
    message = serve.warm()
    assert "model versions: 2, predictions: 1,500" in message
    warmed = _page_services()
    at = run_app()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 3
    assert _page_services() is warmed
    assert home_files(populated_home) == before


@pytest.mark.parametrize("damage", ["not a database", ""])
def test_warm_up_on_a_broken_home_is_skipped_with_one_line(
        data_home: Path, damage: str, capsys: pytest.CaptureFixture[str]) -> None:
    (data_home / "spamops.duckdb").write_text(damage)
    message = serve.warm_or_skip()
    assert message.startswith("warm-up skipped ("), message
    assert capsys.readouterr().err == f"spamops dashboard: {message}\n"
