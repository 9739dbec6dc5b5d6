"""The facade every UI calls: reads are nouns, commands are verbs.

``Services`` is built once per process from ``Settings`` (and a ``Clock``) and handed to the
CLI, the console, the API and the dashboard. It composes the engine modules; it holds no
business rule of its own beyond ordering the steps. Results are frozen dataclasses.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.clock import Clock, SystemClock
from engine.config import Settings
from engine.dataset import Dataset, DatasetInfo, DatasetSplit
from engine.errors import InvalidInput
from engine.registry import AliasMove, ModelVersionInfo, Registry
from engine.training import TrainingData, TrainingResult, spam_probability

Progress = Callable[[str], None]

MAX_TEXT_CHARS = 5000
"""Longest message the engine scores; longer input is refused, not truncated."""


@dataclass(frozen=True)
class Prediction:
    """One scored message."""

    id: str
    label: str
    spam_probability: float
    model_version: int
    text: str


@dataclass(frozen=True)
class TrainOutcome:
    """What ``train`` did: the new version, its metrics, and whether it became champion."""

    result: TrainingResult
    champion_version: int
    became_champion: bool


class ChampionCache:
    """The champion pipeline, re-checking the alias at most every ``refresh_seconds``.

    Serving follows the ``champion`` alias without restart: a promotion made by any process is
    picked up on the next check, and requests keep using the old model until the new one is
    loaded, so none fails during the switch.
    """

    def __init__(self, registry: Registry, refresh_seconds: float) -> None:
        self._registry = registry
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._current: tuple[int, Any] | None = None
        self._checked = 0.0

    def get(self) -> tuple[int, Any]:
        """The current champion (version, model)."""
        now = time.monotonic()
        current = self._current
        if current is not None and now - self._checked < self._refresh:
            return current
        with self._lock:
            if self._current is not None and now - self._checked < self._refresh:
                return self._current
            version = self._registry.require_champion()
            if self._current is None or self._current[0] != version:
                self._current = (version, self._registry.load(version))
            self._checked = time.monotonic()
            return self._current

    def invalidate(self) -> None:
        """Force a re-check on the next ``get`` (after this process moved an alias)."""
        self._checked = 0.0


class Services:
    """Everything the UIs may ask the engine for."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None,
                 read_only: bool = False) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.read_only = read_only
        self.dataset = Dataset(settings.dataset_url, settings.dataset_dir, seed=settings.seed,
                               test_size=settings.test_size)
        self.registry = Registry(settings.tracking_uri, settings.model_name,
                                 str(settings.artifacts_dir.resolve()))
        self.champion = ChampionCache(self.registry, settings.server.champion_refresh_seconds)

    def close(self) -> None:
        """Release resources held by this process."""

    # Dataset -----------------------------------------------------------------------------
    def fetch_dataset(self) -> Path:
        """Fetch and verify the corpus into the data home."""
        return self.dataset.fetch()

    def dataset_info(self) -> DatasetInfo:
        """Counts, checksum and split sizes of the corpus."""
        return self.dataset.info()

    def split(self) -> DatasetSplit:
        """The persisted train/test split."""
        return self.dataset.split()

    # Models ------------------------------------------------------------------------------
    def train(self, *, trigger: str = "manual", progress: Progress | None = None) -> TrainOutcome:
        """Train on the training split, register a version; the first becomes champion."""
        from engine.training import train_and_log

        split = self.dataset.split(progress)
        data = TrainingData(split.train_texts, split.train_labels, split.test_texts,
                            split.test_labels, split.fingerprint, {"trigger": trigger})
        self.settings.home.mkdir(parents=True, exist_ok=True)
        result = train_and_log(
            data, tracking_uri=self.settings.tracking_uri, experiment="spamops",
            model_name=self.settings.model_name,
            artifact_location=str(self.settings.artifacts_dir.resolve()),
            seed=self.settings.seed, progress=progress)
        became = self.registry.adopt_first(result.version)
        self.champion.invalidate()
        return TrainOutcome(result=result, champion_version=self.registry.require_champion(),
                            became_champion=became)

    def models(self) -> list[ModelVersionInfo]:
        """Registered versions, newest first."""
        return self.registry.versions()

    def promote(self, version: int) -> AliasMove:
        """Make ``version`` the champion."""
        move = self.registry.promote(version)
        self.champion.invalidate()
        return move

    def rollback(self) -> AliasMove:
        """Swap champion and previous."""
        move = self.registry.rollback()
        self.champion.invalidate()
        return move

    # Scoring -----------------------------------------------------------------------------
    def predict(self, texts: Sequence[str], *, source: str = "cli") -> list[Prediction]:
        """Score ``texts`` with the champion."""
        for text in texts:
            if not text or not text.strip():
                raise InvalidInput("a message must not be empty")
            if len(text) > MAX_TEXT_CHARS:
                raise InvalidInput(f"a message must be at most {MAX_TEXT_CHARS} characters")
        version, model = self.champion.get()
        proba = spam_probability(model, texts)
        return [
            Prediction(id=uuid.uuid4().hex, label="spam" if p >= 0.5 else "ham",
                       spam_probability=float(p), model_version=version, text=t)
            for t, p in zip(texts, proba, strict=True)
        ]
