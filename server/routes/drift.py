"""``GET /metrics/drift`` (latest snapshot) and ``GET /metrics/drift/history``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from engine.errors import NotFound
from server.deps import ServicesDep
from server.routes._responses import errors
from server.schemas import DriftSnapshotPublic, DriftSnapshotsPublic

router = APIRouter(prefix="/metrics/drift", responses=errors(503))


@router.get("", response_model=DriftSnapshotPublic, responses=errors(404))
def latest_drift(*, services: ServicesDep) -> DriftSnapshotPublic:
    """The latest drift snapshot; 404 until the first monitoring check."""
    snapshot = services.latest_drift()
    if snapshot is None:
        raise NotFound("no drift snapshot yet: run a monitoring check "
                       "(POST /monitor/check or `spamops monitor --check-now`)")
    return DriftSnapshotPublic.from_snapshot(snapshot)


@router.get("/history", response_model=DriftSnapshotsPublic)
def drift_history(*, services: ServicesDep,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> DriftSnapshotsPublic:
    """Drift snapshots, newest first."""
    snapshots = services.drift_history(limit=limit)
    return DriftSnapshotsPublic(data=[DriftSnapshotPublic.from_snapshot(s) for s in snapshots],
                                count=len(snapshots))
