"""An unknown dataset name lists the datasets this home holds, never one it does not, and
says how to get the UCI corpus while it has not been fetched."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import CliRun, run_cli


def _spamops(capsys: pytest.CaptureFixture[str], *args: str) -> CliRun:
    return run_cli(capsys, *args)


def _small_csv(path: Path) -> Path:
    rows = [("ham", f"see you at {h} then bring the {h} books") for h in range(60)]
    rows += [("spam", f"WIN {h}000 cash now text CLAIM to 8{h}0{h}") for h in range(60)]
    path.write_text("label,text\n" + "".join(f"{lab},{txt}\n" for lab, txt in rows),
                    encoding="utf-8")
    return path


def _one_line(run: CliRun) -> str:
    assert run.code != 0
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in run.err, run.err
    return lines[0]


def test_an_empty_home_lists_nothing_and_says_how_to_get_uci(
        data_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_line(_spamops(capsys, "train", "--dataset", "nosuch"))
    assert "no dataset named 'nosuch' (this home has no dataset yet)" in line
    assert "`spamops data fetch` gets the UCI corpus" in line
    assert "uci," not in line and "known" not in line
    assert not (data_home / "dataset" / "SMSSpamCollection").exists()  # nothing fetched


def test_the_list_follows_what_the_home_holds(data_home: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert _spamops(capsys, "data", "import", str(_small_csv(tmp_path / "m.csv")),
                    "--name", "mine").code == 0
    line = _one_line(_spamops(capsys, "train", "--dataset", "mien"))
    assert "(this home has mine); did you mean 'mine'?" in line
    assert "`spamops data fetch` gets the UCI corpus" in line
    assert _spamops(capsys, "data", "fetch").code == 0
    line = _one_line(_spamops(capsys, "train", "--dataset", "nosuch"))
    assert "(this home has uci, mine)" in line
    assert "data fetch" not in line
