"""The README's demo run, shared by the tests that check it: ``scripts/readme_examples.py``
loaded as a module, and ``spamops demo --until DEMO_UNTIL`` run once through the real CLI
entry point (in-process, so coverage sees it) on a fresh data home.

The README test compares its table and monitor log with the README; the demo tests check the
history it leaves behind (``tests/e2e/test_demo.py``). One run serves both: the demo is the
slowest single thing the suite does, and both want the same fresh run."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from engine.demo import DemoSummary

REPO = Path(__file__).resolve().parent.parent


def readme_script() -> ModuleType:
    """``scripts/readme_examples.py`` as the module ``readme_examples`` (loaded once)."""
    loaded = sys.modules.get("readme_examples")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("readme_examples",
                                                  REPO / "scripts" / "readme_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["readme_examples"] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class ReadmeDemo:
    """One finished ``spamops demo --until DEMO_UNTIL`` run."""

    home: Path
    out: str
    """What the command printed on stdout (the monitor lines, then the tables)."""
    summary: DemoSummary
    """What ``engine.demo.run_demo`` returned to the command."""
    run: Any
    """``readme_examples.DemoRun``: the table and the monitor log, as the README shows them."""


def run_readme_demo(workdir: Path, dataset_url: str) -> ReadmeDemo:
    """Run ``spamops DEMO_ARGS`` in-process on ``workdir / "demo-home"`` (environment as the
    script's own subprocess gets it: only SPAMOPS_HOME and SPAMOPS_DATASET_URL of ours)."""
    import engine.demo
    from engine.cli import main

    ex = readme_script()
    home = workdir / "demo-home"
    summaries: list[DemoSummary] = []
    real_run_demo = engine.demo.run_demo

    def recording_run_demo(*args: Any, **kwargs: Any) -> DemoSummary:
        summary = real_run_demo(*args, **kwargs)
        summaries.append(summary)
        return summary

    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("SPAMOPS_"):
                mp.delenv(key)
        mp.setenv("SPAMOPS_HOME", str(home))
        mp.setenv("SPAMOPS_DATASET_URL", dataset_url)
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        mp.setenv("DO_NOT_TRACK", "true")
        mp.chdir(workdir)
        # A pass-through spy: the command runs the real demo, we keep what it returned.
        mp.setattr(engine.demo, "run_demo", recording_run_demo)
        code: object = 0
        with contextlib.redirect_stdout(out):
            try:
                main(list(ex.DEMO_ARGS))
            except SystemExit as exc:
                code = exc.code
    if code not in (0, None) or len(summaries) != 1:
        raise AssertionError(f"spamops {' '.join(ex.DEMO_ARGS)} exited {code}:\n"
                             f"{out.getvalue()[-2000:]}")
    return ReadmeDemo(home=home, out=out.getvalue(), summary=summaries[0],
                      run=ex.demo_run_of(out.getvalue(), home))
