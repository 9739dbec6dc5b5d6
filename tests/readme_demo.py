"""The README's demo run, shared by the tests that check it: ``scripts/readme_examples.py``
loaded as a module, and ``spamops demo --until DEMO_UNTIL`` run once, in a subprocess as the
script runs it, on a fresh data home.

The README test compares its table and monitor log with the README; the demo tests check the
history it leaves behind (``tests/e2e/test_demo.py``). One run serves both: the demo is the
slowest single thing the suite does, and both want the same fresh run. A subprocess, not
in-process: under coverage's tracer (``make test``) the README test's set-up took 224 s with
the demo in-process against 156 s with it in a subprocess."""

from __future__ import annotations

import importlib.util
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

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


_RUN_RECORDING = """
import pickle, sys
import engine.demo
from engine.cli import main
real_run_demo = engine.demo.run_demo
kept = []
def recording_run_demo(*args, **kwargs):
    summary = real_run_demo(*args, **kwargs)
    kept.append(summary)
    return summary
engine.demo.run_demo = recording_run_demo
try:
    main(sys.argv[2:])
finally:
    with open(sys.argv[1], "wb") as out:
        pickle.dump(kept, out)
"""
"""``spamops ARGS`` as ``readme_examples.spamops`` runs it (``from engine.cli import main;
main()``), plus a pass-through spy on ``engine.demo.run_demo`` that pickles what the command
got back to the file ``argv[1]``."""


def run_readme_demo(workdir: Path) -> ReadmeDemo:
    """Run ``spamops DEMO_ARGS`` in a subprocess on a fresh ``workdir / "demo-home"``, with
    the environment the README script gives its own runs (``readme_examples._env``)."""
    ex = readme_script()
    home = workdir / "demo-home"
    kept = workdir / "summary.pickle"
    done = subprocess.run([sys.executable, "-c", _RUN_RECORDING, str(kept), *ex.DEMO_ARGS],
                          capture_output=True, text=True, env=ex._env(home), cwd=workdir,
                          timeout=1800, check=False)
    summaries = pickle.loads(kept.read_bytes()) if kept.exists() else []
    if done.returncode != 0 or len(summaries) != 1:
        raise AssertionError(f"spamops {' '.join(ex.DEMO_ARGS)} exited {done.returncode}:\n"
                             f"{done.stderr[-2000:]}")
    return ReadmeDemo(home=home, out=done.stdout, summary=summaries[0],
                      run=ex.demo_run_of(done.stdout, home))
