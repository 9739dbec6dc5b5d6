"""One monitoring cycle, retraining, comparison and conditional deployment.

Every trigger (the schedule, an operator, the API, the demo) runs the same ``Monitor.check``:

1. read the window of predictions since the last evaluated window (too few is a recorded
   ``INSUFFICIENT_DATA`` and the window keeps growing until it is big enough);
2. score drift against the champion's cached reference statistics and save the snapshot;
3. measure the champion's accuracy on the labels received in the window, or, with too few
   labels, estimate it from its calibrated probabilities (marked as an estimate, with a 95%
   interval);
4. decide with ``rules.decide_check``; on ``RETRAIN`` run ``Monitor.retrain``: train a
   challenger on the training split plus labelled feedback (the most recent share held out),
   compare both models on identical sets, and deploy, keep or wait for approval by
   ``rules.decide_deployment``.

Each step is recorded: the store (snapshot, decision, retraining event, approval), the audit
trail, and ``<home>/logs/monitor.log`` with timestamps from the engine clock. This module
decides nothing by itself (that is ``rules.py``) and opens no database (that is ``engine.store``).
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.audit import ANCHOR_PREFIX, Anchor, format_anchor, parse_anchors
from engine.baseline import MIN_RECENT
from engine.clock import Clock
from engine.comparison import Comparison, compare_on_set
from engine.config import Settings
from engine.drift.sequential import cusum_step
from engine.errors import Busy, ConflictError, NotFound, SpamopsError
from engine.notify import events as notify
from engine.records import Approval, AuditRecord, Decision, DriftSnapshot, RetrainingEvent
from engine.registry import CHALLENGER, CHAMPION, PREVIOUS, Registry
from engine.rules import (
    DEPLOY,
    KEEP,
    NO_ACTION,
    PENDING_APPROVAL,
    RETRAIN,
    CheckInputs,
    DeploymentDecision,
    RuleThresholds,
    decide_check,
    decide_deployment,
)
from engine.training import TRAINED_AT, TrainingData, labels_to_int, spam_probability

if TYPE_CHECKING:
    import pandas as pd

    from engine.champion_switch import ChampionSwitch
    from engine.dataset import Dataset
    from engine.datasets import ChampionDatasets
    from engine.drift import DriftDetector, DriftReport
    from engine.store import Store

LogListener = Callable[[str], None]

RETRAIN_LOCK_WAIT_SECONDS = 2.0
"""How long a retrain waits for the retrain lock, so a recovery holding it briefly never
refuses a real retrain; a retrain holds it for minutes, so a longer wait would only delay
the refusal."""


def _pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock_holder(path: Path) -> str:
    """`` (pid N, since ...)`` from a lock file's content, or nothing."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8") or "{}")
        return f" (pid {int(raw['pid'])}, since {raw['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


