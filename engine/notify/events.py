"""Notification events: what happened, built from the engine's records, before delivery.

A ``NotifyEvent`` is one decision worth telling people about: its type (one of
``config.EVENT_TYPES``), the engine-clock time, the model versions, the decision's reason
sentences and an ``event_id`` receivers use to drop duplicates (delivery is at least once).
The builders below turn the records the monitor already writes (``Decision``,
``RetrainingEvent``, ``Approval``) into events, so the monitor hands them to the same store call
that saves the record and both commit in one transaction (the outbox pattern). Pure: no I/O,
no clock.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.notify.config import EVENT_TYPES, TEST_EVENT
from engine.records import Approval, Decision, DriftSnapshot, RetrainingEvent


@dataclass(frozen=True)
class NotifyEvent:
    """One event for the outbox; ``to_json``/``from_json`` round-trip it through the store."""

    type: str
    """One of ``EVENT_TYPES`` (or ``test``)."""
    ts: datetime
    """When it happened (engine clock, naive UTC)."""
    summary: str
    """One line for humans (the Slack message's headline)."""
    reasons: tuple[str, ...] = ()
    """The decision's reason sentences, as recorded."""
    champion_version: int | None = None
    challenger_version: int | None = None
    subject: str = ""
    """Id of the record behind the event (decision, retraining, approval) or a version."""
    details: dict[str, Any] = field(default_factory=dict)
    """Small, JSON-able facts specific to the type (drift score, improvement, ...)."""
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES and self.type != TEST_EVENT:
            raise ValueError(f"unknown notification event {self.type!r}")

    def to_json(self) -> str:
        """The event as stored in the outbox (format-neutral; rendered at send time)."""
        return json.dumps({
            "event_id": self.event_id, "type": self.type, "ts": self.ts.isoformat(),
            "summary": self.summary, "reasons": list(self.reasons),
            "champion_version": self.champion_version,
            "challenger_version": self.challenger_version, "subject": self.subject,
            "details": self.details}, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> NotifyEvent:
        """Read back what ``to_json`` wrote."""
        raw = json.loads(text)
        return cls(type=raw["type"], ts=datetime.fromisoformat(raw["ts"]),
                   summary=raw["summary"], reasons=tuple(raw["reasons"]),
                   champion_version=raw["champion_version"],
                   challenger_version=raw["challenger_version"], subject=raw["subject"],
                   details=raw["details"], event_id=raw["event_id"])


def _v(version: int | None) -> str:
    return "none" if version is None else f"v{version}"


def drift_detected(decision: Decision, snapshot: DriftSnapshot | None) -> list[NotifyEvent]:
    """``drift_detected`` when the check's snapshot detected drift, else nothing."""
    if snapshot is None or not snapshot.drift_detected:
        return []
    patterns = [p.term for p in snapshot.new_patterns[:8]]
    return [NotifyEvent(
        "drift_detected", decision.ts,
        f"Drift detected on champion {_v(decision.champion_version)}: score "
        f"{snapshot.drift_score:.2f} above {snapshot.threshold:.2f} "
        f"({snapshot.n} messages); decision {decision.decision}.",
        decision.reasons, decision.champion_version, None, decision.id,
        {"drift_score": snapshot.drift_score, "threshold": snapshot.threshold,
         "window_size": snapshot.n, "decision": decision.decision,
         "accuracy": decision.accuracy, "accuracy_is_estimate": decision.accuracy_is_estimate,
         "new_patterns": patterns, "trigger": decision.trigger})]


_DEPLOYMENT_EVENTS = {"DEPLOY": "deployed", "KEEP": "kept",
                      "PENDING_APPROVAL": "pending_approval"}


def retraining(event: RetrainingEvent, *, approval_id: str | None = None
               ) -> list[NotifyEvent]:
    """The event a saved retraining state means: started, failed, interrupted, or its
    deployment decision (deployed, kept, pending approval) once completed."""
    details: dict[str, Any] = {"retraining_id": event.id, "trigger": event.trigger,
                               "actor": event.actor}
    reasons = (event.reasoning,) if event.reasoning else ()
    if event.status == "running":
        return [NotifyEvent("retrain_started", event.started_at,
                            f"Retraining started ({event.trigger}); champion "
                            f"{_v(event.champion_version)} serves meanwhile.",
                            reasons, event.champion_version, None, event.id, details)]
    when = event.finished_at or event.started_at
    if event.status == "failed":
        return [NotifyEvent("retrain_failed", when,
                            f"Retraining failed; champion {_v(event.champion_version)} stays.",
                            reasons, event.champion_version, None, event.id, details)]
    if event.status == "interrupted":
        details["pid"] = event.pid
        return [NotifyEvent("retrain_interrupted", when,
                            f"Retraining interrupted (process {event.pid} stopped); champion "
                            f"{_v(event.champion_version)} unchanged.",
                            reasons, event.champion_version, None, event.id, details)]
    kind = _DEPLOYMENT_EVENTS.get(event.deployment or "")
    if event.status != "completed" or kind is None:
        return []
    details["improvement"] = event.improvement
    if approval_id:
        details["approval_id"] = approval_id
    headline = {
        "deployed": f"Deployed {_v(event.challenger_version)} (was "
                    f"{_v(event.champion_version)}).",
        "kept": f"Kept champion {_v(event.champion_version)}; challenger "
                f"{_v(event.challenger_version)} not deployed.",
        "pending_approval": f"Challenger {_v(event.challenger_version)} waits for approval "
                            f"(champion {_v(event.champion_version)})"
                            + (f": spamops approve {approval_id}" if approval_id else "") + ".",
    }[kind]
    return [NotifyEvent(kind, when, headline, reasons, event.champion_version,
                        event.challenger_version, event.id, details)]


def approval_decided(approval: Approval) -> list[NotifyEvent]:
    """``approved`` or ``rejected`` for a decided approval, else nothing."""
    if approval.status not in ("approved", "rejected"):
        return []
    verb = "Approved" if approval.status == "approved" else "Rejected"
    served = (approval.challenger_version if approval.status == "approved"
              else approval.champion_version)
    return [NotifyEvent(
        approval.status, approval.decided_at or approval.created_at,
        f"{verb} challenger {_v(approval.challenger_version)} by {approval.decided_by}; "
        f"{_v(served)} serves.",
        (approval.reason,) if approval.reason else (), approval.champion_version,
        approval.challenger_version, approval.id,
        {"approval_id": approval.id, "retraining_id": approval.retraining_id,
         "decided_by": approval.decided_by})]


def rolled_back(ts: datetime, champion: int | None, demoted: int | None, actor: str,
                reasoning: str) -> list[NotifyEvent]:
    """``rolled_back``: ``champion`` serves again in place of ``demoted``."""
    return [NotifyEvent("rolled_back", ts,
                        f"Rolled back to {_v(champion)} (from {_v(demoted)}) by {actor}.",
                        (reasoning,) if reasoning else (), champion, demoted, f"v{champion}",
                        {"actor": actor, "demoted": demoted})]


def scheduler_takeover(ts: datetime, holder: str, message: str) -> list[NotifyEvent]:
    """``scheduler_takeover``: a standing-by process became the scheduler holder."""
    return [NotifyEvent("scheduler_takeover", ts,
                        f"Scheduler taken over by {holder}.", (message,), None, None, holder,
                        {"holder": holder})]


def test_event(ts: datetime, receiver: str) -> NotifyEvent:
    """The event ``spamops notify test`` sends."""
    return NotifyEvent(TEST_EVENT, ts, f"Test notification from spamops to {receiver}.",
                       ("Sent by `spamops notify test`; no decision was taken.",),
                       subject=receiver, details={"receiver": receiver})
