"""``DetectorCache``: detectors per champion version and baseline state, in memory and on disk.

Owns where detectors are kept, so the reference statistics are built once per model version
and the nulls once per window size. The key is the model version, the baseline state (the
accepted windows, issue 13 item 3), the threshold and the false-alarm rate: the nulls and the
scores depend on all four.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from engine.drift.detector import CACHE_FORMAT, DriftDetector
from engine.drift.report import DEFAULT_FALSE_ALARM_RATE, DEFAULT_THRESHOLD
from engine.errors import InvalidInput

_Key = tuple[int, str, float, float]


def baseline_digest(baseline_key: str) -> str:
    """A short stable name for a baseline state ("" for the reference alone)."""
    if not baseline_key:
        return ""
    return hashlib.sha256(baseline_key.encode()).hexdigest()[:12]


class DetectorCache:
    """Detectors per (model version, baseline state), in memory and on disk.

    Memory holds at most ``max_in_memory`` detectors, least recently used out first, and
    ``retain`` drops those of versions no alias names any more (issue 14: a long-lived process
    kept every champion's detector); the files stay on disk.
    """

    def __init__(self, cache_dir: Path, *, threshold: float = DEFAULT_THRESHOLD,
                 false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE,
                 max_in_memory: int = 3) -> None:
        self.cache_dir = cache_dir
        self.threshold = threshold
        self.false_alarm_rate = false_alarm_rate
        self.max_in_memory = max_in_memory
        self._memory: OrderedDict[_Key, DriftDetector] = OrderedDict()
        self._saved: dict[_Key, int] = {}
        self._baselines: dict[_Key, str] = {}

    def path_for(self, model_version: int, baseline_key: str = "") -> Path:
        """The file holding the detector of ``model_version`` with that baseline."""
        digest = baseline_digest(baseline_key)
        baseline = f"-b{digest}" if digest else ""
        return self.cache_dir / (f"v{model_version}{baseline}-t{self.threshold:g}"
                                 f"-a{self.false_alarm_rate:g}-f{CACHE_FORMAT}.joblib")

    def _key(self, model_version: int, baseline_key: str) -> _Key:
        return (model_version, baseline_digest(baseline_key), self.threshold,
                self.false_alarm_rate)

    def get(self, model_version: int, build: Callable[[], DriftDetector], *,
            baseline_key: str = "",
            extend: Callable[[DriftDetector], DriftDetector] | None = None) -> DriftDetector:
        """The cached detector of ``model_version``, built with ``build`` on first use.

        With a ``baseline_key``, the detector of that baseline state: the reference detector
        passed through ``extend`` (``DriftDetector.with_baseline``) on first use.
        """
        key = self._key(model_version, baseline_key)
        detector = self._memory.get(key)
        if detector is not None:
            self._memory.move_to_end(key)
            return detector
        path = self.path_for(model_version, baseline_key)
        if path.exists():
            try:
                detector = DriftDetector.load(path)
            except InvalidInput:
                detector = None
        if detector is None:
            if baseline_key and extend is not None:
                detector = extend(self.get(model_version, build))
            else:
                detector = build()
            detector.save(path)
        self._memory[key] = detector
        self._saved[key] = detector.null_count
        self._baselines[key] = baseline_key
        while len(self._memory) > self.max_in_memory:
            self._forget(next(iter(self._memory)))
        return detector

    def retain(self, versions: set[int]) -> None:
        """Keep in memory only the detectors of ``versions`` (saving new nulls first)."""
        for key in [k for k in self._memory if k[0] not in versions]:
            self._forget(key)

    def versions_in_memory(self) -> list[int]:
        """Model versions whose detectors are in memory, least recently used first."""
        return [key[0] for key in self._memory]

    def _forget(self, key: _Key) -> None:
        self.save(key[0], self._baselines.get(key, ""))
        del self._memory[key]
        self._saved.pop(key, None)
        self._baselines.pop(key, None)

    def save(self, model_version: int | None, baseline_key: str = "") -> None:
        """Persist the nulls computed since the last save (after scoring new window sizes)."""
        if model_version is None:
            return
        key = self._key(model_version, baseline_key)
        detector = self._memory.get(key)
        if detector is not None and self._saved.get(key) != detector.null_count:
            detector.save(self.path_for(model_version, baseline_key))
            self._saved[key] = detector.null_count
