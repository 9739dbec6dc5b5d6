"""Labels in bulk: `spamops feedback import FILE`, all or nothing, idempotent, conflicts kept
and flagged. Real history on both backends (DuckDB, PostgreSQL), real champion.
`POST /feedback/batch`: tests/server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli_helpers import CliRun, run_cli
from tests.postgres import migrate_to_postgres

Cli = Callable[..., CliRun]
TEXTS = ["see you at the station at 6", "WINNER! claim your free prize now, call 0906",
         "can you pick up milk", "see you at the station at 6"]


@pytest.fixture
def spamops(trained_home: Path, capsys: pytest.CaptureFixture[str], store_url: str | None,
            monkeypatch: pytest.MonkeyPatch) -> Cli:
    if store_url is not None:  # the home moved to PostgreSQL, as `spamops store migrate` does
        migrate_to_postgres(trained_home, store_url)
        monkeypatch.setenv("SPAMOPS_STORE__URL", store_url)

    def run(*args: str) -> CliRun:
        return run_cli(capsys, *args)
    return run


@pytest.fixture
def predicted(spamops: Cli, tmp_path: Path) -> list[dict[str, str]]:
    """Four logged predictions, made with `predict --file` on a CSV with a `message` column."""
    source = tmp_path / "traffic.csv"
    source.write_text("message,other\n" + "".join(f'"{t}",x\n' for t in TEXTS))
    result = spamops("predict", "--file", str(source), "--json")
    assert result.code == 0, result.err
    return [json.loads(line) for line in result.out.splitlines()]


def labels_in_history(spamops: Cli) -> list[dict[str, object]]:
    out = spamops("sql", "SELECT prediction_id, label, conflict, previous_label FROM feedback "
                         "ORDER BY id", "--json").json()
    return list(out["rows"])


def test_import_by_id_is_idempotent_and_conflicts_are_flagged(
        spamops: Cli, predicted: list[dict[str, str]], tmp_path: Path) -> None:
    ids = [p["prediction_id"] for p in predicted]
    first = tmp_path / "labels.csv"
    first.write_text("prediction_id,label\n" + f"{ids[0]},ham\n{ids[1]},Smishing\n")
    done = spamops("feedback", "import", str(first), "--json")
    assert done.code == 0, done.err
    assert done.json() == {"received": 2, "matched_predictions": 2, "added": 2,
                           "unchanged": 0, "conflicts": 0}
    again = spamops("feedback", "import", str(first), "--json").json()
    assert again["added"] == 0 and again["unchanged"] == 2
    changed = tmp_path / "changed.csv"
    changed.write_text(f"prediction_id,label\n{ids[0]},spam\n")
    conflict = spamops("feedback", "import", str(changed))
    assert conflict.code == 0 and "1 contradicting an earlier label" in conflict.out
    rows = labels_in_history(spamops)
    assert [(r["label"], r["conflict"], r["previous_label"]) for r in rows] == [
        ("ham", False, None), ("spam", False, None), ("spam", True, "ham")]
    latest = spamops("sql", f"SELECT true_label FROM predictions WHERE id = '{ids[0]}'",
                     "--json").json()
    assert latest["rows"] == [{"true_label": "spam"}]  # the newest label counts


def test_import_by_exact_text_labels_every_matching_prediction(
        spamops: Cli, predicted: list[dict[str, str]], tmp_path: Path) -> None:
    source = tmp_path / "by_text.tsv"
    source.write_text(f"text\tclass\n{TEXTS[0]}\tham\n{TEXTS[2]}\t0\n")
    done = spamops("feedback", "import", str(source), "--json").json()
    assert done["received"] == 2 and done["matched_predictions"] == 3 and done["added"] == 3


def test_a_bad_file_records_nothing_and_lists_the_lines(
        spamops: Cli, predicted: list[dict[str, str]], tmp_path: Path) -> None:
    ids = [p["prediction_id"] for p in predicted]
    source = tmp_path / "bad.csv"
    source.write_text(f"prediction_id,label\n{ids[0]},ham\nnope-1,spam\n{ids[1]},spam\n"
                      "nope-2,ham\n")
    result = spamops("feedback", "import", str(source))
    assert result.code != 0 and result.out == ""
    error = result.err.strip().splitlines()[-1]
    assert "nothing recorded" in error and "unknown prediction ids at line 3, line 5" in error
    texts = tmp_path / "texts.csv"
    texts.write_text(f"text,label\n{TEXTS[0]},ham\nnever sent,spam\n")
    unmatched = spamops("feedback", "import", str(texts))
    assert "texts matching no logged prediction at line 3" in unmatched.err
    labels = tmp_path / "labels.csv"
    labels.write_text(f"prediction_id,label\n{ids[0]},maybe\n")
    assert "'maybe' (1)" in spamops("feedback", "import", str(labels)).err
    assert labels_in_history(spamops) == []


def test_single_labels_still_work(spamops: Cli, predicted: list[dict[str, str]]) -> None:
    result = spamops("feedback", predicted[0]["prediction_id"], "spam")
    assert result.code == 0 and "is spam" in result.out
    assert spamops("feedback", "--help").code == 0
    assert spamops("feedback", "import", "--help").code == 0
