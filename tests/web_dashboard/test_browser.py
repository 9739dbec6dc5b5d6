"""The served dashboard in a real browser (Debian's headless Chromium over the DevTools
protocol, through ``scripts/dashboard_screenshot.py``): read-only, so Streamlit's developer
menu and its "Deploy" button are not there (issue 18)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    sys.path.insert(0, str(REPO / "scripts"))
    spec = importlib.util.spec_from_file_location("dashboard_screenshot",
                                                  REPO / "scripts" / "dashboard_screenshot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="needs Debian's chromium (apt-get install -y chromium)")
def test_the_served_dashboard_has_no_deploy_button(trained_home: Path) -> None:
    shot = _load()
    with shot.serving_dashboard(trained_home) as url, shot.dashboard_page(url) as page:
        testids = page.evaluate(
            "[...document.querySelectorAll('[data-testid]')].map(e => e.dataset.testid)")
        text = page.evaluate("document.body.innerText")
    assert "stApp" in testids and "stMetric" in testids  # the page really rendered
    assert "stAppDeployButton" not in testids
    assert "Deploy" not in text
