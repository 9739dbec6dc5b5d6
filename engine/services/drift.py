"""Drift detectors per model version, the accepted baseline, and ad-hoc drift reports.

Owns building (and caching, per version and baseline) the champion's ``DriftDetector`` from
its lineage datasets and accepted windows, reading and resetting the baseline, and
``drift_reports`` for the CLI's ``drift`` command. It must not decide on retraining (that is
the monitor, through ``engine.rules``) and must not record snapshots itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from engine.datasets import lineage_datasets
from engine.errors import ModelNotFound
from engine.records import BaselineWindow
from engine.services.core import ServicesBase
from engine.services.results import BASELINE_SCHEMA, BaselineView
from engine.training import spam_probability

if TYPE_CHECKING:
    from engine.drift import DriftDetector, DriftReport

logger = logging.getLogger("engine.services")


class DriftMixin(ServicesBase):
    """Drift detection against a version's reference and accepted baseline."""


    def drift_detector(self, version: int | None = None) -> DriftDetector:
        """The drift detector of ``version`` (default: the registry's champion now), whose
        reference is that version's training texts; built once per version.

        Fetched by version, never through the serving cache, which may still hold the
        previous champion (issue 14). The baseline is the reference plus the windows accepted
        for that version (issue 13, item 3). Cached in memory (bounded) and under
        ``<home>/cache/drift``, keyed by model version, baseline state, drift threshold and
        false-alarm rate; that version's ``predict_proba`` is attached. The spam-rate null's
        reference is the version's predictions on the persisted test split, which no model
        trains on (out of sample).
        """
        from engine.drift import AcceptedWindow, DetectorCache, DriftDetector, word_subspace
        from engine.training import feature_space

        if version is None:
            version = self.registry.require_champion()
        model = self.registry.load(version)
        thresholds = self.settings.thresholds
        if self._drift_cache is None:
            self._drift_cache = DetectorCache(self.settings.home / "cache" / "drift",
                                              threshold=thresholds.drift,
                                              false_alarm_rate=thresholds.false_alarm_rate)

        def predict(texts: Sequence[str]) -> Any:
            return spam_probability(model, texts)

        def build() -> DriftDetector:
            # Seconds of MLflow and fitting: a check's store session (engine.store) is
            # suspended meanwhile, so other processes are not kept from the file.
            with self.store.suspend_session():
                return fit()

        def fit() -> DriftDetector:
            # The version's own datasets (its lineage), not the default UCI download: a
            # model trained on an imported dataset is monitored against what it learned.
            names, expected = lineage_datasets(self.registry.version(version).tags)
            split = self.datasets.split(names, expected=expected)
            try:
                reference = self.registry.reference_texts(version)
            except ModelNotFound:  # dropped by retention (engine/retention.py)
                logger.warning("version %s has no drift reference left; using the training "
                               "split's texts", version)
                reference = split.train_texts
            return DriftDetector.fit(
                reference,
                feature_space=word_subspace(feature_space(model)), predict_proba=predict,
                prior_probabilities=predict(split.test_texts),
                threshold=thresholds.drift, false_alarm_rate=thresholds.false_alarm_rate,
                seed=self.settings.seed, model_version=version)

        accepted = self._accepted_windows(version)

        def extend(base: DriftDetector) -> DriftDetector:
            windows = []
            for w in accepted:
                frame = self.store.predictions_between(w.window_start, w.window_end, limit=w.n)
                texts = frame["text"].tolist()
                logged = frame["model_version"] == version
                proba = (frame["spam_probability"].tolist() if bool(logged.all())
                         else [float(p) for p in predict(texts)])
                windows.append(AcceptedWindow(w.id, tuple(texts), tuple(proba)))
            return base.with_baseline(windows)

        key = "+".join(w.id for w in accepted)
        return self._drift_cache.get(version, build, baseline_key=key,
                                     extend=extend).with_predictor(predict)

    def _accepted_windows(self, version: int) -> list[BaselineWindow]:
        """The champion's accepted drift baseline ([] before migration 005 on a reader)."""
        if not self._store_exists():
            return []
        if self.read_only and self.store.schema_version() < BASELINE_SCHEMA:
            return []
        return self.store.baseline_windows(version)

    def baseline(self, version: int | None = None) -> BaselineView:
        """The accepted drift baseline of ``version`` (default: the champion), reset ones too."""
        champion = version if version is not None else self.registry.require_champion()
        windows = [] if not self._store_exists() else \
            self.store.baseline_windows(champion, include_reset=True)
        return BaselineView(champion, tuple(windows))

    def reset_baseline(self, *, actor: str | None = None,
                       version: int | None = None) -> BaselineView:
        """Drop the accepted windows of ``version`` (default: the champion); audited."""
        from engine.baseline import Baseline

        champion = version if version is not None else self.registry.require_champion()
        Baseline(self.store, self.clock).reset(champion, actor=self._actor(actor))
        return self.baseline(champion)

    def drift_reports(self, current: Sequence[tuple[str, Sequence[str]]],
                      reference: Sequence[str] | None = None,
                      min_window: int | None = None) -> list[DriftReport]:
        """Drift of each ``(source, texts)`` window, in order, against ``reference``.

        Without ``reference`` the champion's training texts are the reference, in its feature
        space. With one, no model is needed: the feature space is fitted on ``reference`` and
        prediction drift uses the champion when there is one. A window smaller than
        ``min_window`` (default ``monitoring.min_window``) is scored but recommended
        ``INSUFFICIENT_DATA``, with the reason (``rules.window_verdict``), as the monitor does;
        its scores are kept, but ``drift_detected`` is false and ``drift_components`` empty
        (not judged is not an alert).
        """
        from engine.drift import DriftDetector

        now = self.clock.now()
        if reference is None:
            detector = self.drift_detector()
        else:
            predict = None
            # A data home without a registry file has no champion: skip MLflow's slow start-up.
            version = self.registry.champion_version() if self._registry_exists() else None
            if version is not None:
                model = self.registry.load(version)

                def predict(texts: Sequence[str]) -> Any:
                    return spam_probability(model, texts)

            thresholds = self.settings.thresholds
            detector = DriftDetector.fit(
                reference, predict_proba=predict, threshold=thresholds.drift,
                false_alarm_rate=thresholds.false_alarm_rate, seed=self.settings.seed,
                model_version=version)
        probabilities: dict[str, float] = {}
        if detector.predict_proba is not None:
            # Score each distinct text once: windows cut from one pool repeat messages.
            distinct = list(dict.fromkeys(t for _, texts in current for t in texts))
            scored = detector.predict_proba(distinct) if distinct else []
            probabilities = dict(zip(distinct, (float(p) for p in scored), strict=True))
        reports = [
            detector.score(texts, timestamp=now, source=source,
                           spam_probabilities=([probabilities[t] for t in texts]
                                               if probabilities else None))
            for source, texts in current
        ]
        if reference is None and self._drift_cache is not None and not self.read_only:
            self._drift_cache.save(detector.model_version, detector.baseline_key)
        from engine.rules import window_verdict

        least = self.settings.monitoring.min_window if min_window is None else min_window
        judged = []
        for report in reports:
            recommendation, reason = window_verdict(report.n, report.text_drift, least)
            if recommendation == "INSUFFICIENT_DATA":
                # Not judged is not an alert: the scores stay, but a script reading
                # drift_detected must not fire on two messages.
                report = replace(report, drift_detected=False, drift_components=())
            judged.append(replace(report, recommendation=recommendation, reason=reason))
        return judged
