"""Approvals: deploying or discarding a challenger that waits for a person.

Owns ``Monitor.approve`` and ``Monitor.reject``: refused when already decided, or when the
champion changed since the comparison; the alias move and the approval's status are one
recorded champion change. It must not compare models.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from engine.errors import ConflictError, NotFound
from engine.monitoring.base import MonitorBase
from engine.notify import events as notify
from engine.records import Approval
from engine.registry import CHALLENGER, CHAMPION

if TYPE_CHECKING:
    pass


class ApprovalsMixin(MonitorBase):
    """Decide on a pending challenger."""


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
