"""``POST /feedback`` and ``POST /feedback/batch``: true labels of earlier predictions."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter

from engine.records import LabelItem
from server.deps import ClientDep, ServicesDep
from server.routes._responses import errors
from server.schemas import (
    FeedbackBatchPublic,
    FeedbackBatchRequest,
    FeedbackPublic,
    FeedbackRequest,
)

router = APIRouter(responses=errors(401, 404, 503))


@router.post("/feedback", response_model=FeedbackPublic)
def add_feedback(*, body: FeedbackRequest, services: ServicesDep,
                 client: ClientDep) -> FeedbackPublic:
    """Record the true label (``ham`` or ``spam``) of a prediction; unknown ids get 404."""
    record = services.add_feedback(body.prediction_id, body.label, source=client)
    return FeedbackPublic.from_record(record)


@router.post("/feedback/batch", response_model=FeedbackBatchPublic,
             responses=errors(401, 422, 503))
def add_feedback_batch(*, body: FeedbackBatchRequest, services: ServicesDep,
                       client: ClientDep) -> FeedbackBatchPublic:
    """Record up to 1,000 labels, all or nothing: one unknown id or unmatched text and none
    is recorded (422 naming the items). Repeating a known label adds nothing."""
    items = [LabelItem(line=f"item {n}", label=item.label, prediction_id=item.prediction_id,
                       text=item.text) for n, item in enumerate(body.labels, start=1)]
    result = services.import_labels(items, source=client, origin="request")
    return FeedbackBatchPublic(**dataclasses.asdict(result))
