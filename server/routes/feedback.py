"""``POST /feedback``: the true label of an earlier prediction, arriving later."""

from __future__ import annotations

from fastapi import APIRouter

from server.deps import ClientDep, ServicesDep
from server.routes._responses import errors
from server.schemas import FeedbackPublic, FeedbackRequest

router = APIRouter(responses=errors(401, 404, 503))


@router.post("/feedback", response_model=FeedbackPublic)
def add_feedback(*, body: FeedbackRequest, services: ServicesDep,
                 client: ClientDep) -> FeedbackPublic:
    """Record the true label (``ham`` or ``spam``) of a prediction; unknown ids get 404."""
    record = services.add_feedback(body.prediction_id, body.label, source=client)
    return FeedbackPublic.from_record(record)
