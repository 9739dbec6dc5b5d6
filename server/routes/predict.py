"""``POST /predict`` and ``POST /predict/batch``: score messages with the champion; every
prediction is logged through the store's spool by ``Services.predict``.

``/predict`` awaits the app's ``PredictionBatcher``, which scores concurrent requests together
in one ``Services.predict`` call on a worker thread (see ``server/batching.py``). The batch
endpoint is a plain ``def`` (thread pool): its one call is already a batch.
"""

from __future__ import annotations

from fastapi import APIRouter

from server.deps import BatcherDep, ClientDep, MetricsDep, ServicesDep
from server.routes._responses import errors
from server.schemas import (
    PredictBatchRequest,
    PredictionPublic,
    PredictionsPublic,
    PredictRequest,
)

router = APIRouter(responses=errors(401, 409, 503))


@router.post("/predict", response_model=PredictionPublic)
async def predict(*, body: PredictRequest, batcher: BatcherDep, metrics: MetricsDep,
                  _client: ClientDep) -> PredictionPublic:
    """Classify one message as ham or spam."""
    prediction = await batcher.predict(body.text)
    metrics.count_predictions([prediction])
    return PredictionPublic.from_prediction(prediction)


@router.post("/predict/batch", response_model=PredictionsPublic)
def predict_batch(*, body: PredictBatchRequest, services: ServicesDep, metrics: MetricsDep,
                  _client: ClientDep) -> PredictionsPublic:
    """Classify up to 1,000 messages; results keep the order of ``texts``."""
    predictions = services.predict(body.texts, source="api")
    metrics.count_predictions(predictions)
    return PredictionsPublic(data=[PredictionPublic.from_prediction(p) for p in predictions],
                             count=len(predictions))
