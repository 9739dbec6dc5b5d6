"""``GET /metrics``: Prometheus text exposition of this app's own registry."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from server.deps import MetricsDep

router = APIRouter()


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}},
                             "description": "Prometheus text format 0.0.4"}})
def metrics(*, metrics: MetricsDep) -> Response:
    """Request counts and latency, predictions by label, drift scores, champion version."""
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
