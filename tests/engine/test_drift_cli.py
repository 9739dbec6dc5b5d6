"""`spamops drift`: the stable CLI contract, file formats and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.dataset import Dataset, DatasetSplit
from engine.errors import InvalidInput
from engine.files import read_messages, read_windows
from engine.traffic import mix
from tests.cli_helpers import run_cli
from tests.conftest import dataset_source

CONTRACT_KEYS = {"source", "n", "vocabulary_drift", "tfidf_drift", "prediction_drift",
                 "drift_score", "drift_detected", "threshold", "p_value", "new_patterns",
                 "recommendation", "timestamp"}


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> DatasetSplit:
    return Dataset(dataset_source(), tmp_path_factory.mktemp("dataset")).split()


def write_lines(path: Path, texts: list[str]) -> Path:
    path.write_text("\n".join(t.replace("\n", " ") for t in texts) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path, split: DatasetSplit) -> tuple[Path, Path]:
    reference = write_lines(tmp_path / "reference.txt", split.train_texts)
    windows = tmp_path / "windows"
    windows.mkdir()
    for name, fraction in (("b_drifted", 0.4), ("a_clean", 0.0)):
        texts = [m.text for m in mix(split.test_texts, None, n=300, fraction=fraction, seed=1)]
        write_lines(windows / f"{name}.txt", texts)
    (windows / "notes.md").write_text("not a window")
    return reference, windows


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    result = run_cli(capsys, *argv)
    return result.code, result.out, result.err


def test_json_has_one_object_per_window_in_input_order(
        data_home: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    reference, windows = files
    code, out, err = run(["drift", "--reference", str(reference), "--current", str(windows),
                          "--current", str(windows / "b_drifted.txt"), "--json"], capsys)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [Path(r["source"]).name for r in rows] == ["a_clean.txt", "b_drifted.txt",
                                                       "b_drifted.txt"]
    for row in rows:
        assert row.keys() >= CONTRACT_KEYS
        assert row["n"] == 300 and row["prediction_drift"] is None  # no model in this home
    clean, drifted = rows[0], rows[1]
    assert not clean["drift_detected"] and clean["recommendation"] == "NO_ACTION"
    assert drifted["drift_detected"] and drifted["recommendation"] == "RETRAIN"
    assert all({"term", "count"} <= p.keys() for p in drifted["new_patterns"])
    assert not (data_home / "mlflow.db").exists()


def test_readable_report(data_home: Path, files: tuple[Path, Path],
                         capsys: pytest.CaptureFixture[str]) -> None:
    reference, windows = files
    code, out, _ = run(["drift", "--reference", str(reference),
                        "--current", str(windows / "b_drifted.txt")], capsys)
    assert code == 0
    assert "Vocabulary Drift: " in out and "(> 0.15 threshold) DRIFT DETECTED" in out
    assert "New patterns detected: ['" in out
    assert "Recommendation: RETRAIN" in out


def test_default_reference_is_the_champion_training_data(
        trained_home: Path, files: tuple[Path, Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    _, windows = files
    code, out, err = run(["drift", "--current", str(windows / "a_clean.txt"), "--json"], capsys)
    assert code == 0, err
    row = json.loads(out)
    assert row["model_version"] == 1 and row["reference_size"] > 4000
    assert row["prediction_drift"] is not None and row["spam_rate"] is not None
    assert not row["drift_detected"]
    assert list((trained_home / "cache" / "drift").glob("v1-*.joblib"))


@pytest.mark.parametrize("content, problem", [
    ("", "has no messages"),
    ("\n  \n", "has no messages"),
    (None, "file not found"),
    (b"hello\x00\x81bad", "byte 5 (0x00) is NUL"),
])
def test_bad_input_is_one_error_line_and_non_zero_exit(
        data_home: Path, tmp_path: Path, files: tuple[Path, Path], content: str | bytes | None,
        problem: str, capsys: pytest.CaptureFixture[str]) -> None:
    reference, _ = files
    bad = tmp_path / "bad.txt"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    elif content is not None:
        bad.write_text(content)
    code, out, err = run(["drift", "--reference", str(reference), "--current", str(bad)],
                         capsys)
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and problem in err


def test_directory_without_windows_is_refused(data_home: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "ref.txt").write_text("hello there\n" * 30)
    code, _, err = run(["drift", "--reference", str(tmp_path / "ref.txt"),
                        "--current", str(tmp_path / "empty")], capsys)
    assert code != 0 and "no *.txt" in err


def test_message_file_formats(tmp_path: Path) -> None:
    csv_file = tmp_path / "m.csv"
    csv_file.write_text('id,text\n1,"hello, world"\n2,second one\n')
    assert read_messages(csv_file) == ["hello, world", "second one"]
    tsv = tmp_path / "m.tsv"
    tsv.write_text("label\ttext\nham\tfirst\nspam\tsecond\n")
    assert read_messages(tsv) == ["first", "second"]
    uci = tmp_path / "SMSSpamCollection"
    uci.write_text("ham\tGo until jurong point\nspam\tFree entry in 2 a wkly comp\n")
    assert read_messages(uci) == ["Go until jurong point", "Free entry in 2 a wkly comp"]
    plain = tmp_path / "p.txt"
    plain.write_text("one message\n\nanother, with a comma\n")
    assert read_messages(plain) == ["one message", "another, with a comma"]
    assert read_windows(plain) == [(str(plain), ["one message", "another, with a comma"])]
    no_text = tmp_path / "x.csv"
    no_text.write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInput, match="has no text column"):
        read_messages(no_text)


TWO_SCAMS = ["URGENT your parcel is held, pay the fee at https://parcel-track.xyz/ab12 now",
             "Your Monzo account is locked, verify at https://monzo-secure.top/login today"]


def test_two_messages_are_insufficient_data_not_a_retrain(
        trained_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    window = write_lines(tmp_path / "two.txt", TWO_SCAMS)
    code, out, err = run(["drift", "--current", str(window), "--json"], capsys)
    assert code == 0, err
    row = json.loads(out)
    assert row["n"] == 2 and row["recommendation"] == "INSUFFICIENT_DATA"
    assert row["reason"] == ("Window of 2 messages is below the minimum of 200, so no drift "
                             "or accuracy judgement was made.")
    # Not judged is not an alert: a script reading `drift_detected` must not fire on two
    # messages (the same window with --min-window 2 is flagged).
    assert row["drift_detected"] is False and row["drift_components"] == []
    code, out, _ = run(["drift", "--current", str(window), "--min-window", "2", "--json"],
                       capsys)
    judged = json.loads(out)
    assert judged["drift_detected"] is True and judged["drift_components"]
    code, out, _ = run(["drift", "--current", str(window)], capsys)
    assert "Recommendation: INSUFFICIENT_DATA" in out and "Reason: Window of 2" in out
    assert "DRIFT DETECTED" not in out


def test_min_window_option_overrides_the_setting(
        trained_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    window = write_lines(tmp_path / "two.txt", TWO_SCAMS)
    code, out, err = run(["drift", "--current", str(window), "--min-window", "2", "--json"],
                         capsys)
    assert code == 0, err
    row = json.loads(out)
    assert row["recommendation"] in ("RETRAIN", "NO_ACTION")
    assert row["reason"] is None or "spam rate" in row["reason"]  # never INSUFFICIENT_DATA
    code, _, err = run(["drift", "--current", str(window), "--min-window", "0"], capsys)
    assert code != 0 and "--min-window" in err
