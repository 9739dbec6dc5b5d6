"""Check or regenerate the README's examples from real runs (issue 18: a README that cannot
go stale).

A checked block is a fenced code block right after an HTML comment naming it::

    <!-- readme-example: NAME -->
    ```console
    ...
    ```

``demo-table``
    the table `spamops demo --until DEMO_UNTIL` prints (default seed 42), on a fresh home.
``monitor-log``
    lines of that run's ``logs/monitor.log``: every README line must appear, in order.
``api-open`` / ``api-keyed``
    a console session: each ``$ command`` (``\\`` continues a line) is run by bash against a
    real ``spamops serve`` on a free port of a freshly trained home (``localhost:8000`` is
    rewritten to that port), without and then with ``SPAMOPS_API_KEY``; its output must
    match the lines under it. ``spamops`` commands in a session run on the same home.

Values that legitimately differ between runs are normalised on both sides, never skipped:
32-hex prediction and record ids (numbered by first appearance, so an id reused in a later
command must be the same id), API key ids (``api:1a2b3c4d``), ISO timestamps, uptimes and
durations. Everything else must match exactly.

Usage: ``python scripts/readme_examples.py`` checks (exit 1 and a diff when stale);
``--write`` rewrites the blocks with the new outputs. ``tests/docs/test_readme_examples.py``
runs the same check under ``make test``.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DEMO_UNTIL = "2026-11-27"
"""The day the README's demo week ends: with the default seed it reproduces the table."""

BLOCK = re.compile(r"<!-- readme-example: (?P<name>[a-z-]+) -->\n```[a-z]*\n(?P<body>.*?)\n```",
                   re.DOTALL)
LOG_LINES = ("Drift metrics:", "New patterns detected:", "Accuracy:", "Decision:",
             "Training challenger", "New model accuracy:", "Deployment decision:")
"""Which monitor.log lines the ``monitor-log`` excerpt shows (for ``--write``)."""

_HEX32 = re.compile(r"\b[0-9a-f]{32}\b")
_KEY_ID = re.compile(r"api:[0-9a-f]{8}\b")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?")
_UPTIME = re.compile(r'"uptime_seconds":\s*[0-9.]+')
_SECONDS = re.compile(r"\(\d+ s\)")


def normalise(text: str) -> str:
    """``text`` with what legitimately varies between runs replaced by stable placeholders."""
    ids: dict[str, str] = {}

    def number(match: re.Match[str]) -> str:
        return ids.setdefault(match.group(0), f"<id{len(ids) + 1}>")

    text = _HEX32.sub(number, text)
    text = _KEY_ID.sub("api:<key id>", text)
    text = _TIMESTAMP.sub("<time>", text)
    text = _UPTIME.sub('"uptime_seconds":<n>', text)
    return _SECONDS.sub("(<n> s)", text)


def blocks(readme: str) -> dict[str, str]:
    """The checked blocks of ``readme`` by name."""
    return {m.group("name"): m.group("body") for m in BLOCK.finditer(readme)}


def replace_block(readme: str, name: str, body: str) -> str:
    """``readme`` with block ``name`` holding ``body``."""
    def swap(match: re.Match[str]) -> str:
        if match.group("name") != name:
            return match.group(0)
        return match.group(0).replace(match.group("body"), body, 1)

    return BLOCK.sub(swap, readme)


# Running things ------------------------------------------------------------------------------

def _env(home: Path, **extra: str) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPAMOPS_")}
    shared = REPO.parent / "shared" / "data" / "sms+spam+collection.zip"
    env.update(SPAMOPS_HOME=str(home), PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
               MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true",
               SPAMOPS_DATASET_URL=os.environ.get("SPAMOPS_DATASET_URL") or str(shared))
    env.update(extra)
    return env


