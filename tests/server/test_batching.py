"""The /predict batcher: concurrent requests share scoring calls, each gets its own result."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from engine.config import load_settings
from engine.errors import InvalidInput
from engine.services import Prediction, Services
from server.batching import MAX_BATCH, MAX_BATCH_CHARS, PredictionBatcher


class RecordingServices(Services):
    """Real services that remember the texts of every ``predict`` call."""

    def __init__(self) -> None:
        super().__init__(load_settings())
        self.calls: list[list[str]] = []

    def predict(self, texts: Sequence[str], *, source: str = "cli",
                wait: bool = True) -> list[Prediction]:
        self.calls.append(list(texts))
        return super().predict(texts, source=source, wait=wait)


@pytest.fixture
def services(trained_home: Path) -> Iterator[RecordingServices]:
    services = RecordingServices()
    services.champion.get()  # as the app's lifespan does: the loop never waits for a load
    yield services
    services.close()


async def test_concurrent_requests_share_calls_and_keep_their_own_results(
        services: RecordingServices) -> None:
    batcher = PredictionBatcher(services)
    texts = [f"see you at {hour} tonight?" for hour in range(100)]
    texts[7] = "WINNER!! claim your free prize now, call 09061701461"
    results = await asyncio.gather(*(batcher.predict(text) for text in texts))
    assert [r.text for r in results] == texts
    assert len({r.id for r in results}) == 100
    assert results[7].label == "spam" and results[8].label == "ham"
    assert len(services.calls) < 10  # batched: 100 requests, a handful of calls
    assert max(len(call) for call in services.calls) <= MAX_BATCH


async def test_a_blank_text_fails_alone(services: RecordingServices) -> None:
    batcher = PredictionBatcher(services)
    outcomes = await asyncio.gather(batcher.predict("hello"), batcher.predict("   "),
                                    batcher.predict("call me later"), return_exceptions=True)
    assert isinstance(outcomes[1], InvalidInput)
    assert [o.label for o in (outcomes[0], outcomes[2])] == ["ham", "ham"]  # type: ignore[union-attr]


async def test_long_messages_are_scored_in_bounded_batches(services: RecordingServices) -> None:
    batcher = PredictionBatcher(services)
    long_texts = [f"{i} " + "are we still on for dinner tonight? " * 130 for i in range(12)]
    results = await asyncio.gather(*(batcher.predict(text) for text in long_texts))
    assert [r.text for r in results] == long_texts
    assert len(services.calls) > 1
    assert all(sum(map(len, call)) <= MAX_BATCH_CHARS for call in services.calls)
