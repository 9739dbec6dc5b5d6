"""`spamops replay`: a file's traffic through the real engine on a simulated clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from engine.config import load_settings
from engine.dataset import Dataset, DatasetSplit
from engine.errors import InvalidInput
from engine.files import messages_of, read_table
from engine.replay import parse_rate, run_replay
from engine.services import Services
from tests.cli_helpers import CliRun, run_cli
from tests.conftest import copy_home, dataset_source

Cli = Callable[..., CliRun]
START = datetime(2024, 3, 4, 0, 0)


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> DatasetSplit:
    return Dataset(dataset_source(), tmp_path_factory.mktemp("uci")).split()


@pytest.fixture
def six_hourly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checks every 6 simulated hours, as the demo runs them (fewer checks, same loop)."""
    monkeypatch.setenv("SPAMOPS_MONITORING__INTERVAL_MINUTES", "360")


def traffic_file(path: Path, split: DatasetSplit, n: int, days: float) -> Path:
    """``n`` held-out messages with labels and times spread over ``days`` from START."""
    step = timedelta(days=days) / n
    frame = pd.DataFrame({
        "received_at": [(START + step * i).isoformat() + "Z" for i in range(n)],
        "label": [label.upper() for label in split.test_labels[:n]],
        "message": split.test_texts[:n]})
    frame.sample(frac=1, random_state=3).to_csv(path, index=False)  # out of order on purpose
    return path