class MonitorLog:
    """Timestamped lines in ``logs/monitor.log`` (engine clock), forwarded to listeners."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        self._listeners: list[LogListener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: LogListener) -> None:
        """Call ``listener`` with every new line (for printing or the console)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: LogListener) -> None:
        """Stop forwarding lines to ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def write(self, message: str) -> str:
        """Append one line and return it."""
        line = f"[{self.clock.now():%Y-%m-%d %H:%M:%S}] {message}"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        for listener in list(self._listeners):
            listener(line)
        return line

    def anchor(self, record: AuditRecord) -> None:
        """Append the audit chain's new head (seq, hash) as an anchor line.

        Listeners are not told: anchors are for ``audit verify``, not for people. The log is
        a plain file the database cannot rewrite (analyst SQL has no file access).
        """
        line = f"[{self.clock.now():%Y-%m-%d %H:%M:%S}] {format_anchor(record.seq, record.hash)}"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    def anchors(self) -> list[Anchor]:
        """Every audit anchor in the log, oldest first."""
        try:
            with self.path.open(encoding="utf-8", errors="replace") as handle:
                return parse_anchors(handle)
        except FileNotFoundError:
            return []

    def last_anchor(self) -> Anchor | None:
        """The newest audit anchor, read from the end of the log (for ``/metrics``)."""
        try:
            with self.path.open("rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                block = 65536
                while True:
                    start = max(0, size - block)
                    handle.seek(start)
                    found = parse_anchors(handle.read().decode("utf-8", "replace")
                                          .splitlines())
                    if found or start == 0:
                        return max(found, key=lambda a: a.seq) if found else None
                    block *= 4
        except FileNotFoundError:
            return None

    def tail(self, lines: int = 200) -> list[str]:
        """The last ``lines`` lines of the log for people (audit anchors left out)."""
        try:
            content = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [line for line in content if ANCHOR_PREFIX not in line][-lines:]


@dataclass(frozen=True)
class AccuracyReading:
    """The champion's accuracy on a window: measured from labels, or estimated."""

    value: float | None
    is_estimate: bool
    low: float | None
    high: float | None
    n_labels: int
    unreliable: bool = False
    """A label-free (CBPE) estimate that cannot be trusted: drift was detected, or the labels
    that arrived fall outside its interval (issue 13, item 5)."""


@dataclass(frozen=True)
class DeploymentOutcome:
    """What happened to a challenger."""

    decision: str
    """``DEPLOY``, ``KEEP`` or ``PENDING_APPROVAL``."""
    challenger_version: int | None
    champion_version: int | None
    """The champion the challenger was compared with."""
    improvement: float | None
    reasons: tuple[str, ...]
    comparison: Comparison | None
    approval_id: str | None = None


@dataclass(frozen=True)
class RetrainResult:
    """A finished retraining."""

    event: RetrainingEvent
    deployment: DeploymentOutcome


@dataclass(frozen=True)
class CheckResult:
    """A finished monitoring check."""

    decision: Decision
    snapshot: DriftSnapshot | None
    report: DriftReport | None
    accuracy: AccuracyReading
    retrain: RetrainResult | None
    retrain_error: str | None = None


def rule_thresholds(settings: Settings) -> RuleThresholds:
    """The rule thresholds in force for ``settings``."""
    t, m = settings.thresholds, settings.monitoring
    return RuleThresholds(drift=t.drift, accuracy_floor=t.accuracy_floor,
                          min_improvement=t.min_improvement, max_regression=t.max_regression,
                          significance=t.significance, max_fpr_increase=t.max_fpr_increase,
                          min_window=m.min_window, min_labels=m.min_labels,
                          approval_policy=m.approval_policy,
                          retrain_cooldown_hours=m.retrain_cooldown_hours,
                          prior_shift_action=t.prior_shift_action,
                          min_new_labels=math.ceil(MIN_RECENT / m.holdout_fraction))


def estimate_accuracy(spam_proba: np.ndarray) -> AccuracyReading:
    """Expected accuracy of calibrated probabilities: mean of max(p, 1-p), with a 95% interval.

    Each message is right with probability q = max(p, 1-p) if the model is calibrated on this
    traffic, so accuracy is a Poisson-binomial mean with variance sum q(1-q) / n^2: NannyML's
    Confidence-Based Performance Estimation (CBPE,
    https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html). It
    assumes the model stays calibrated, which drift breaks: a check that detects drift marks
    the estimate ``unreliable`` (issue 13, item 5), and labels are blended in by
    ``blend_accuracy``.
    """
    if len(spam_proba) == 0:
        return AccuracyReading(None, True, None, None, 0)
    q = np.maximum(spam_proba, 1 - spam_proba)
    mean = float(q.mean())
    sd = float(np.sqrt(np.sum(q * (1 - q))) / len(q))
    return AccuracyReading(mean, True, max(0.0, mean - 1.96 * sd), min(1.0, mean + 1.96 * sd), 0)


