"""Retraining: challenger data, training, champion/challenger comparison, deployment.

Owns ``Monitor.retrain`` (under the data home's retrain lock): the training split plus
labelled feedback with the most recent share held out, the comparison on identical sets
(test split, recent hold-out, evaluation set), ``rules.decide_deployment``, and deploying
(through the champion switch), keeping, or queueing for approval, and stopping as
``interrupted`` when its lock was lost mid-way (checked at each phase boundary and right
before the outcome is written: ``MonitorBase.verify_lock``). It must not decide by itself,
and must not move aliases but through ``ChampionSwitch``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.comparison import Comparison, compare_on_set
from engine.crossfit import compare_recent
from engine.errors import LockLost, SpamopsError, StoreError
from engine.failpoints import failpoint
from engine.monitoring.base import MonitorBase
from engine.monitoring.outcomes import (
    DeploymentOutcome,
    RetrainResult,
    rule_thresholds,
    thresholds_dict,
)
from engine.notify import events as notify
from engine.records import Approval, RetrainingEvent
from engine.registry import CHALLENGER, CHAMPION, PREVIOUS
from engine.rules import (
    DEPLOY,
    KEEP,
    MIN_RECENT_FOR_DECISION,
    PENDING_APPROVAL,
    DeploymentDecision,
    decide_deployment,
)
from engine.training import TRAINED_AT, TrainingData, labels_to_int, spam_probability

if TYPE_CHECKING:
    import pandas as pd


class RetrainMixin(MonitorBase):
    """Train, compare, and deploy, keep or wait for approval."""


    def _training_data(self, trigger: str
                       ) -> tuple[TrainingData, pd.DataFrame, pd.DataFrame, pd.DataFrame,
                                  dict[str, Any]]:
        """Training split + labelled feedback; the most recent share of labels held out.

        Returns the training data, the recent hold-out, the feedback trained on, the
        evaluation set of earlier retrains (never trained on, never held out again) and the
        lineage tags.
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
        return data, holdout, train_fb, evaluation, lineage

    def retrain(self, *, trigger: str, actor: str = "scheduler",
                reasons: tuple[str, ...] = (), decision_id: str | None = None,
                progress: Callable[[str], None] | None = None) -> RetrainResult:
        """Train a challenger, compare it with the champion, then deploy, keep or wait.

        Raises:
            ConflictError: another retrain of this data home is running.
            LockLost: the retrain lock was lost while it ran (PostgreSQL restarted): nothing
                was deployed and the event is recorded ``interrupted``.
        """
        say = progress or (lambda _m: None)
        # Minutes of training: the file is left to other processes meanwhile.
        with self.retrain_time.timing(), self.store.suspend_session(), self._retrain_lock():
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
            except LockLost as exc:
                self._record_lock_lost(event, exc)
                raise
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

    def _phase(self, name: str) -> None:
        """A phase boundary: a test's fail point, then the lock check (``LockLost``)."""
        failpoint(f"retrain.{name}")
        self.verify_lock("retrain")

    def _record_lock_lost(self, event: RetrainingEvent, exc: LockLost) -> None:
        """Record the retrain as ``interrupted`` (not a decision): one line in the log, the
        event, an audit record. A store still away leaves the event ``running``; recovery
        marks it once this process is gone."""
        self.log.write(str(exc))
        done = replace(event, status="interrupted", finished_at=self.clock.now(),
                       reasoning=f"Interrupted: {exc}; the champion was not changed.")
        try:
            self.store.save_retraining(done, events=notify.retraining(done))
            self.store.append_audit("system", "retrain.interrupted", done.id,
                                    {"pid": event.pid, "trigger": event.trigger,
                                     "cause": "lock lost"}, done.reasoning)
        except StoreError as error:
            self.log.write(f"Retraining {event.id[:8]} could not be marked interrupted: "
                           f"{error}")

    def _retrain(self, event: RetrainingEvent, say: Callable[[str], None]) -> RetrainResult:
        from engine.training import train_and_log

        data, holdout, train_fb, evaluation, lineage = self._training_data(event.trigger)
        self._phase("after_data")
        self.log.write(f"Training challenger on {len(data.train_texts)} messages "
                       f"({lineage['feedback_train']} from feedback, "
                       f"{lineage['feedback_holdout']} recent labels held out)")
        say("training the challenger")
        result = train_and_log(
            data, tracking_uri=self.settings.tracking_uri, experiment="spamops",
            model_name=self.settings.model_name,
            artifact_location=str(self.settings.artifacts_dir.resolve()),
            seed=self.settings.seed, progress=say)
        self._phase("after_training")
        self.store.record_model_version(result.version, result.run_id, self.clock.now(),
                                        result.metrics.as_dict(), lineage)
        champion = event.champion_version
        if champion is None:  # nothing to compare with: the first model becomes champion
            self._phase("before_outcome")
            with self.switch.locked() as current:
                self.verify_lock("retrain")  # right before the switch
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
        recent_train = self._unseen_by_champion(champion, train_fb)
        # Labels an earlier retrain against this same champion held out (now in the
        # evaluation set) still count in the deciding set: neither model trained on them.
        earlier = self._unseen_by_champion(champion, evaluation, unknown_means_all=False)
        comparison = self._compare(champion, result.version, data, holdout, evaluation,
                                   recent_train, earlier)
        test_cmp = comparison.get("test_split")
        recent_cmp = comparison.get("recent_feedback")
        evaluation_cmp = comparison.get("evaluation_set")
        ruling = decide_deployment(test_cmp.summary() if test_cmp else None,
                                   recent_cmp.summary() if recent_cmp else None,
                                   rule_thresholds(self.settings),
                                   evaluation=evaluation_cmp.summary() if evaluation_cmp
                                   else None)
        comparison = replace(comparison, decided_on=ruling.basis)
        self._phase("after_compare")
        # A hold-out that decided joins the evaluation set, whatever the decision: later
        # challengers are judged on this episode's traffic too (issue 13). One too small to
        # decide on its own goes back to the pool, so the next retrain can train on it or
        # hold out more (with cross-fitting it still counted in this decision).
        if ruling.basis == "recent_feedback" and len(holdout) >= MIN_RECENT_FOR_DECISION:
            added = self.store.add_evaluation_messages(holdout, event.id)
            self.log.write(f"Evaluation set: {added} held-out labels added "
                           f"({len(evaluation) + added} in all)")
        elif len(holdout):
            self.log.write(f"{len(holdout)} held-out labels were too few to decide on their "
                           "own; they stay in the pool for the next retrain")
        basis = comparison.get(ruling.basis) or test_cmp
        if basis is not None:
            self.log.write(
                f"New model accuracy: {basis.challenger.metrics.accuracy:.1%} "
                f"({basis.accuracy_difference * 100:+.1f}) vs champion "
                f"{basis.champion.metrics.accuracy:.1%} on {basis.name} (n={basis.n}, "
                f"McNemar p={basis.mcnemar_p_value:.3g})")
        approval_id = None
        self._phase("before_outcome")  # nothing of the outcome is written yet
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
            self.verify_lock("retrain")  # right before the switch: no second deployer
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
            "thresholds": thresholds_dict(rule_thresholds(self.settings)),
            "lineage": lineage}, done.reasoning)
        return RetrainResult(done, outcome)

    def _unseen_by_champion(self, champion: int, frame: pd.DataFrame, *,
                            unknown_means_all: bool = True) -> pd.DataFrame:
        """The labels of ``frame`` that arrived after the champion was trained: labels the
        champion cannot have learnt from, so both models are out of sample on them (once
        cross-fitted, for feedback the challenger trains on). A champion without a training
        time (older versions): all of ``frame``, or none when not ``unknown_means_all``."""
        import pandas as pd

        trained_at = self.registry.version(champion).tags.get(TRAINED_AT)
        if not len(frame):
            return frame
        unknown = frame if unknown_means_all else frame.iloc[:0]
        if not trained_at:
            return unknown
        try:
            cutoff = datetime.fromisoformat(trained_at).replace(tzinfo=None)
        except ValueError:
            return unknown
        stamps = pd.to_datetime(frame["labelled_at"])
        return frame[stamps > pd.Timestamp(cutoff)]

    def _compare(self, champion: int, challenger: int, data: TrainingData,
                 holdout: pd.DataFrame, evaluation: pd.DataFrame,
                 recent_train: pd.DataFrame, earlier: pd.DataFrame) -> Comparison:
        champion_model = self.registry.load(champion)
        challenger_model = self.registry.load(challenger)
        sets = []
        y_test = labels_to_int(data.test_labels)
        sets.append(compare_on_set(
            "test_split", y_test, spam_probability(champion_model, data.test_texts),
            spam_probability(challenger_model, data.test_texts),
            champion_version=champion, challenger_version=challenger,
            seed=self.settings.seed))
        # Recent feedback: the hold-out and the earlier hold-outs against this champion
        # scored by the challenger, plus the recent labels it trained on scored by
        # cross-fitted fold models (engine.crossfit).
        folds = self.settings.monitoring.crossfit_folds
        recent = compare_recent(
            champion_model, challenger_model, holdout=holdout, recent_train=recent_train,
            train_texts=data.train_texts, train_labels=data.train_labels, folds=folds,
            seed=self.settings.seed, champion_version=champion, challenger_version=challenger,
            earlier=earlier[["text", "true_label", "labelled_at"]])
        if recent.comparison is not None:
            sets.append(recent.comparison)
            if recent.comparison.crossfit_n:
                self.log.write(f"Cross-fitted {recent.comparison.crossfit_n} recent labels the "
                               f"challenger trained on over {recent.comparison.crossfit_folds} "
                               f"folds in {recent.seconds:.1f} s")
        for name, frame in (("evaluation_set", evaluation),):
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


def _ts(value: Any) -> str:
    return str(value)[:19]


def _iso(value: Any) -> str:
    return str(value)[:19].replace(" ", "T")