def spamops(home: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run the real ``spamops`` on ``home``; its stdout (raises with stderr on failure)."""
    run = subprocess.run([sys.executable, "-c", "from engine.cli import main; main()", *args],
                         capture_output=True, text=True, env=env or _env(home), timeout=1800)
    if run.returncode != 0:
        raise RuntimeError(f"spamops {' '.join(args)} exited {run.returncode}: {run.stderr}")
    return run.stdout


@dataclass(frozen=True)
class DemoRun:
    """What one `spamops demo --until DEMO_UNTIL` printed and logged."""

    table: str
    log: list[str]


DEMO_ARGS = ("demo", "--until", DEMO_UNTIL)
"""The arguments of the README's demo run (``spamops demo --until DEMO_UNTIL``)."""


def run_demo(workdir: Path) -> DemoRun:
    """`spamops demo --until DEMO_UNTIL` on a fresh home under ``workdir``."""
    home = workdir / "demo-home"
    return demo_run_of(spamops(home, *DEMO_ARGS), home)


def demo_run_of(out: str, home: Path) -> DemoRun:
    """The table in ``out`` (what `spamops demo` printed) and ``home``'s monitor log.

    ``tests/conftest.py`` runs the same command in-process once per test session and hands
    the result to :func:`fresh_outputs` (the demo tests check that run's history too)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("day "))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    log = (home / "logs" / "monitor.log").read_text(encoding="utf-8").splitlines()
    return DemoRun("\n".join(lines[start:end]), log)


def log_excerpt(log: list[str]) -> str:
    """The README excerpt: the logged steps of the first check that deployed a challenger."""
    deploy = next(i for i, line in enumerate(log) if "Deployment decision: DEPLOY" in line)
    first = max(i for i in range(deploy) if "Drift metrics:" in log[i])
    return "\n".join(line for line in log[first:deploy + 1]
                     if any(f"] {p}" in line for p in LOG_LINES))


def log_mismatch(excerpt: str, log: list[str]) -> str | None:
    """``None`` when every excerpt line appears in ``log`` in order, else the first missing."""
    position = 0
    for line in excerpt.splitlines():
        try:
            position = log.index(line, position) + 1
        except ValueError:
            return line
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(home: Path, env: dict[str, str]) -> Iterator[int]:
    """A real ``spamops serve`` on a free port of ``home``; yields the port."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "from engine.cli import main; main()", "serve", "--port",
         str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"spamops serve exited: {server.communicate()[1]}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError("spamops serve did not start within 180 s")
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@dataclass(frozen=True)
class Step:
    """One ``$ command`` of a console block and the output shown under it."""

    command: str
    output: str


def parse_session(body: str) -> list[Step]:
    """The steps of a console block (``$ `` starts a command, ``\\`` continues it)."""
    steps: list[Step] = []
    command: list[str] = []
    output: list[str] = []
    continuing = False
    for line in body.splitlines():
        if continuing:
            command.append(line)
            continuing = line.endswith("\\")
        elif line.startswith("$ "):
            if command:
                steps.append(Step("\n".join(command), "\n".join(output).strip("\n")))
            command, output = [line[2:]], []
            continuing = line.endswith("\\")
        else:
            output.append(line)
    if command:
        steps.append(Step("\n".join(command), "\n".join(output).strip("\n")))
    return steps


def render_session(steps: list[Step]) -> str:
    """A console block from its steps (a blank line between steps)."""
    return "\n\n".join(f"$ {s.command}\n{s.output}" if s.output else f"$ {s.command}"
                       for s in steps)


def run_session(steps: list[Step], port: int, env: dict[str, str], cwd: Path) -> list[Step]:
    """Run each step's command with bash against ``port``; the steps with real outputs.

    Ids shown in the README's earlier outputs are replaced in later commands by the ids the
    real run returned at the same place, so `feedback` sends the id `predict` gave.
    """
    real_ids: dict[str, str] = {}
    ran: list[Step] = []
    for step in steps:
        shown = step.command
        for readme_id, real_id in real_ids.items():
            shown = shown.replace(readme_id, real_id)
        result = subprocess.run(
            ["bash", "-c", shown.replace("localhost:8000", f"localhost:{port}")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd,
            timeout=600)
        output = result.stdout.strip("\n")
        real_ids.update(zip(_HEX32.findall(step.output), _HEX32.findall(output), strict=False))
        ran.append(Step(shown, output))
    return ran


def run_api_sessions(workdir: Path, sessions: dict[str, str]) -> dict[str, str]:
    """Run the ``api-open`` then the ``api-keyed`` block on one freshly trained home."""
    home = workdir / "api-home"
    spamops(home, "train")
    results: dict[str, str] = {}
    key = secrets.token_urlsafe(24)
    for name, extra in (("api-open", {}), ("api-keyed", {"SPAMOPS_API_KEY": key})):
        if name not in sessions:
            continue
        env = _env(home, **extra)
        with serving(home, env) as port:
            ran = run_session(parse_session(sessions[name]), port, env, workdir)
        results[name] = render_session(ran)
    return results


# Check and write -----------------------------------------------------------------------------

Generator = Callable[[Path], dict[str, str]]


def fresh_outputs(readme: str, workdir: Path, only: set[str] | None = None,
                  demo: DemoRun | None = None) -> dict[str, str]:
    """Every checked block (or those in ``only``) as a real run prints it now. ``demo`` is a
    finished `spamops demo --until DEMO_UNTIL` run on a fresh home (default: run it now)."""
    current = {k: v for k, v in blocks(readme).items() if only is None or k in only}
    fresh: dict[str, str] = {}
    if "demo-table" in current or "monitor-log" in current:
        demo = demo or run_demo(workdir)
        fresh["demo-table"] = demo.table
        excerpt = current.get("monitor-log", "")
        fresh["monitor-log"] = (excerpt if excerpt and log_mismatch(excerpt, demo.log) is None
                                else log_excerpt(demo.log))
    fresh.update(run_api_sessions(workdir, {k: v for k, v in current.items()
                                            if k.startswith("api-")}))
    return fresh


def stale_blocks(readme: str, fresh: dict[str, str], only: set[str] | None = None
                 ) -> dict[str, str]:
    """Name -> unified diff of every block whose normalised text differs from a real run."""
    stale: dict[str, str] = {}
    for name, body in blocks(readme).items():
        if only is not None and name not in only:
            continue
        if name not in fresh:
            stale[name] = f"no generator for block {name!r}"
            continue
        want, got = normalise(body), normalise(fresh[name])
        if want != got:
            stale[name] = "\n".join(difflib.unified_diff(
                want.splitlines(), got.splitlines(), "README.md", "real run", lineterm=""))
    return stale


def main(argv: list[str] | None = None) -> int:
    """Check the README's examples (exit 1 when stale) or, with --write, regenerate them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite stale blocks in place")
    parser.add_argument("--keep", type=Path, default=None,
                        help="work in this directory and keep it (default: a temporary one)")
    parser.add_argument("--only", default=None,
                        help="comma-separated block names (default: every block)")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    readme = README.read_text(encoding="utf-8")
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="spamops-readme-"))
    try:
        fresh = fresh_outputs(readme, workdir, only)
        stale = stale_blocks(readme, fresh, only)
        if args.write:
            for name in stale:
                if name in fresh:
                    readme = replace_block(readme, name, fresh[name])
            README.write_text(readme, encoding="utf-8")
            print(f"rewrote {len(stale)} block(s): {', '.join(stale) or '-'}")
            return 0
        for name, diff in stale.items():
            print(f"README block {name!r} is stale:\n{diff}\n")
        print("README examples match a real run" if not stale else
              "run `python scripts/readme_examples.py --write` and review the diff")
        return 1 if stale else 0
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
