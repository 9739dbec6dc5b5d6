"""``POST /predict`` and ``POST /predict/batch``: score messages with the champion; every
prediction is logged through the store's spool by ``Services.predict``.

``/predict`` is the hot path, so it asks FastAPI for the body and the ``Request`` only: it
checks the caller with ``client_of`` (``ClientDep``'s logic, called directly) and reaches
the app's ``PredictionBatcher`` and metrics through ``request.app.state``; each dependency
FastAPI resolves costs work on every request. The batcher scores concurrent requests
together in one ``Services.predict`` call on a worker thread (see ``server/batching.py``).
The batch endpoint is a plain ``def`` (thread pool): its one call is already a batch.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from server.batching import PredictionBatcher
from server.deps import CLIENT_SECURITY, ClientDep, MetricsDep, ServicesDep, client_of
from server.routes._responses import errors
from server.schemas import (
    PredictBatchRequest,
    PredictionPublic,
    PredictionsPublic,
    PredictRequest,
)
from server.telemetry import ApiMetrics

router = APIRouter(responses=errors(401, 409, 503))


@router.post("/predict", response_model=PredictionPublic, openapi_extra=CLIENT_SECURITY)
async def predict(*, body: PredictRequest, request: Request) -> Response:
    """Classify one message as ham or spam."""
    client_of(request)
    batcher: PredictionBatcher = request.app.state.batcher
    metrics: ApiMetrics = request.app.state.metrics
    prediction = await batcher.predict(body.text)
    metrics.count_predictions([prediction])
    # Serialised here: FastAPI would validate the model it was just built from once more.
    return Response(PredictionPublic.from_prediction(prediction).model_dump_json(),
                    media_type="application/json")


@router.post("/predict/batch", response_model=PredictionsPublic)
def predict_batch(*, body: PredictBatchRequest, services: ServicesDep, metrics: MetricsDep,
                  _client: ClientDep) -> PredictionsPublic:
    """Classify up to 1,000 messages; results keep the order of ``texts``."""
    predictions = services.predict(body.texts, source="api")
    metrics.count_predictions(predictions)
    return PredictionsPublic(data=[PredictionPublic.from_prediction(p) for p in predictions],
                             count=len(predictions))
