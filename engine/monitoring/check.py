"""The monitoring check: window, drift, accuracy, decision, and the retrain it may start.

Owns ``Monitor.check`` (under the data home's check lock): reading the next window of
predictions by ingestion order, scoring drift and the CUSUM, reading accuracy, asking
``rules.decide_check``, recording snapshot, decision and events in one transaction (only
while it still holds its lock; one that lost it stops, audited ``monitor.interrupted``), and
accepting a handled drifted window into the baseline. It must not decide by itself (that is
``engine.rules``) nor open a database (``engine.store``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.drift.labels import class_shift
from engine.drift.sequential import cusum_step
from engine.errors import LockLost, SpamopsError, StoreError
from engine.failpoints import failpoint
from engine.monitoring.accuracy import (
    AccuracyReading,
    blend_accuracy,
    estimate_accuracy,
    measured_accuracy,
)
from engine.monitoring.base import MonitorBase
from engine.monitoring.outcomes import (
    CheckResult,
    DeploymentOutcome,
    RetrainResult,
    rule_thresholds,
    thresholds_dict,
)
from engine.notify import events as notify
from engine.records import Decision, DriftSnapshot
from engine.rules import (
    DEPLOY,
    MIN_CLASS_LABELS,
    NO_ACTION,
    PENDING_APPROVAL,
    RETRAIN,
    CheckInputs,
    ClassShift,
    decide_check,
)
from engine.training import labels_to_int, spam_probability

if TYPE_CHECKING:
    import pandas as pd

    from engine.drift import DriftReport


class CheckMixin(MonitorBase):
    """One monitoring cycle."""


    def _window_start(self) -> datetime | None:
        latest = self.store.latest_snapshot()
        return latest.window_end if latest is not None else None

    def _accuracy(self, model: Any, version: int, since: datetime | None, until: datetime,
                  window_proba: np.ndarray, *, drifted: bool = False) -> AccuracyReading:
        labelled = self.store.labels_received_between(since, until)
        n_labels = len(labelled)
        if n_labels >= self.settings.monitoring.min_labels:
            y_true = labels_to_int(labelled["true_label"].tolist())
            y_pred = (champion_probabilities(model, version, labelled) >= 0.5).astype(int)
            return measured_accuracy(y_true, y_pred)
        estimate = replace(estimate_accuracy(window_proba), n_labels=n_labels)
        if n_labels:
            y_true = labels_to_int(labelled["true_label"].tolist())
            y_pred = (champion_probabilities(model, version, labelled) >= 0.5).astype(int)
            estimate = blend_accuracy(estimate, measured_accuracy(y_true, y_pred))
        if drifted and not estimate.unreliable:
            estimate = replace(estimate, unreliable=True)
        return estimate

    def check(self, *, trigger: str, actor: str = "scheduler",
              retrain: bool = True, progress: Callable[[str], None] | None = None
              ) -> CheckResult:
        """Run one monitoring cycle and, when the rules say so, a retrain.

        One check at a time per data home: the whole cycle runs under ``locks/check.lock``,
        so two checks (API, CLI, console, scheduler, in any processes) never read the same
        window.

        Raises:
            ConflictError: another check of this data home is running.
            LockLost: the check lock was lost before the check recorded its window
                (PostgreSQL restarted): nothing was recorded but an audit record.
        """
        # The check's ~15 store calls on one connection (a retrain it starts suspends it).
        with self._check_lock(), self.store.session():
            return self._check(trigger=trigger, actor=actor, retrain=retrain,
                               progress=progress)

    def _check(self, *, trigger: str, actor: str, retrain: bool,
               progress: Callable[[str], None] | None) -> CheckResult:
        now = self.clock.now()
        thresholds = rule_thresholds(self.settings)
        champion = self.registry.champion_version()
        since = self._window_start()  # labels are windowed by when they arrived
        # Predictions are windowed by ingestion order (issue 14, item 8): those ingested late
        # (another process's spool, a crashed worker's) fall in the next window, never none.
        after_seq = self.store.last_window_seq()
        window, seq_to = self.store.window_after(after_seq,
                                                 limit=self.settings.monitoring.max_window)
        self.log.write(f"Monitoring check ({trigger}): {len(window)} predictions since "
                       f"{since:%Y-%m-%d %H:%M:%S}" if since else
                       f"Monitoring check ({trigger}): {len(window)} predictions so far")
        report: DriftReport | None = None
        snapshot: DriftSnapshot | None = None
        accuracy = AccuracyReading(None, True, None, None, 0)
        shift: ClassShift | None = None
        if champion is not None and len(window) >= thresholds.min_window:
            model = self.registry.load(champion)
            texts = window["text"].tolist()
            proba = champion_probabilities(model, champion, window)
            detector = self.detector_for(champion)
            report = detector.score(texts, timestamp=now, source="monitor",
                                    spam_probabilities=proba)
            accuracy = self._accuracy(model, champion, since, now, proba,
                                      drifted=report.drift_detected)
            step = cusum_step(self._previous_cusum(champion, report.baseline_key),
                              report.text_p_value, h=thresholds.cusum_h)
            snapshot = replace(self._snapshot(report, window, champion, now),
                               cusum=step.statistic, drift_confirmed=step.alarm,
                               accuracy_unreliable=accuracy.unreliable,
                               ingest_seq_from=after_seq + 1, ingest_seq_to=seq_to)
            which = f" [{', '.join(report.drift_components)}]" if report.drift_components else ""
            self.log.write(f"Drift metrics: vocab={report.vocabulary_drift:.2f}, "
                           f"tfidf={report.tfidf_drift:.2f}, score={report.drift_score:.2f} "
                           f"(threshold {report.threshold:.2f}){which}, "
                           f"CUSUM {step.statistic:.2f} of {thresholds.cusum_h:g}")
            if report.new_patterns:
                terms = [p.term for p in report.new_patterns[:8]]
                self.log.write(f"New patterns detected: {terms}")
            self._log_accuracy(accuracy)
            shift = self._class_shift(model, champion, since, now)
        inputs = CheckInputs(
            window_size=len(window) if champion is not None else 0,
            drift_score=report.drift_score if report else None,
            accuracy=accuracy.value, accuracy_is_estimate=accuracy.is_estimate,
            n_labels=accuracy.n_labels, hours_since_retrain=self._hours_since_retrain(now),
            drift_components=report.drift_components if report else (),
            drift_confirmed=snapshot.drift_confirmed if snapshot else None,
            cusum=snapshot.cusum if snapshot else None,
            accuracy_unreliable=accuracy.unreliable,
            spam_rate=report.spam_rate if report else None,
            reference_spam_rate=report.reference_spam_rate if report else None,
            new_labels=self._new_labels(now) if report and report.text_drift else None,
            class_shift=shift)
        if champion is None:
            ruling_reasons: tuple[str, ...] = ("There is no champion model yet; train first.",)
            ruling_decision = NO_ACTION
            ruling_triggers: tuple[str, ...] = ()
        else:
            ruling = decide_check(inputs, thresholds)
            ruling_reasons, ruling_decision = ruling.reasons, ruling.decision
            ruling_triggers = ruling.triggers
        decision = Decision(
            id=uuid.uuid4().hex, ts=now, trigger=trigger, decision=ruling_decision,
            reasons=ruling_reasons, window_size=len(window), accuracy=accuracy.value,
            accuracy_is_estimate=accuracy.is_estimate, accuracy_low=accuracy.low,
            accuracy_high=accuracy.high, n_labels=accuracy.n_labels,
            accuracy_unreliable=accuracy.unreliable,
            drift_score=report.drift_score if report else None,
            thresholds=thresholds_dict(thresholds), champion_version=champion,
            snapshot_id=snapshot.id if snapshot else None,
            outcome="retrain requested" if ruling_decision == RETRAIN else "no action",
            actor=actor)
        # One transaction: no window without its decision, no decision without its events.
        # Only while this check still holds its lock: a check that lost it (PostgreSQL
        # restarted) may share its window with one another host started meanwhile.
        failpoint("check.before_record")
        self._verify_check_lock()
        self.store.save_check(snapshot, decision,
                              events=notify.drift_detected(decision, snapshot))
        why = "; ".join(ruling_triggers) if ruling_triggers else ""
        self.log.write(f"Decision: {ruling_decision}" + (f" ({why})" if why else "")
                       + f" - {' '.join(ruling_reasons)}")
        self.store.append_audit(actor, "monitor.decision", decision.id, {
            "trigger": trigger, "window_size": len(window), "drift": report.to_dict()
            if report else None, "accuracy": accuracy.value,
            "accuracy_is_estimate": accuracy.is_estimate, "n_labels": accuracy.n_labels,
            "champion_version": champion, "thresholds": decision.thresholds,
            "class_shift": asdict(shift) if shift is not None else None,
            "decision": ruling_decision}, " ".join(ruling_reasons))
        retrain_result: RetrainResult | None = None
        retrain_error: str | None = None
        if ruling_decision == RETRAIN and retrain:
            retrain_trigger = "+".join(ruling_triggers) or trigger
            try:
                retrain_result = self.retrain(trigger=retrain_trigger, actor=actor,
                                              reasons=ruling_reasons, decision_id=decision.id,
                                              progress=progress)
                decision = self.store.update_decision(
                    decision.id, retraining_id=retrain_result.event.id,
                    outcome=_outcome_text(retrain_result.deployment))
                if report is not None and report.text_drift and snapshot is not None:
                    # The cycle that handled a drifted window (whichever rule started it).
                    self._accept_window(retrain_result, snapshot, actor)
            except SpamopsError as exc:
                retrain_error = str(exc)
                outcome = (f"retrain not run: {exc}" if not isinstance(exc, LockLost) else
                           "retrain interrupted: its lock on PostgreSQL was lost")
                decision = self.store.update_decision(decision.id, outcome=outcome)
                self.log.write(f"Retrain not run: {exc}")
        return CheckResult(decision=decision, snapshot=snapshot, report=report,
                           accuracy=accuracy, retrain=retrain_result,
                           retrain_error=retrain_error)

    def _verify_check_lock(self) -> None:
        """``verify_lock("check")``; a lost lock is logged and audited, then raised."""
        try:
            self.verify_lock("check")
        except LockLost as exc:
            self.log.write(str(exc))
            try:
                self.store.append_audit("system", "monitor.interrupted", "check",
                                        {"cause": "lock lost"}, str(exc))
            except StoreError as error:
                self.log.write(f"The interrupted check could not be audited: {error}")
            raise

    def _class_shift(self, model: Any, champion: int, since: datetime | None,
                     until: datetime) -> ClassShift | None:
        """The champion on the spam labelled in the window against its test split's spam
        (``drift.labels.class_shift``), and against the labelled spam of the windows its
        accepted baseline holds (``ClassShift.handled``); None below ``MIN_CLASS_LABELS``
        labelled spam."""
        labelled = self.store.labels_received_between(since, until)
        spam = labelled[labelled["true_label"] == "spam"]
        if len(spam) < MIN_CLASS_LABELS:
            return None
        split = self.dataset.split()
        reference = [text for text, label in zip(split.test_texts, split.test_labels,
                                                 strict=True) if label == "spam"]
        window_proba = spam_probability(model, spam["text"].tolist())
        shift = class_shift("spam", window_proba, spam_probability(model, reference))
        handled = self._handled_spam(champion, set(spam["id"]))
        if shift is not None and len(handled) >= MIN_CLASS_LABELS:
            shift = replace(shift, handled=class_shift(
                "spam", window_proba, spam_probability(model, handled)))
        if shift is not None:
            self.log.write(f"Labelled spam: recall {shift.rate:.1%} on {shift.n} vs "
                           f"{shift.reference_rate:.1%} on the test split's "
                           f"{shift.reference_n} (one-sided Mann-Whitney p = "
                           f"{shift.p_value:.3g})")
        return shift

    def _handled_spam(self, champion: int, exclude: set[str]) -> list[str]:
        """Texts of the labelled spam in the champion's accepted baseline windows (not in
        ``exclude``, the window's own labelled ids)."""
        texts: list[str] = []
        for w in self.store.baseline_windows(champion):
            frame = self.store.labelled_between(w.window_start, w.window_end)
            frame = frame[(frame["true_label"] == "spam") & ~frame["id"].isin(exclude)]
            texts.extend(frame["text"].tolist())
        return texts

    def _new_labels(self, now: datetime) -> int:
        """Labels received since the last retrain started that a retrain could learn from."""
        events = self.store.retraining_events(1)
        since = events[0].started_at if events else None
        labelled = self.store.labels_received_between(since, now)
        test_texts = set(self.dataset.split().test_texts)
        return int((~labelled["text"].isin(test_texts)).sum())

    def _previous_cusum(self, champion: int, baseline_key: str) -> float:
        """The CUSUM to continue: the latest snapshot's, unless a new sequence has begun.

        A new sequence begins with another champion, another accepted baseline, or a retrain
        started since that snapshot (``engine.drift.sequential``).
        """
        latest = self.store.latest_snapshot()
        if (latest is None or latest.cusum is None or latest.model_version != champion
                or latest.baseline_key != baseline_key):
            return 0.0
        events = self.store.retraining_events(1)
        if events and events[0].started_at >= latest.ts:
            return 0.0
        return latest.cusum

    def _accept_window(self, result: RetrainResult, snapshot: DriftSnapshot,
                       actor: str) -> None:
        """After a drift-triggered cycle, accept its window into the baseline when handled."""
        from engine.baseline import Baseline, acceptance

        outcome = result.deployment
        ruling = acceptance(outcome.decision, champion_version=outcome.champion_version,
                            challenger_version=outcome.challenger_version,
                            comparison=outcome.comparison,
                            min_improvement=self.settings.thresholds.min_improvement,
                            accuracy_floor=self.settings.thresholds.accuracy_floor)
        accepted = Baseline(self.store, self.clock).accept(
            ruling, window_start=snapshot.window_start, window_end=snapshot.window_end
            or snapshot.ts, n=snapshot.n, outcome=outcome.decision, actor=actor,
            snapshot_id=snapshot.id, retraining_id=result.event.id)
        self.log.write(("Baseline: " if accepted else "Baseline unchanged: ") + ruling.reason)

    def _hours_since_retrain(self, now: datetime) -> float | None:
        events = self.store.retraining_events(1)
        if not events:
            return None
        return max(0.0, (now - events[0].started_at).total_seconds() / 3600)

    def _log_accuracy(self, accuracy: AccuracyReading) -> None:
        if accuracy.value is None:
            self.log.write("Accuracy: unknown (no labels and no predictions)")
        elif accuracy.is_estimate and accuracy.unreliable:
            self.log.write(f"Accuracy: unknown under drift until labels arrive (the label-free "
                           f"CBPE estimate {accuracy.value:.1%} is unreliable; "
                           f"{accuracy.n_labels} labels)")
        elif accuracy.is_estimate:
            self.log.write(f"Accuracy: {accuracy.value:.1%} estimated from calibrated "
                           f"probabilities (95% {accuracy.low:.1%}-{accuracy.high:.1%}; "
                           f"{accuracy.n_labels} labels, too few to measure)")
        else:
            self.log.write(f"Accuracy: {accuracy.value:.1%} measured on {accuracy.n_labels} "
                           f"labels (95% {accuracy.low:.1%}-{accuracy.high:.1%})")

    def _snapshot(self, report: DriftReport, window: pd.DataFrame, champion: int,
                  now: datetime) -> DriftSnapshot:
        return DriftSnapshot(
            id=uuid.uuid4().hex, ts=now, model_version=champion, n=report.n,
            window_start=window["ts"].min().to_pydatetime() if len(window) else None,
            window_end=now, vocabulary_drift=report.vocabulary_drift,
            tfidf_drift=report.tfidf_drift, prediction_drift=report.prediction_drift,
            prediction_p_value=report.prediction_p_value, drift_score=report.drift_score,
            p_value=report.p_value, threshold=report.threshold,
            drift_detected=report.drift_detected, new_patterns=tuple(report.new_patterns),
            recommendation=report.recommendation, spam_rate=report.spam_rate,
            source="monitor", drift_components=report.drift_components,
            spam_rate_drift=report.spam_rate_drift, text_p_value=report.text_p_value,
            baseline_key=report.baseline_key)


def champion_probabilities(model: Any, version: int, frame: pd.DataFrame) -> np.ndarray:
    """Spam probabilities of ``frame``'s texts by champion ``version`` (``model``).

    The logged ``spam_probability`` of each row that ``version`` scored (its
    ``model_version``): the same model on the same text, so re-scoring it would only repeat
    the work; rows another version scored are scored by ``model``.
    """
    proba = frame["spam_probability"].to_numpy(dtype=np.float64, copy=True)
    other = np.flatnonzero(frame["model_version"].to_numpy() != version)
    if len(other):
        texts = frame["text"].tolist()
        proba[other] = spam_probability(model, [texts[i] for i in other])
    return proba


def _outcome_text(outcome: DeploymentOutcome) -> str:
    if outcome.decision == DEPLOY:
        return f"deployed v{outcome.challenger_version}"
    if outcome.decision == PENDING_APPROVAL:
        return f"v{outcome.challenger_version} pending approval"
    if outcome.challenger_version is None:
        return "retrain failed, champion kept"
    return f"kept v{outcome.champion_version} (challenger v{outcome.challenger_version})"