def test_replay_runs_the_loop_and_reports_each_day(
        trained_home: Path, six_hourly: None, split: DatasetSplit, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    source = traffic_file(tmp_path / "log.csv", split, 600, days=2)
    result = run_cli(capsys, "replay", str(source), "--label-rate", "0.5", "--quiet")
    assert result.code == 0, result.err
    lines = result.out.strip().splitlines()
    assert lines[0].split()[:3] == ["day", "traffic", "spam"]
    assert lines[1].startswith("Mon 04 Mar") and lines[2].startswith("Tue 05 Mar")
    # The champion trained before the replay (its alias move is dated by the wall clock,
    # after the file's days) served every replayed day: v1, not "-".
    assert all(" v1 " in line for line in lines[1:3]), lines
    assert "replayed 600 of 600 messages" in lines[-1]
    assert "text column `message`, label column `label`, timestamp column `received_at`" \
        in result.err
    services = Services(load_settings(), read_only=True)
    try:
        logged = services.sql("SELECT count(*), min(ts), max(ts), count(true_label) "
                              "FROM predictions WHERE source = 'replay'").rows[0]
        assert logged[0] == 600 and logged[1] == START
        assert logged[2] == START + timedelta(days=2) / 600 * 599
        assert 200 < logged[3] < 400  # label rate 0.5
        runs = services.job_runs(100)
        assert "monitor" in {r.job for r in runs} and len(runs) >= 8
        assert all(START <= r.started_at <= START + timedelta(days=2, hours=1) for r in runs)
        assert any(d.window_size >= 200 for d in services.decisions(100))
    finally:
        services.close()


def _history(home: Path) -> dict[str, list[tuple[object, ...]]]:
    """What a replay logged and decided, without the random ids and the measured latency."""
    services = Services(load_settings(home=home), read_only=True)
    queries = {
        "predictions": "SELECT ts, text, model_version, label, spam_probability, source, "
                       "ingest_seq, true_label, labelled_at FROM predictions "
                       "ORDER BY ingest_seq",
        "feedback": "SELECT p.ingest_seq, f.ts, f.label, f.source FROM feedback AS f "
                    "JOIN predictions AS p ON p.id = f.prediction_id ORDER BY 1, 2",
        "decisions": "SELECT ts, trigger, decision, reasons, window_size, accuracy, "
                     "accuracy_is_estimate, n_labels, drift_score, champion_version, outcome "
                     "FROM decisions ORDER BY ts",
        "snapshots": "SELECT ts, n, drift_score, drift_detected, ingest_seq_from, "
                     "ingest_seq_to FROM drift_snapshots ORDER BY ts",
        "retrains": "SELECT started_at, trigger, status, deployment, champion_version, "
                    "challenger_version FROM retraining_events ORDER BY started_at",
        "job_runs": "SELECT job, scheduled_at, outcome, detail FROM job_runs "
                    "WHERE outcome <> 'running' ORDER BY scheduled_at, job",
    }
    try:
        return {name: [tuple(row) for row in services.sql(sql).rows]
                for name, sql in queries.items()}
    finally:
        services.close()


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9
    return a == b


def test_chunks_log_and_decide_exactly_what_one_message_at_a_time_does(
        trained_home: Path, six_hourly: None, split: DatasetSplit, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay's speed comes from scoring, logging and labelling many messages at once;
    replayed one message at a time (the path a served request takes: plain-Python scoring,
    one spool write each), the same file must give the same history: the same predictions
    with the same probabilities (to 1e-9), labels, windows, decisions, retrains, day table."""
    import engine.replay

    messages = messages_of(read_table(traffic_file(tmp_path / "log.csv", split, 400, days=2)))
    histories, tables = [], []
    for chunk in (1, engine.replay.CHUNK_MESSAGES):
        home = tmp_path / f"chunks-of-{chunk}"
        copy_home(trained_home, home)
        monkeypatch.setattr(engine.replay, "CHUNK_MESSAGES", chunk)
        summary = run_replay(load_settings(home=home), messages, label_rate=0.5)
        assert summary.replayed == 400 and summary.labelled > 100
        tables.append(summary.days)
        histories.append(_history(home))
    one_by_one, chunked = histories
    assert len(one_by_one["predictions"]) == 400 and len(one_by_one["decisions"]) >= 8
    assert any(row[4] > 0 for row in one_by_one["decisions"])  # checks saw real windows
    for name, rows in one_by_one.items():
        assert len(chunked[name]) == len(rows), name
        for mine, theirs in zip(rows, chunked[name], strict=True):
            assert all(_close(a, b) for a, b in zip(mine, theirs, strict=True)), (
                name, mine, theirs)
    assert tables[0] == tables[1]


def test_stopping_keeps_what_was_replayed(trained_home: Path, six_hourly: None,
                                          split: DatasetSplit, tmp_path: Path) -> None:
    messages = messages_of(read_table(traffic_file(tmp_path / "log.csv", split, 600, days=3)))
    asked: list[int] = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) > 3

    summary = run_replay(load_settings(), messages, should_stop=should_stop)
    assert summary.interrupted and 0 < summary.replayed < 600
    services = Services(load_settings(), read_only=True)
    try:
        count = services.sql("SELECT count(*) FROM predictions").rows[0][0]
        assert count == summary.replayed
    finally:
        services.close()


def test_rate_spaces_a_file_without_times(trained_home: Path, six_hourly: None,
                                          tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "plain.txt"
    source.write_text("".join(f"message number {i} about the meeting\n" for i in range(300)))
    refused = run_cli(capsys, "replay", str(source))
    assert refused.code != 0 and "pass --timestamp-column NAME, or --rate N/hour" in refused.err
    done = run_cli(capsys, "replay", str(source), "--rate", "50/hour", "--json")
    assert done.code == 0, done.err
    summary = done.json()
    assert summary["replayed"] == 300 and summary["labelled"] == 0
    hours = (datetime.fromisoformat(summary["ended"])
             - datetime.fromisoformat(summary["started"])).total_seconds() / 3600
    assert 5.5 < hours < 7.5  # 300 messages at 50/hour, plus the last hour's jobs
    again = run_cli(capsys, "replay", str(source), "--rate", "50/hour")
    assert again.code != 0 and "already has history up to" in again.err


def test_replay_needs_a_champion(data_home: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "p.txt"
    source.write_text("hello\n")
    result = run_cli(capsys, "replay", str(source), "--rate", "10/hour")
    assert result.code != 0 and "no champion" in result.err


@pytest.mark.parametrize(("text", "per_hour"), [
    ("120/hour", 120.0), ("2/minute", 120.0), ("48/day", 2.0), ("30", 30.0)])
def test_parse_rate(text: str, per_hour: float) -> None:
    assert parse_rate(text) == pytest.approx(per_hour)


@pytest.mark.parametrize("text", ["fast", "0/hour", "5/week", "-3"])
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="must look like 120/hour"):
        parse_rate(text)
