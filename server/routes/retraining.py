"""``GET /retraining/history``: retraining events, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from server.deps import ServicesDep
from server.routes._responses import errors
from server.schemas import RetrainingEventPublic, RetrainingEventsPublic

router = APIRouter(prefix="/retraining", responses=errors(503))


@router.get("/history", response_model=RetrainingEventsPublic)
def retraining_history(*, services: ServicesDep,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 10
                       ) -> RetrainingEventsPublic:
    """Trigger, decision, reasoning, versions, metrics and timestamps of each retraining."""
    events = services.retraining_history(limit)
    return RetrainingEventsPublic(data=[RetrainingEventPublic.from_event(e) for e in events],
                                  count=len(events))
