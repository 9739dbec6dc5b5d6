"""Drift detector benchmark: false alarms, detection, balanced accuracy, speed (one JSON line).

Labelled windows: clean windows drawn from the held-out test split (1,032 messages after
de-duplication, so windows of 2,000 are drawn WITH replacement, and smaller ones without),
and windows with 10%, 25% and 50% generated drift (engine.traffic), at sizes 200, 500 and
2,000. Reference: the training split, with the feature space fitted on it (no model needed,
the ``spamops drift --reference`` path). Speed: a 10,000-message window against a
5,000-message reference, reference statistics cached (the first window of a new size also
pays its null calibration, reported separately).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from engine.dataset import Dataset
from engine.drift import DriftDetector
from engine.traffic import mix

SIZES = (200, 500, 2000)
FRACTIONS = (0.1, 0.25, 0.5)
CLEAN_WINDOWS = 100
DRIFT_WINDOWS = 40
NOW = datetime(2026, 1, 1)


def main() -> int:
    source = os.environ.get("SPAMOPS_DATASET_URL") or str(
        Path(__file__).resolve().parents[3] / "shared" / "data" / "sms+spam+collection.zip")
    with tempfile.TemporaryDirectory() as tmp:
        split = Dataset(source, Path(tmp)).split()
    started = time.perf_counter()
    detector = DriftDetector.fit(split.train_texts, seed=42)
    fit_seconds = time.perf_counter() - started

    false_alarm: dict[str, float] = {}
    detection: dict[str, dict[str, float]] = {}
    outcomes: list[tuple[int, float, bool]] = []
    started = time.perf_counter()
    windows = 0
    for size in SIZES:
        for fraction in (0.0, *FRACTIONS):
            count = CLEAN_WINDOWS if fraction == 0 else DRIFT_WINDOWS
            hits = 0
            for k in range(count):
                seed = 1_000_003 * size + 1009 * k + int(fraction * 100)
                texts = [m.text for m in mix(split.test_texts, split.test_labels, n=size,
                                             fraction=fraction, seed=seed)]
                detected = detector.score(texts, timestamp=NOW).drift_detected
                hits += detected
                outcomes.append((size, fraction, detected))
                windows += 1
            if fraction == 0:
                false_alarm[str(size)] = hits / count
            else:
                detection.setdefault(str(fraction), {})[str(size)] = hits / count
    scoring_seconds = time.perf_counter() - started

    def balanced(min_size: int, min_fraction: float) -> float:
        clean = [d for s, f, d in outcomes if f == 0 and s >= min_size]
        drifted = [d for s, f, d in outcomes if f >= min_fraction and s >= min_size]
        return float((np.mean(drifted) + 1 - np.mean(clean)) / 2)

    pool = split.train_texts + split.test_texts
    reference, rest = pool[:5000], pool[5000:] + split.test_texts
    rng = np.random.default_rng(0)
    big = [rest[i] for i in rng.integers(len(rest), size=10_000)]
    speed = DriftDetector.fit(reference, seed=1)
    started = time.perf_counter()
    speed.score(big, timestamp=NOW)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    speed.score(big, timestamp=NOW)
    warm = time.perf_counter() - started

    print(json.dumps({
        "benchmark": "drift",
        "reference": "train split (4,128 messages), feature space fitted on it",
        "clean_windows": "held-out test split (1,032 messages); size 2000 drawn with "
                         "replacement",
        "windows_per_cell": {"clean": CLEAN_WINDOWS, "drifted": DRIFT_WINDOWS},
        "false_alarm_rate": false_alarm,
        "detection_rate": detection,
        "balanced_accuracy_ge500_ge25pct": round(balanced(500, 0.25), 4),
        "balanced_accuracy_all": round(balanced(0, 0.1), 4),
        "targets": {"balanced_accuracy": 0.95, "false_alarm_rate": 0.05, "seconds_10k": 1.0},
        "seconds_10k_window_vs_5k_reference": round(warm, 3),
        "seconds_10k_window_first_of_its_size": round(cold, 3),
        "seconds_fit_reference": round(fit_seconds, 3),
        "windows_scored": windows,
        "seconds_per_window": round(scoring_seconds / windows, 4),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
