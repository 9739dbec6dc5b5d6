"""Control actions: ``POST /monitor/check``, ``POST /retrain``, ``GET /approvals``,
``POST /approvals/{id}/approve`` and ``/reject``.

Actions need ``X-API-Key`` (``OperatorDep``) and are recorded in the audit trail with the
caller as ``api:<key id>``. They run synchronously in the thread pool (a retrain takes
seconds); a retrain already running anywhere is a 409.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from server.deps import ClientDep, OperatorDep, ServicesDep
from server.routes._responses import errors
from server.schemas import (
    ApprovalPublic,
    ApprovalsPublic,
    CheckPublic,
    CheckRequest,
    DecisionRequest,
    DeploymentPublic,
)

router = APIRouter(responses=errors(401, 409, 503))

ApprovalId = Annotated[str, Path(min_length=1, max_length=64)]


@router.post("/monitor/check", response_model=CheckPublic)
def check_now(*, services: ServicesDep, operator: OperatorDep,
              body: CheckRequest | None = None) -> CheckPublic:
    """Run one monitoring cycle now (and a retrain when the rules say so)."""
    retrain = body.retrain if body is not None else True
    return CheckPublic.from_result(services.check_now(trigger="api", actor=operator,
                                                      retrain=retrain))


@router.post("/retrain", response_model=DeploymentPublic)
def retrain(*, services: ServicesDep, operator: OperatorDep) -> DeploymentPublic:
    """Train a challenger now, compare it, and deploy, keep or queue it for approval."""
    return DeploymentPublic.from_result(services.retrain(trigger="api", actor=operator))


@router.get("/approvals", response_model=ApprovalsPublic)
def list_approvals(*, services: ServicesDep, _client: ClientDep,
                   status: Annotated[Literal["pending", "approved", "rejected", "all"],
                                     Query()] = "pending") -> ApprovalsPublic:
    """Approvals (pending ones by default)."""
    approvals = services.approvals(None if status == "all" else status)
    return ApprovalsPublic(data=[ApprovalPublic.from_approval(a) for a in approvals],
                           count=len(approvals))


@router.post("/approvals/{approval_id}/approve", response_model=ApprovalPublic,
             responses=errors(404))
def approve(*, approval_id: ApprovalId, services: ServicesDep, operator: OperatorDep,
            body: DecisionRequest | None = None) -> ApprovalPublic:
    """Deploy a pending challenger."""
    reason = body.reason if body is not None else None
    return ApprovalPublic.from_approval(services.approve(approval_id, actor=operator,
                                                         reason=reason))


@router.post("/approvals/{approval_id}/reject", response_model=ApprovalPublic,
             responses=errors(404))
def reject(*, approval_id: ApprovalId, services: ServicesDep, operator: OperatorDep,
           body: DecisionRequest | None = None) -> ApprovalPublic:
    """Discard a pending challenger; the champion stays."""
    reason = body.reason if body is not None else None
    return ApprovalPublic.from_approval(services.reject(approval_id, actor=operator,
                                                        reason=reason))
