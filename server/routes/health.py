"""``GET /health``: champion serving, store reachable, scheduler holder, uptime; never waits."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response, status

from engine import __version__
from server.deps import ServicesDep
from server.schemas import HealthPublic

router = APIRouter()


@router.get("/health", response_model=HealthPublic,
            responses={503: {"model": HealthPublic, "description": "No champion to serve"}})
async def health(*, request: Request, response: Response,
                 services: ServicesDep) -> HealthPublic:
    """200 while a champion can be served (``status`` ``ok`` or ``degraded``), else 503.

    Answered on the event loop at once: ``Services.health`` reads state kept by background
    checks and never waits (a busy database or a failed model load shows as ``degraded``).
    """
    body = HealthPublic.from_health(
        services.health(), uptime_seconds=time.monotonic() - request.app.state.started,
        version=__version__)
    if body.model_version is None:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return body
