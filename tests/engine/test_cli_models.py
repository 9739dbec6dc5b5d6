"""The model commands as a user runs them: text, --json, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import run_cli


def test_help_works_on_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import cli

    for name in cli.list_commands(None):  # type: ignore[arg-type]
        result = run_cli(capsys, name, "--help")
        assert result.code == 0, name
        assert "Usage:" in result.out


def test_train_json_prints_version_metrics_and_alias(data_home: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "train", "--json")
    assert result.code == 0, result.err
    body = result.json()
    assert body["version"] == 1
    assert body["aliases"] == ["champion"]
    assert body["champion_version"] == 1
    assert body["metrics"]["accuracy"] >= 0.97
    assert body["metrics"]["f1"] >= 0.90


def test_models_json_lists_versions_with_aliases_and_metrics(
        trained_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = run_cli(capsys, "models", "--json").json()
    assert [v["version"] for v in body] == [1]
    assert body[0]["aliases"] == ["champion"]
    assert body[0]["metrics"]["accuracy"] >= 0.97


def test_predict_file_prints_json_lines(trained_home: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    messages = tmp_path / "messages.txt"
    messages.write_text("URGENT! You have won a 1 week FREE membership, txt WIN to 80086\n\n"
                        "I'll be home late tonight\n")
    lines = run_cli(capsys, "predict", "--file", str(messages), "--json").json_lines()
    assert [line["label"] for line in lines] == ["spam", "ham"]
    assert all(line["model_version"] == 1 for line in lines)
    assert all(0.0 <= line["spam_probability"] <= 1.0 for line in lines)


def test_predict_text_prints_a_readable_line(trained_home: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "predict", "see you at home")
    assert result.code == 0
    assert result.out.startswith("ham")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("predict", "--file", "missing.txt"), "file not found"),
        (("predict",), "either TEXT or --file"),
        (("rollback",), "no previous version"),
        (("promote", "7"), "does not exist"),
    ],
)
def test_errors_are_one_line_without_traceback(trained_home: Path, args: tuple[str, ...],
                                               message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, *args)
    assert result.code != 0
    assert message in result.err
    assert "Traceback" not in result.err + result.out


def test_predict_before_training_says_to_train(data_home: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "predict", "hello")
    assert result.code == 1
    assert result.err.strip() == "error: no champion model yet: run `spamops train` first"


def test_config_show_json_reports_sources(data_home: Path,
                                          capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_THRESHOLDS__DRIFT", "0.2")
    body = run_cli(capsys, "config", "show", "--json").json()
    values = {v["key"]: v for v in body["values"]}
    assert values["thresholds.drift"]["value"] == 0.2
    assert values["thresholds.drift"]["source"] == "env SPAMOPS_THRESHOLDS__DRIFT"
    assert values["home"]["source"] == "env SPAMOPS_HOME"


def test_invalid_config_fails_at_start_naming_the_key(data_home: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_MONITORING__MIN_WINDOW", "-3")
    result = run_cli(capsys, "models")
    assert result.code == 2
    assert "monitoring.min_window" in result.err


def test_data_info_json(data_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = run_cli(capsys, "data", "info", "--json").json()
    assert body["raw_rows"] == 5574
    assert body["distinct_rows"] + body["duplicates_removed"] == 5574
    assert body["n_train"] + body["n_test"] == body["distinct_rows"]
