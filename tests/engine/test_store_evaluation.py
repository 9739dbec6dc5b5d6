"""The evaluation set (migration 004) keeps held-out labels for good, once per text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from engine.clock import SimulatedClock
from engine.store import Store

T0 = datetime(2026, 11, 2, 8, 0, 0)


@pytest.fixture
def sut(tmp_path: Path, store_url: str | None) -> Iterator[Store]:
    store = Store(tmp_path / "spamops.duckdb", tmp_path / "spool",
                  clock=SimulatedClock(T0), flush_seconds=60, url=store_url)
    store.migrate()
    yield store
    store.close()


def held_out(texts: list[str], label: str = "spam", hours: int = 0) -> pd.DataFrame:
    return pd.DataFrame({
        "id": [f"p{i}" for i in range(len(texts))], "text": texts,
        "true_label": label,
        "labelled_at": [T0 + timedelta(hours=hours, minutes=i) for i in range(len(texts))]})


def test_a_new_store_has_an_empty_evaluation_set(sut: Store) -> None:
    frame = sut.evaluation_messages()
    assert frame.empty
    assert list(frame.columns) == ["text", "true_label", "labelled_at", "prediction_id",
                                   "retraining_id", "added_at"]


def test_held_out_labels_are_kept_with_their_dates_and_retrain(sut: Store) -> None:
    assert sut.add_evaluation_messages(held_out(["win £500 now", "your parcel ✓ is held"]),
                                       "r1") == 2
    frame = sut.evaluation_messages()
    assert frame["text"].tolist() == ["win £500 now", "your parcel ✓ is held"]
    assert frame["retraining_id"].tolist() == ["r1", "r1"]
    assert frame["labelled_at"].min().to_pydatetime() == T0
    assert frame["added_at"].iloc[0].to_pydatetime() == T0


def test_the_set_grows_and_keeps_the_first_label_of_a_text(sut: Store) -> None:
    sut.add_evaluation_messages(held_out(["a scam", "b scam"]), "r1")
    added = sut.add_evaluation_messages(
        held_out(["b scam", "c hello"], label="ham", hours=24), "r2")
    assert added == 1
    frame = sut.evaluation_messages().set_index("text")
    assert frame.loc["b scam", "true_label"] == "spam"
    assert frame.loc["c hello", "retraining_id"] == "r2"
    assert len(frame) == 3


def test_nothing_to_add_is_a_no_op(sut: Store) -> None:
    assert sut.add_evaluation_messages(held_out([]), "r1") == 0
