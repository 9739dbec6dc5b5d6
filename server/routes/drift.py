"""``GET /metrics/drift`` (latest snapshot), ``POST /metrics/drift`` (score a posted window)
and ``GET /metrics/drift/history``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from engine.errors import NotFound
from server.deps import ClientDep, ServicesDep
from server.routes._responses import errors
from server.schemas import (
    DriftReportPublic,
    DriftSnapshotPublic,
    DriftSnapshotsPublic,
    DriftWindowRequest,
)

router = APIRouter(prefix="/metrics/drift", responses=errors(503))


@router.get("", response_model=DriftSnapshotPublic, responses=errors(404))
def latest_drift(*, services: ServicesDep) -> DriftSnapshotPublic:
    """The latest drift snapshot; 404 until the first monitoring check."""
    snapshot = services.latest_drift()
    if snapshot is None:
        raise NotFound("no drift snapshot yet: run a monitoring check "
                       "(POST /monitor/check or `spamops monitor --check-now`)")
    return DriftSnapshotPublic.from_snapshot(snapshot)


@router.post("", response_model=DriftReportPublic, responses=errors(401, 409))
def score_window(*, body: DriftWindowRequest, services: ServicesDep,
                 client: ClientDep) -> DriftReportPublic:
    """Drift of the posted window against the champion's training data; nothing is saved.

    A window below ``min_window`` (default ``monitoring.min_window``) is scored but its
    recommendation is ``INSUFFICIENT_DATA``, with the reason: as ``spamops drift`` and the
    monitor answer.
    """
    report = services.drift_reports([("api", body.texts)], min_window=body.min_window)[0]
    return DriftReportPublic.from_report(report)


@router.get("/history", response_model=DriftSnapshotsPublic)
def drift_history(*, services: ServicesDep,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> DriftSnapshotsPublic:
    """Drift snapshots, newest first."""
    snapshots = services.drift_history(limit=limit)
    return DriftSnapshotsPublic(data=[DriftSnapshotPublic.from_snapshot(s) for s in snapshots],
                                count=len(snapshots))
