"""Drift detector benchmark: false alarms, detection, balanced accuracy, speed (one JSON line).

Labelled windows: clean windows drawn from the held-out test split (1,032 messages after
de-duplication, so windows of 2,000 are drawn WITH replacement, and smaller ones without),
and windows with 10%, 25% and 50% generated drift (engine.traffic), at sizes 200, 500 and
2,000. Reference: the training split, with the feature space fitted on it (no model needed,
the ``spamops drift --reference`` path). Speed: a 10,000-message window against a
5,000-message reference, reference statistics cached (the first window of a new size also
pays its null calibration, reported separately).

Prior shift (issue 13, item 4): the same detector with a model attached (the production
pipeline trained on the training split) scores clean windows again (false alarms with the
spam-rate component in the decision) and windows whose spam share is 40% or 60% (real UCI
spam and ham of the test split, no new words). The spam-rate null's reference is the model's
5-fold out-of-fold predictions on the training split, so no clean window is scored against
the same messages its reference was computed on.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from engine.dataset import Dataset
from engine.drift import DriftDetector
from engine.traffic import mix

SIZES = (200, 500, 2000)
FRACTIONS = (0.1, 0.25, 0.5)
SPAM_SHARES = (0.4, 0.6)
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

    prior = prior_shift(split)
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
        "prior_shift": prior,
        "windows_scored": windows,
        "seconds_per_window": round(scoring_seconds / windows, 4),
    }))
    return 0


def prior_window(texts: list[str], labels: list[str], n: int, share: float,
                 seed: int) -> list[str]:
    """``n`` real test-split messages of which ``share`` are spam (with replacement)."""
    rng = np.random.default_rng(seed)
    spam = [t for t, y in zip(texts, labels, strict=True) if y == "spam"]
    ham = [t for t, y in zip(texts, labels, strict=True) if y == "ham"]
    n_spam = round(n * share)
    picked = ([spam[i] for i in rng.integers(len(spam), size=n_spam)]
              + [ham[i] for i in rng.integers(len(ham), size=n - n_spam)])
    return [picked[i] for i in rng.permutation(n)]


def prior_shift(split: Any) -> dict[str, Any]:
    """False alarms and detection with the spam-rate component (a model attached)."""
    from sklearn.model_selection import cross_val_predict

    from engine.drift import word_subspace
    from engine.training import build_pipeline, feature_space, labels_to_int, spam_probability

    y = labels_to_int(split.train_labels)
    model = build_pipeline(42).fit(split.train_texts, y)
    oof = cross_val_predict(build_pipeline(42), split.train_texts, y, cv=5,
                            method="predict_proba")[:, 1]

    def predict(texts: Any) -> Any:
        return spam_probability(model, texts)

    detector = DriftDetector.fit(split.train_texts, seed=42,
                                 feature_space=word_subspace(feature_space(model)),
                                 predict_proba=predict, prior_probabilities=oof)
    false_alarm: dict[str, float] = {}
    detection: dict[str, dict[str, float]] = {}
    by_component: dict[str, dict[str, float]] = {}
    text_drift: dict[str, dict[str, float]] = {}
    for size in SIZES:
        hits = 0
        for k in range(CLEAN_WINDOWS):
            seed = 1_000_003 * size + 1009 * k
            texts = [m.text for m in mix(split.test_texts, split.test_labels, n=size,
                                         fraction=0.0, seed=seed)]
            hits += detector.score(texts, timestamp=NOW).drift_detected
        false_alarm[str(size)] = hits / CLEAN_WINDOWS
        for share in SPAM_SHARES:
            found = spam_rate_found = 0
            for k in range(DRIFT_WINDOWS):
                texts = prior_window(split.test_texts, split.test_labels, size, share,
                                     seed=7_919 * size + 31 * k + int(share * 100))
                report = detector.score(texts, timestamp=NOW)
                found += report.drift_detected
                spam_rate_found += "spam_rate" in report.drift_components
            detection.setdefault(str(share), {})[str(size)] = found / DRIFT_WINDOWS
            by_component.setdefault(str(share), {})[str(size)] = spam_rate_found / DRIFT_WINDOWS
        for fraction in FRACTIONS:
            found = 0
            for k in range(DRIFT_WINDOWS):
                seed = 1_000_003 * size + 1009 * k + int(fraction * 100)
                texts = [m.text for m in mix(split.test_texts, split.test_labels, n=size,
                                             fraction=fraction, seed=seed)]
                found += detector.score(texts, timestamp=NOW).drift_detected
            text_drift.setdefault(str(fraction), {})[str(size)] = found / DRIFT_WINDOWS
    return {
        "model": "production pipeline trained on the train split; spam-rate reference: its "
                 "5-fold out-of-fold predictions on the train split",
        "reference_spam_rate": detector.reference_spam_rate,
        "false_alarm_rate": false_alarm,
        "detection_rate_by_spam_share": detection,
        "spam_rate_component_rate_by_spam_share": by_component,
        "detection_rate_generated_drift": text_drift,
        "targets": {"detection_rate_n_ge_500": 0.9, "false_alarm_rate": 0.05},
    }


if __name__ == "__main__":
    sys.exit(main())
