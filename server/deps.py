"""Dependencies of the routes, as ``Annotated`` aliases: a signature says what a route needs.

``ServicesDep`` is the one ``Services`` the app was built with. ``OperatorDep`` guards the
control endpoints: they need ``X-API-Key`` equal to ``settings.api_key`` and are *disabled*
(503) while no key is configured. ``ClientDep`` guards predictions, feedback and the
approvals list: open while no key is configured (the server binds to 127.0.0.1 by default),
keyed once one is. Both return the caller's name for the audit trail, ``api:<key id>``, where
the key id is a short hash of the key, never the key. This module must not call services.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from engine.services import Services
from server.telemetry import ApiMetrics

API_KEY_HEADER = "X-API-Key"

api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, scheme_name="ApiKey",
    description="The key set with SPAMOPS_API_KEY. Control endpoints always need it; "
                "predictions and feedback need it only when a key is configured.")


# The dependencies are ``async def`` because they never block: FastAPI would otherwise run
# each of them on the thread pool, three thread hops per request for nothing.
async def get_services(request: Request) -> Services:
    """The services the app was created with."""
    services: Services = request.app.state.services
    return services


async def get_metrics(request: Request) -> ApiMetrics:
    """The app's Prometheus metrics."""
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


ServicesDep = Annotated[Services, Depends(get_services)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]


def key_id(key: str) -> str:
    """A short, stable, non-secret name for an API key (first 8 hex digits of its sha256)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]


def _check_key(services: Services, key: str | None) -> str:
    configured = services.settings.api_key
    assert configured is not None
    expected = configured.get_secret_value().encode("utf-8")
    # compare_digest: the time taken must not tell how much of a guessed key was right.
    if key is None or not hmac.compare_digest(key.encode("utf-8"), expected):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            f"missing or invalid {API_KEY_HEADER} header",
                            headers={"WWW-Authenticate": "ApiKey"})
    return f"api:{key_id(key)}"


# The guards take ``Request`` (free) rather than ``ServicesDep`` (one more dependency to solve
# on every request): ``/predict`` is the hot path and FastAPI's per-dependency cost shows there.
async def require_operator(request: Request,
                           key: Annotated[str | None, Security(api_key_header)]) -> str:
    """The caller of a control endpoint, or 503 (no key configured) / 401 (wrong key)."""
    services: Services = request.app.state.services
    if services.settings.api_key is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "control endpoints are disabled: set SPAMOPS_API_KEY (16 characters "
                            "or more) and restart the server to enable them")
    return _check_key(services, key)


async def require_client(request: Request,
                         key: Annotated[str | None, Security(api_key_header)]) -> str:
    """The caller of an open endpoint: ``api`` with no key configured, else the key's name."""
    return _client(request.app.state.services, key)


def client_of(request: Request) -> str:
    """``require_client`` called from a route body instead of as a dependency.

    Only ``POST /predict`` does this: it is the hot path, and resolving ``ClientDep`` (two
    nested dependencies) costs FastAPI about a tenth of the request. The route declares the
    same security requirement in its OpenAPI entry (``CLIENT_SECURITY``).
    """
    return _client(request.app.state.services, request.headers.get(API_KEY_HEADER))


CLIENT_SECURITY: dict[str, Any] = {"security": [{"ApiKey": []}]}
"""The OpenAPI security requirement of a route that calls ``client_of``."""


def _client(services: Services, key: str | None) -> str:
    if services.settings.api_key is None:
        return "api"
    return _check_key(services, key)


OperatorDep = Annotated[str, Depends(require_operator)]
ClientDep = Annotated[str, Depends(require_client)]
