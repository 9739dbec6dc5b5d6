"""Fixtures of the dashboard tests: a populated data home built once per session with the real
engine (simulated traffic, a clean check, a drifted check that retrains, an unlabelled check),
copied for each test; and Streamlit caches cleared between tests, because AppTest runs the
script in this process and ``st.cache_*`` would otherwise carry one test's data into the next."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import copy_home, dataset_source

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "web_dashboard" / "app.py"


def run_app() -> AppTest:
    """Run the dashboard script once on the home SPAMOPS_HOME names."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(APP), default_timeout=120).run()


def home_files(home: Path) -> dict[str, tuple[int, int]]:
    """Every file under a data home with its size and modification time (to show nothing was
    written)."""
    return {str(p.relative_to(home)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(home.rglob("*")) if p.is_file()}


def chart_specs(at: AppTest) -> dict[str, dict[str, Any]]:
    """The rendered plotly figures by title (the proto carries the figure as JSON)."""
    specs = {}
    for element in at.get("plotly_chart"):
        spec = _decode_typed_arrays(json.loads(element.proto.spec))
        title = spec["layout"].get("title", {})
        specs[title.get("text", "") if isinstance(title, dict) else str(title)] = spec
    return specs


def _decode_typed_arrays(value: Any) -> Any:
    """Plotly encodes numeric arrays as ``{"dtype", "bdata", "shape"}``: back to lists."""
    if isinstance(value, dict):
        if "bdata" in value and "dtype" in value:
            import base64

            import numpy as np

            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
            if "shape" in value:
                array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
            return array.tolist()
        return {k: _decode_typed_arrays(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_typed_arrays(v) for v in value]
    return value


@pytest.fixture(autouse=True)
def _fresh_streamlit_caches() -> Iterator[None]:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(scope="session")
def _populated_template(_trained_template: Path,
                        tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with history: v1 trained, three checks (measured, drifted with a retrain and a
    comparison, estimated), v2 promoted by an operator."""
    from engine.config import load_settings
    from engine.services import Services

    home = tmp_path_factory.mktemp("populated") / "home"
    copy_home(_trained_template, home)
    services = Services(load_settings(home=home, dataset_url=dataset_source()))
    try:
        services.simulate(messages=600, label_rate=0.5)
        services.check_now(trigger="operator")
        services.simulate(messages=600, drift=0.4, label_rate=0.6, seed=3)
        services.check_now()
        services.simulate(messages=300, seed=5)
        services.check_now(trigger="operator")
        # An operator promotes the retrained challenger, so v2 has a previous version (v1)
        # and the metric cards show a change.
        newest = services.models()[0]
        if not newest.is_champion:
            services.promote(newest.version, actor="test")
    finally:
        services.close()
    return home


@pytest.fixture
def populated_home(data_home: Path, _populated_template: Path) -> Iterator[Path]:
    """A private copy of the populated home, set as SPAMOPS_HOME."""
    copy_home(_populated_template, data_home)
    yield data_home