def measured_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> AccuracyReading:
    """Accuracy on labelled messages, with a Wilson 95% interval."""
    n = len(y_true)
    correct = int(np.sum(y_true == y_pred))
    p = correct / n
    z = 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return AccuracyReading(p, False, float(centre - half), float(centre + half), n)


def blend_accuracy(estimate: AccuracyReading, measured: AccuracyReading) -> AccuracyReading:
    """Blend a label-free estimate with the few labels that arrived (fewer than ``min_labels``).

    The value is the inverse-variance weighted mean of the two (the Wilson interval's and the
    estimate's half-widths as standard errors); the reported interval is the hull of both
    intervals, so it covers the measured accuracy. When the intervals do not even overlap the
    labels contradict the estimate, and the reading is marked unreliable.
    """
    if estimate.value is None or measured.value is None:
        return estimate
    assert estimate.low is not None and estimate.high is not None
    assert measured.low is not None and measured.high is not None
    se_e = max((estimate.high - estimate.low) / 3.92, 1e-4)
    se_m = max((measured.high - measured.low) / 3.92, 1e-4)
    w_e, w_m = 1 / se_e**2, 1 / se_m**2
    value = (w_e * estimate.value + w_m * measured.value) / (w_e + w_m)
    disjoint = measured.high < estimate.low or measured.low > estimate.high
    return AccuracyReading(float(value), True, min(estimate.low, measured.low),
                           max(estimate.high, measured.high), measured.n_labels,
                           unreliable=disjoint)


