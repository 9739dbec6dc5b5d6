"""One ``APIRouter`` per resource, collected into ``api_router`` with their tags.

Every route documents the error bodies it can return (``ErrorPublic``), so the OpenAPI schema
matches what clients and the schema fuzzer see.
"""

from __future__ import annotations

from fastapi import APIRouter

from server.routes import (
    control,
    drift,
    feedback,
    health,
    models,
    predict,
    prometheus,
    retraining,
)
from server.schemas import ErrorPublic

ERRORS = {400: {"model": ErrorPublic, "description": "The body could not be parsed"},
          422: {"model": ErrorPublic, "description": "Invalid request (the field is named)"},
          500: {"model": ErrorPublic, "description": "Unexpected error (no details)"}}

api_router = APIRouter(responses=ERRORS)  # type: ignore[arg-type]
api_router.include_router(predict.router, tags=["predict"])
api_router.include_router(feedback.router, tags=["feedback"])
api_router.include_router(health.router, tags=["health"])
api_router.include_router(drift.router, tags=["drift"])
api_router.include_router(models.router, tags=["models"])
api_router.include_router(retraining.router, tags=["retraining"])
api_router.include_router(control.router, tags=["control"])
api_router.include_router(prometheus.router, tags=["metrics"])
