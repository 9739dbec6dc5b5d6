"""One ``APIRouter`` per resource; ``include_routes`` adds them all to an app, with their tags.

They are included into the app directly, not through one collecting router: each level of
included routers is work FastAPI repeats on every request.

Every route documents the error bodies it can return (``ErrorPublic``), so the OpenAPI schema
matches what clients and the schema fuzzer see.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

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

ERRORS = {400: {"model": ErrorPublic, "description": "The body is not JSON or not UTF-8 (where "
                                                      "is named)"},
          415: {"model": ErrorPublic, "description": "A body sent as anything but "
                                                      "application/json"},
          422: {"model": ErrorPublic, "description": "Invalid request (the field is named; an "
                                                      "empty body or a non-object says so)"},
          500: {"model": ErrorPublic, "description": "Unexpected error (no details)"}}

ROUTERS: tuple[tuple[APIRouter, str], ...] = (
    (predict.router, "predict"), (feedback.router, "feedback"), (health.router, "health"),
    (drift.router, "drift"), (models.router, "models"), (retraining.router, "retraining"),
    (control.router, "control"), (prometheus.router, "metrics"))
"""Every resource router and its OpenAPI tag, in the order the docs list them."""


def include_routes(app: FastAPI) -> None:
    """Add every route to ``app``, each documenting the common error bodies."""
    for router, tag in ROUTERS:
        app.include_router(router, tags=[tag], responses=ERRORS)  # type: ignore[arg-type]