class Monitor:
    """Runs checks and retrains for one data home."""

    def __init__(self, *, settings: Settings, store: Store, registry: Registry,
                 dataset: Dataset | ChampionDatasets,
                 detector_for: Callable[[int], DriftDetector],
                 clock: Clock, log: MonitorLog, switch: ChampionSwitch) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.dataset = dataset
        self.detector_for = detector_for
        self.clock = clock
        self.log = log
        self.switch = switch
        """Every change of champion goes through it: recorded intent, then the aliases."""
        self._lock_path = settings.home / "locks" / "retrain.lock"
        self._check_lock_path = settings.home / "locks" / "check.lock"

    # Locking -----------------------------------------------------------------------------
    @contextmanager
    def _home_lock(self, path: Path, what: str, wait: float = 0.0) -> Iterator[None]:
        """Hold ``fcntl.flock`` on ``path`` (one holder per data home, across processes).

        Waits up to ``wait`` seconds for it (rides over a short holder such as recovery),
        then refuses with ``Busy`` (a ``ConflictError``) naming the holder. The holder writes
        its pid and start time into the file;
        the kernel drops the lock when it dies, SIGKILL included.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+", encoding="utf-8")
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise Busy(f"{what} is already running"
                                   f"{_lock_holder(path)}; wait for it to "
                                   "finish") from None
                    time.sleep(0.05)
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"pid": os.getpid(),
                                     "since": f"{self.clock.now():%Y-%m-%d %H:%M:%S}"}))
            handle.flush()
            yield
        finally:
            handle.close()

    @contextmanager
    def _retrain_lock(self, wait: float = RETRAIN_LOCK_WAIT_SECONDS) -> Iterator[None]:
        """Hold the data home's retrain lock; a second retrain anywhere is refused."""
        with self._home_lock(self._lock_path, "a retrain", wait):
            yield

    @contextmanager
    def _check_lock(self) -> Iterator[None]:
        """Hold the data home's check lock: one monitoring check at a time, from any process.

        Two checks at once would read the same window and record it twice (issue 14, item 6).
        """
        with self._home_lock(self._check_lock_path, "a monitoring check"):
            yield

    def retrain_running(self) -> bool:
        """Whether any process of this data home is retraining right now."""
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock_path.open("a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False

    def recover_interrupted(self) -> list[RetrainingEvent]:
        """Mark work left ``running`` by a process that died: retrains become ``interrupted``,
        job runs ``failed`` (detail ``interrupted: ...``).

        Runs while holding the retrain lock (so no retrain can start in between), and touches
        only records whose process is gone: a live pid on this host is never marked, whatever
        the lock says. When another process holds the retrain lock, retrains are left for the
        next recovery. Retraining events carry only a pid, so they are taken to be from this
        host (the documented one-host-per-data-home limit); job runs carry ``host:pid``.
        """
        recovered: list[RetrainingEvent] = []
        try:
            with self._retrain_lock(wait=0.0):
                for event in self.store.running_retrainings():
                    if event.pid is not None and _pid_alive(event.pid):
                        continue
                    recovered.append(self._mark_interrupted(event))
        except ConflictError:
            pass  # a retrain is running: its own events are live; recover next time
        self._recover_job_runs()
        return recovered

    def _mark_interrupted(self, event: RetrainingEvent) -> RetrainingEvent:
        done = replace(event, status="interrupted", finished_at=self.clock.now(),
                       reasoning=(f"Interrupted: process {event.pid} stopped before the "
                                  "retrain finished; the champion was not changed."))
        self.store.save_retraining(done, events=notify.retraining(done))
        self.store.append_audit("system", "retrain.interrupted", done.id,
                                {"pid": event.pid, "trigger": event.trigger},
                                done.reasoning)
        self.log.write(f"Retraining {event.id[:8]} was interrupted (pid {event.pid}); "
                       "marked as such, champion unchanged")
        return done

    def _recover_job_runs(self) -> None:
        """Job runs still ``running`` whose process (on this host) is gone become ``failed``."""
        host = socket.gethostname()
        for run in self.store.running_job_runs():
            run_host, _, pid_text = run.holder.rpartition(":")
            if run_host != host or not pid_text.isdigit() or _pid_alive(int(pid_text)):
                continue
            self.store.record_job_run(replace(
                run, outcome="failed", finished_at=self.clock.now(),
                detail=f"interrupted: process {pid_text} stopped before the run finished"))
            self.log.write(f"Job run {run.job} {run.id[:8]} was interrupted (pid {pid_text}); "
                           "marked failed")

    # The check ---------------------------------------------------------------------------
    def _window_start(self) -> datetime | None:
        latest = self.store.latest_snapshot()
        return latest.window_end if latest is not None else None

    def _accuracy(self, model: Any, since: datetime | None, until: datetime,
                  window_proba: np.ndarray, *, drifted: bool = False) -> AccuracyReading:
        labelled = self.store.labels_received_between(since, until)
        n_labels = len(labelled)
        if n_labels >= self.settings.monitoring.min_labels:
            texts = labelled["text"].tolist()
            y_true = labels_to_int(labelled["true_label"].tolist())
            y_pred = (spam_probability(model, texts) >= 0.5).astype(int)
            return measured_accuracy(y_true, y_pred)
        estimate = replace(estimate_accuracy(window_proba), n_labels=n_labels)
        if n_labels:
            y_true = labels_to_int(labelled["true_label"].tolist())
            y_pred = (spam_probability(model, labelled["text"].tolist()) >= 0.5).astype(int)
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
        """
        with self._check_lock():
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
        if champion is not None and len(window) >= thresholds.min_window:
            model = self.registry.load(champion)
            texts = window["text"].tolist()
            proba = spam_probability(model, texts)
            detector = self.detector_for(champion)
            report = detector.score(texts, timestamp=now, source="monitor",
                                    spam_probabilities=proba)
            accuracy = self._accuracy(model, since, now, proba,
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
            new_labels=self._new_labels(now) if report and report.text_drift else None)
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
            thresholds=_thresholds_dict(thresholds), champion_version=champion,
            snapshot_id=snapshot.id if snapshot else None,
            outcome="retrain requested" if ruling_decision == RETRAIN else "no action",
            actor=actor)
        # One transaction: no window without its decision, no decision without its events.
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
                decision = self.store.update_decision(decision.id,
                                                      outcome=f"retrain not run: {exc}")
                self.log.write(f"Retrain not run: {exc}")
        return CheckResult(decision=decision, snapshot=snapshot, report=report,
                           accuracy=accuracy, retrain=retrain_result,
                           retrain_error=retrain_error)

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

    # Retraining --------------------------------------------------------------------------
    def _training_data(self, trigger: str
                       ) -> tuple[TrainingData, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
        """Training split + labelled feedback; the most recent share of labels held out.

        Returns the training data, the recent hold-out, the evaluation set of earlier
        retrains (never trained on, never held out again) and the lineage tags.
        """
        split = self.dataset.split()
        labelled = self.store.labels_received_between(None, None)
        evaluation = self.store.evaluation_messages()
        # Feedback on messages of the persisted test split would leak it into training, and
        # the evaluation set is only useful as long as no model learns from it.
        kept_out = set(split.test_texts) | set(evaluation["text"])
        labelled = labelled[~labelled["text"].isin(kept_out)]
        labelled = labelled.sort_values("labelled_at").drop_duplicates("text", keep="last")
        n_holdout = round(len(labelled) * self.settings.monitoring.holdout_fraction)
        holdout = labelled.iloc[len(labelled) - n_holdout:] if n_holdout else labelled.iloc[:0]
        train_fb = labelled.iloc[:len(labelled) - n_holdout]
        train_fb = train_fb[~train_fb["text"].isin(set(holdout["text"]))]
        base = dict(zip(split.train_texts, split.train_labels, strict=True))
        for text, label in zip(train_fb["text"], train_fb["true_label"], strict=True):
            base[text] = label
        lineage = {
            **split.lineage,  # the champion's datasets (engine.datasets.ChampionDatasets)
            "trigger": trigger,
            "feedback_train": str(len(train_fb)),
            "feedback_holdout": str(len(holdout)),
            "feedback_from": _ts(train_fb["labelled_at"].min()) if len(train_fb) else "",
            "feedback_to": _ts(train_fb["labelled_at"].max()) if len(train_fb) else "",
            "holdout_from": _ts(holdout["labelled_at"].min()) if len(holdout) else "",
            "evaluation_set": str(len(evaluation)),
            TRAINED_AT: self.clock.now().isoformat(timespec="seconds"),
        }
        data = TrainingData(list(base), list(base.values()), split.test_texts,
                            split.test_labels, split.fingerprint, lineage)
        return data, holdout, evaluation, lineage

    def retrain(self, *, trigger: str, actor: str = "scheduler",
                reasons: tuple[str, ...] = (), decision_id: str | None = None,
                progress: Callable[[str], None] | None = None) -> RetrainResult:
        """Train a challenger, compare it with the champion, then deploy, keep or wait.

        Raises:
            ConflictError: another retrain of this data home is running.
        """
        say = progress or (lambda _m: None)
        with self._retrain_lock():
            champion = self.registry.champion_version()
            event = RetrainingEvent(id=uuid.uuid4().hex, started_at=self.clock.now(),
                                    trigger=trigger, status="running",
                                    champion_version=champion, decision_id=decision_id,
                                    pid=os.getpid(), actor=actor,
                                    reasoning=" ".join(reasons))
            self.store.save_retraining(event, events=notify.retraining(event))
            self.store.append_audit(actor, "retrain.started", event.id,
                                    {"trigger": trigger, "champion_version": champion},
                                    event.reasoning or f"Retrain requested ({trigger}).")
            try:
                return self._retrain(event, say)
            except Exception as exc:
                message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                failed = replace(event, status="failed", finished_at=self.clock.now(),
                                 deployment="KEEP",
                                 reasoning=f"Training failed ({message}); the champion stays.")
                self.store.save_retraining(failed, events=notify.retraining(failed))
                self.store.append_audit(actor, "retrain.failed", event.id,
                                        {"trigger": trigger, "error": message},
                                        failed.reasoning)
                self.log.write(f"Retraining failed: {message}; champion unchanged")
                outcome = DeploymentOutcome("KEEP", None, champion, None,
                                            (failed.reasoning,), None)
                if isinstance(exc, SpamopsError):
                    return RetrainResult(failed, outcome)
                raise

    def _retrain(self, event: RetrainingEvent, say: Callable[[str], None]) -> RetrainResult:
        from engine.training import train_and_log

        data, holdout, evaluation, lineage = self._training_data(event.trigger)
        self.log.write(f"Training challenger on {len(data.train_texts)} messages "
                       f"({lineage['feedback_train']} from feedback, "
                       f"{lineage['feedback_holdout']} recent labels held out)")
        say("training the challenger")
        result = train_and_log(
            data, tracking_uri=self.settings.tracking_uri, experiment="spamops",
            model_name=self.settings.model_name,
            artifact_location=str(self.settings.artifacts_dir.resolve()),
            seed=self.settings.seed, progress=say)
        self.store.record_model_version(result.version, result.run_id, self.clock.now(),
                                        result.metrics.as_dict(), lineage)
        champion = event.champion_version
        if champion is None:  # nothing to compare with: the first model becomes champion
            with self.switch.locked() as current:
                if CHAMPION not in current:
                    self.switch.move(current, {**current, CHAMPION: result.version},
                                     kind="adopt", actor=event.actor,
                                     action="champion.adopted", subject=f"v{result.version}",
                                     details={"champion": result.version},
                                     reasoning=f"version {result.version} became champion "
                                               "as the first version")
            outcome = DeploymentOutcome(DEPLOY, result.version, None, None,
                                        ("There was no champion, so the new model serves.",),
                                        None)
            return self._finish(event, result.version, outcome, lineage)
        say("comparing champion and challenger")
        comparison = self._compare(champion, result.version, data, holdout, evaluation)
        test_cmp = comparison.get("test_split")
        recent_cmp = comparison.get("recent_feedback")
        evaluation_cmp = comparison.get("evaluation_set")
        ruling = decide_deployment(test_cmp.summary() if test_cmp else None,
                                   recent_cmp.summary() if recent_cmp else None,
                                   rule_thresholds(self.settings),
                                   evaluation=evaluation_cmp.summary() if evaluation_cmp
                                   else None)
        comparison = replace(comparison, decided_on=ruling.basis)
        # A hold-out that decided joins the evaluation set, whatever the decision: later
        # challengers are judged on this episode's traffic too (issue 13). One too small to
        # decide goes back to the pool, so the next retrain can train on it or hold out more.
        if ruling.basis == "recent_feedback":
            added = self.store.add_evaluation_messages(holdout, event.id)
            self.log.write(f"Evaluation set: {added} held-out labels added "
                           f"({len(evaluation) + added} in all)")
        elif len(holdout):
            self.log.write(f"{len(holdout)} held-out labels were too few to decide; they stay "
                           "in the pool for the next retrain")
        basis = comparison.get(ruling.basis) or test_cmp
        if basis is not None:
            self.log.write(
                f"New model accuracy: {basis.challenger.metrics.accuracy:.1%} "
                f"({basis.accuracy_difference * 100:+.1f}) vs champion "
                f"{basis.champion.metrics.accuracy:.1%} on {basis.name} (n={basis.n}, "
                f"McNemar p={basis.mcnemar_p_value:.3g})")
        approval_id = None
        if ruling.decision == DEPLOY:
            ruling = self._deploy(ruling, champion, result.version, event)
        elif ruling.decision == PENDING_APPROVAL:
            approval = Approval(id=uuid.uuid4().hex[:12], created_at=self.clock.now(),
                                retraining_id=event.id, challenger_version=result.version,
                                champion_version=champion, status="pending",
                                comparison=comparison.as_dict())
            self.store.save_approval(approval)
            self.registry.set_alias(CHALLENGER, result.version)
            approval_id = approval.id
        outcome = DeploymentOutcome(ruling.decision, result.version, champion,
                                    ruling.improvement, ruling.reasons, comparison, approval_id)
        return self._finish(event, result.version, outcome, lineage)

    def _deploy(self, ruling: DeploymentDecision, champion: int, challenger: int,
                event: RetrainingEvent) -> DeploymentDecision:
        """Promote ``challenger`` over ``champion``, the version it was compared with; if
        another version became champion meanwhile, keep it (the comparison does not hold)."""
        with self.switch.locked() as current:
            if current.get(CHAMPION) != champion:
                return replace(ruling, decision=KEEP, reasons=(
                    *ruling.reasons,
                    f"Not deployed: v{current.get(CHAMPION)} became champion during the "
                    f"retrain, and v{challenger} was compared with v{champion}."))
            target = self.registry.plan_promotion(current, challenger)
            self.switch.move(current, target, kind="deploy", actor=event.actor,
                             action="champion.deployed", subject=f"v{challenger}",
                             details={"champion": challenger, "previous": target.get(PREVIOUS),
                                      "retraining_id": event.id},
                             reasoning=f"Deployed v{challenger} over v{champion}: "
                                       + " ".join(ruling.reasons))
        return ruling

    def _finish(self, event: RetrainingEvent, version: int, outcome: DeploymentOutcome,
                lineage: dict[str, Any]) -> RetrainResult:
        done = replace(event, status="completed", finished_at=self.clock.now(),
                       challenger_version=version, deployment=outcome.decision,
                       improvement=outcome.improvement,
                       reasoning=" ".join(outcome.reasons),
                       comparison=outcome.comparison.as_dict() if outcome.comparison else None,
                       lineage=lineage)
        self.store.save_retraining(done, events=notify.retraining(
            done, approval_id=outcome.approval_id))
        improvement = ("n/a" if outcome.improvement is None
                       else f"{outcome.improvement * 100:+.1f}")
        margin = self.settings.thresholds.min_improvement * 100
        self.log.write(f"Deployment decision: {outcome.decision} (improvement {improvement} "
                       f"vs required > {margin:.1f}) - {' '.join(outcome.reasons)}")
        self.store.append_audit(event.actor, f"deployment.{outcome.decision.lower()}", done.id, {
            "challenger_version": version, "champion_version": outcome.champion_version,
            "improvement": outcome.improvement, "approval_id": outcome.approval_id,
            "thresholds": _thresholds_dict(rule_thresholds(self.settings)),
            "lineage": lineage}, done.reasoning)
        return RetrainResult(done, outcome)

    def _compare(self, champion: int, challenger: int, data: TrainingData,
                 holdout: pd.DataFrame, evaluation: pd.DataFrame) -> Comparison:
        champion_model = self.registry.load(champion)
        challenger_model = self.registry.load(challenger)
        sets = []
        y_test = labels_to_int(data.test_labels)
        sets.append(compare_on_set(
            "test_split", y_test, spam_probability(champion_model, data.test_texts),
            spam_probability(challenger_model, data.test_texts),
            champion_version=champion, challenger_version=challenger,
            seed=self.settings.seed))
        for name, frame in (("recent_feedback", holdout), ("evaluation_set", evaluation)):
            if not len(frame):
                continue
            texts = frame["text"].tolist()
            sets.append(compare_on_set(
                name, labels_to_int(frame["true_label"].tolist()),
                spam_probability(champion_model, texts),
                spam_probability(challenger_model, texts),
                champion_version=champion, challenger_version=challenger,
                seed=self.settings.seed, first_at=_iso(frame["labelled_at"].min()),
                last_at=_iso(frame["labelled_at"].max())))
        return Comparison(champion, challenger, tuple(sets))

    # Approvals ---------------------------------------------------------------------------
    def _pending(self, approval_id: str) -> Approval:
        approval = self.store.approval(approval_id)
        if approval.status != "pending":
            raise ConflictError(f"approval {approval_id} was already {approval.status} "
                                f"by {approval.decided_by}")
        return approval

    def approve(self, approval_id: str, *, actor: str, reason: str | None = None) -> Approval:
        """Deploy a pending challenger, if the champion is still the one it was compared with.

        The aliases move, then the approval is saved, as one recorded champion change
        (``engine.champion_switch``): a crash in between is finished on the next start.

        Raises:
            ConflictError: already decided, or another version is champion now (the
                comparison behind this approval no longer holds: reject it, retrain).
        """
        with self.switch.locked() as current:
            approval = self._pending(approval_id)
            if current.get(CHAMPION) != approval.champion_version:
                raise ConflictError(
                    f"approval {approval_id} compared v{approval.challenger_version} with "
                    f"v{approval.champion_version}, but v{current.get(CHAMPION)} is champion "
                    "now: reject it (a new retrain compares with the current champion)")
            why = reason or (f"Approved by {actor}: version {approval.challenger_version} "
                             "now serves.")
            target = self.registry.plan_promotion(current, approval.challenger_version)
            self.switch.move(
                current, target, kind="approve", actor=actor, action="approval.approved",
                subject=approval.id, approval_id=approval.id, reasoning=why,
                details={"challenger_version": approval.challenger_version,
                         "champion_version": approval.champion_version,
                         "retraining_id": approval.retraining_id},
                complete=lambda: self.switch.complete_approval(approval.id, actor, why))
        self.log.write(f"Approval {approval.id} approved by {actor}: {why}")
        return self.store.approval(approval.id)

    def reject(self, approval_id: str, *, actor: str, reason: str | None = None) -> Approval:
        """Discard a pending challenger; the champion stays."""
        with self.switch.locked() as current:
            approval = self._pending(approval_id)
            if current.get(CHALLENGER) == approval.challenger_version:
                self.registry.delete_alias(CHALLENGER)
            champion = current.get(CHAMPION)
            return self._decide(approval, "rejected", "REJECTED", actor, reason or
                                f"Rejected by {actor}: version {champion} stays champion.")

    def _decide(self, approval: Approval, status: str, deployment: str, actor: str,
                reason: str) -> Approval:
        decided = replace(approval, status=status, decided_at=self.clock.now(),
                          decided_by=actor, reason=reason)
        self.store.save_approval(decided, events=notify.approval_decided(decided))
        try:
            event = self.store.retraining(approval.retraining_id)
            self.store.save_retraining(replace(event, deployment=deployment))
        except NotFound:
            pass
        self.store.append_audit(actor, f"approval.{status}", approval.id, {
            "challenger_version": approval.challenger_version,
            "champion_version": approval.champion_version,
            "retraining_id": approval.retraining_id}, reason)
        self.log.write(f"Approval {approval.id} {status} by {actor}: {reason}")
        return decided


def _outcome_text(outcome: DeploymentOutcome) -> str:
    if outcome.decision == DEPLOY:
        return f"deployed v{outcome.challenger_version}"
    if outcome.decision == PENDING_APPROVAL:
        return f"v{outcome.challenger_version} pending approval"
    if outcome.challenger_version is None:
        return "retrain failed, champion kept"
    return f"kept v{outcome.champion_version} (challenger v{outcome.challenger_version})"


def _thresholds_dict(t: RuleThresholds) -> dict[str, Any]:
    return {"drift": t.drift, "accuracy_floor": t.accuracy_floor,
            "min_improvement": t.min_improvement, "max_regression": t.max_regression,
            "significance": t.significance, "max_fpr_increase": t.max_fpr_increase,
            "min_window": t.min_window, "min_labels": t.min_labels,
            "approval_policy": t.approval_policy,
            "retrain_cooldown_hours": t.retrain_cooldown_hours,
            "prior_shift_action": t.prior_shift_action, "cusum_h": t.cusum_h,
            "min_new_labels": t.min_new_labels}


def _ts(value: Any) -> str:
    return str(value)[:19]


def _iso(value: Any) -> str:
    return str(value)[:19].replace(" ", "T")
