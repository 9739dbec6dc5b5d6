"""Operating the CLI safely (issue 18): no silent yes, exit codes that tell the truth, one-line
errors, a data home that is chosen rather than stumbled into.

Where the fault lies between processes (a pipe on stdin, a port held by another process, no
terminal) the real `spamops` runs as a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import EXIT_CODES
from tests.cli_helpers import run_cli

SPAMOPS = [sys.executable, "-c", "from engine.cli import main; main()"]


def spamops(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `spamops` in a child process (stdin a pipe unless None: /dev/null)."""
    return subprocess.run(
        [*SPAMOPS, *args], input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd,
        timeout=timeout)


def one_line(err: str) -> str:
    """The single stderr line of a failed command (no traceback, nothing else)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# No silent yes -------------------------------------------------------------------------------

@pytest.mark.parametrize("answer", ["n\n", "y\n", ""])
def test_retrain_piped_any_answer_refuses_and_changes_nothing(trained_home: Path,
                                                               answer: str) -> None:
    run = spamops("retrain", stdin=answer)
    assert run.returncode == 3
    assert one_line(run.stderr) == ("error: `spamops retrain` asks first and stdin is not a "
                                    "terminal, so nothing was done; pass --yes to go ahead "
                                    "without asking")
    history = json.loads(spamops("history", "--json").stdout)
    assert history["retraining"] == []


def test_retrain_json_without_yes_refuses_too(trained_home: Path) -> None:
    run = spamops("retrain", "--json", stdin="")
    assert run.returncode == 3 and run.stdout == ""


def test_demo_fresh_piped_refuses_and_keeps_the_home(trained_home: Path) -> None:
    run = spamops("demo", "--fresh", stdin="y\n")
    assert run.returncode == 3 and "`spamops demo`" in one_line(run.stderr)
    assert (trained_home / "mlflow.db").exists()


# Exit codes ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_failed_retrain_exits_1_and_a_good_one_0(trained_home: Path) -> None:
    dataset = trained_home / "dataset"
    kept = trained_home.parent / "dataset.kept"
    shutil.move(dataset, kept)
    failed = spamops("retrain", "--yes", "--json",
                     env={"SPAMOPS_DATASET_URL": str(trained_home / "missing.zip")})
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["retraining"]["status"] == "failed"
    assert "error: retraining failed:" in failed.stderr and "Traceback" not in failed.stderr
    shutil.move(kept, dataset)
    done = spamops("retrain", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["retraining"]["status"] == "completed"


def test_help_lists_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, "--help")
    assert run.code == 0
    for code, meaning in EXIT_CODES.items():
        assert f"{code:<4} {meaning}" in run.out


def test_readme_documents_the_same_exit_codes() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    for code, meaning in EXIT_CODES.items():
        assert f"| {code} | {meaning} |" in section


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], data_home: Path) -> None:
    assert run_cli(capsys, "history", "--limit", "0").code == 2


# One-line errors, the data home ---------------------------------------------------------------

def test_a_home_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "afile"
    path.write_text("x")
    run = spamops("--home", str(path), "models")
    assert run.returncode == 2
    assert one_line(run.stderr) == (f"error: data home {path} is not a directory; pick another "
                                    "with --home DIR or SPAMOPS_HOME")


@pytest.mark.parametrize("command", [["setup-database"], ["train"], ["data", "fetch"]])
def test_a_home_that_cannot_be_created_is_one_line(tmp_path: Path,
                                                   command: list[str]) -> None:
    (tmp_path / "afile").write_text("x")
    impossible = tmp_path / "afile" / "home"
    run = spamops("--home", str(impossible), *command)
    assert run.returncode == 2
    assert one_line(run.stderr) == (f"error: cannot create data home {impossible}: "
                                    "Not a directory")


@pytest.mark.parametrize("command", [["models"], ["history"], ["predict", "hi"],
                                     ["sql", "SELECT 1"], ["monitor", "--check-now"],
                                     ["dashboard"], ["serve"], ["up"], ["audit", "verify"]])
def test_commands_that_read_refuse_a_missing_home_and_create_nothing(
        tmp_path: Path, command: list[str]) -> None:
    run = spamops(*command, cwd=tmp_path)
    assert run.returncode == 2
    assert one_line(run.stderr) == (
        f"error: no data home at {tmp_path / 'data'}: create it with `spamops setup-database` "
        "(or `spamops demo`), or pick an existing one with --home DIR or SPAMOPS_HOME")
    assert not (tmp_path / "data").exists()


def test_setup_commands_create_the_home_and_say_which(tmp_path: Path) -> None:
    run = spamops("setup-database", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (f"created data home {tmp_path / 'data'} (pick another with --home DIR or "
            "SPAMOPS_HOME)") in run.stderr
    assert (tmp_path / "data" / "spamops.duckdb").exists()
    again = spamops("setup-database", cwd=tmp_path)
    assert "created data home" not in again.stderr


def test_drift_with_its_own_reference_needs_no_home(tmp_path: Path) -> None:
    reference = tmp_path / "ref.txt"
    reference.write_text("\n".join(f"see you at {i} for dinner" for i in range(60)))
    current = tmp_path / "cur.txt"
    current.write_text("\n".join(f"claim your prize {i} now at bit.ly" for i in range(60)))
    run = spamops("drift", "--reference", str(reference), "--current", str(current),
                  "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert not (tmp_path / "data").exists()


def test_export_into_an_unwritable_folder_is_one_line(trained_home: Path,
                                                      tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")  # a path under a file: not writable, even for root
    run = spamops("export", str(tmp_path / "afile" / "out"))
    assert run.returncode == 1
    assert one_line(run.stderr).startswith(f"error: cannot export into {tmp_path}/afile")


def test_reading_a_file_outside_the_home_that_is_a_folder_is_one_line(trained_home: Path,
                                                                       tmp_path: Path) -> None:
    run = spamops("predict", "--file", str(tmp_path))
    assert run.returncode == 2 and "Traceback" not in run.stderr


def test_serve_on_a_busy_port_fails_before_announcing_anything(trained_home: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        run = spamops("serve", "--port", str(port), timeout=60)
    assert run.returncode == 4
    assert one_line(run.stderr) == (f"error: port {port} on 127.0.0.1 is already in use: stop "
                                    "what serves there or pick another with --port")
    assert "spamops API on" not in run.stdout + run.stderr


def test_dashboard_on_a_busy_port_fails_before_announcing_anything(trained_home: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        run = spamops("dashboard", "--port", str(port), timeout=60)
    assert run.returncode == 4 and "already in use" in one_line(run.stderr)


def test_console_refuses_without_a_terminal(trained_home: Path) -> None:
    run = spamops("console", timeout=60)  # stdin is /dev/null
    assert run.returncode == 2
    assert one_line(run.stderr).startswith("error: the console needs a terminal")
    assert "\x1b[" not in run.stdout  # no escape codes written into the pipe


def test_an_unexpected_failure_is_still_one_line(data_home: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.services import Services

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(Services, "models", broken)
    run = run_cli(capsys, "models")
    assert run.code == 1
    assert one_line(run.err) == ("internal error: RuntimeError: boom (SPAMOPS_DEBUG=1 shows "
                                 "the traceback)")
