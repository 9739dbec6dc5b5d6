"""Run the real `spamops` entry point in-process and capture what a user would see."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from engine.cli import main


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> CliRun:
    """Call `spamops ARGS...` and return exit code, stdout and stderr."""
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return CliRun(code, captured.out, captured.err)
