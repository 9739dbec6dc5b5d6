"""``POST /predict`` and ``POST /predict/batch``: score messages with the champion; every
prediction is logged through the store's spool by ``Services.predict``.

Handlers are plain ``def`` (run in the thread pool): scoring is CPU work and the champion
re-check may touch the registry, neither of which may block the event loop.
"""

from __future__ import annotations

from fastapi import APIRouter

from server.deps import ClientDep, MetricsDep, ServicesDep
from server.routes._responses import errors
from server.schemas import (
    PredictBatchRequest,
    PredictionPublic,
    PredictionsPublic,
    PredictRequest,
)

router = APIRouter(responses=errors(401, 409, 503))


@router.post("/predict", response_model=PredictionPublic)
def predict(*, body: PredictRequest, services: ServicesDep, metrics: MetricsDep,
            _client: ClientDep) -> PredictionPublic:
    """Classify one message as ham or spam."""
    predictions = services.predict([body.text], source="api")
    metrics.count_predictions(predictions)
    return PredictionPublic.from_prediction(predictions[0])


@router.post("/predict/batch", response_model=PredictionsPublic)
def predict_batch(*, body: PredictBatchRequest, services: ServicesDep, metrics: MetricsDep,
                  _client: ClientDep) -> PredictionsPublic:
    """Classify up to 1,000 messages; results keep the order of ``texts``."""
    predictions = services.predict(body.texts, source="api")
    metrics.count_predictions(predictions)
    return PredictionsPublic(data=[PredictionPublic.from_prediction(p) for p in predictions],
                             count=len(predictions))
