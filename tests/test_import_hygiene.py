"""The engine stays usable without any UI, and start-up paths stay cheap.

The import-linter contracts in pyproject.toml check the static graph; this checks what is
really loaded, because deferred imports are invisible to the static graph."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

UI_FRAMEWORKS = ("textual", "streamlit", "fastapi", "server", "tui", "web_dashboard")
HEAVY = ("mlflow", "sklearn", "duckdb", "apscheduler", "pandas", "psycopg")


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return {name.split(".")[0] for name in json.loads(out.splitlines()[-1])}


@pytest.mark.parametrize("module", ["engine", "engine.services", "engine.cli"])
def test_engine_imports_no_ui_framework(module: str) -> None:
    loaded = _loaded_after(f"import {module}")
    assert not loaded & set(UI_FRAMEWORKS)


@pytest.mark.parametrize("module", ["engine", "engine.services", "engine.store"])
def test_the_duckdb_default_never_loads_psycopg(module: str) -> None:
    """psycopg is loaded only by the PostgreSQL backend, when a store URL asks for it."""
    loaded = _loaded_after(f"import {module}")
    assert not loaded & {"psycopg", "psycopg_pool", "psycopg_binary"}


def test_cli_start_up_loads_no_heavy_machinery() -> None:
    loaded = _loaded_after("import engine.cli")
    assert not loaded & set(HEAVY)
