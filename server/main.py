"""The FastAPI application: ``create_app(services)`` builds it; importing does nothing.

``app_from_env`` is the factory the worker processes of ``spamops serve --workers N`` import
by name: each worker builds its own ``Services`` from the environment the parent exported.

The app owns HTTP only: routers (``server/routes/``), the lifespan (open the store off the
loop and warm the champion at start-up, ``services.close()`` at shutdown so the prediction
spool is ingested), error
handlers and the Prometheus middleware. Every route turns one request into one
``Services`` call. Errors never leak stack traces or file paths: a ``SpamopsError`` becomes
``{"detail": "<its one line>"}`` with its ``http_status``; a malformed request one line naming
the field or the problem with the body (``server/request_errors.py``: 400 for a body that is
not JSON or not UTF-8, with where; 415 for a body that is not ``application/json``; 422 for an
empty body, a body that is not a JSON object, or a bad field); anything unexpected a bare 500
(logged here, with its traceback, for the operator).
"""

from __future__ import annotations

import gc
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine import __version__
from engine.errors import SpamopsError
from engine.services import Services
from server.batching import PredictionBatcher
from server.body_limit import BodyLimitMiddleware
from server.request_errors import (
    body_problem,
    malformed_json_message,
    request_model,
    unparseable_body_message,
    validation_message,
)
from server.routes import include_routes
from server.telemetry import ApiMetrics, MetricsMiddleware

logger = logging.getLogger(__name__)

STORE_OPEN_GRACE_SECONDS = 2.0
"""How long start-up waits for the history store before serving without it (into the spool)."""

_FILE_PATH = re.compile(r"(?<![\w/])/(?:home|root|tmp|var|usr|opt|srv|mnt|etc|work|data|Users)"
                        r"(?:/[\w.@+-]+)+/?")
"""Absolute file paths under the usual roots (URL paths such as /monitor/check stay)."""


def operation_id(route: APIRoute) -> str:
    """``<tag>-<function name>``: stable, readable OpenAPI operation ids for clients."""
    tag = str(route.tags[0]) if route.tags else "api"
    return f"{tag}-{route.name}"


def public_message(message: str, services: Services) -> str:
    """A one-line error message with file paths replaced (no layout leaks to callers)."""
    line = message.splitlines()[0] if message else "error"
    for home in {str(services.settings.home.resolve()), str(services.settings.home)}:
        if home not in (".", ""):
            line = line.replace(home, "<home>")
    return _FILE_PATH.sub("<path>", line)


def _body_model(request: Request) -> type[BaseModel] | None:
    """The request model of the matched route's body, if it takes one."""
    body_field = getattr(request.scope.get("route"), "body_field", None)
    return request_model(body_field.field_info.annotation) if body_field is not None else None


def create_app(services: Services, *, close_services: bool = True) -> FastAPI:
    """Build the REST API around ``services``.

    Args:
        services: the engine facade every route calls.
        close_services: call ``services.close()`` at shutdown (false when another UI in the
            same process, such as the console, owns them).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.started = time.monotonic()
        # The spool is ready at once; the store opens on a background thread, which waits
        # while another process holds the file: nothing here or in a request blocks the loop.
        services.start_serving()
        try:
            # Load the champion now, so the first request does not pay MLflow's start-up.
            await run_in_threadpool(services.champion.get)
        except SpamopsError as exc:
            logger.warning("serving without a champion for now: %s", exc)
        # Give the store a moment to open and be probed, so the first /health is not a
        # "not checked yet"; a busy database does not hold the start-up longer than that.
        if not await run_in_threadpool(services.wait_until_open, STORE_OPEN_GRACE_SECONDS):
            logger.warning("history database not open yet; predictions wait in the spool")
        await run_in_threadpool(services.health, STORE_OPEN_GRACE_SECONDS)
        # FastAPI builds the OpenAPI schema on the first /openapi.json, on the loop (~0.3-1 s
        # on a busy machine): build it now, so no request ever waits for it.
        await run_in_threadpool(app.openapi)
        # Everything alive now (modules, MLflow, the model) lives as long as the server. Moved
        # out of the collector's reach, a full collection walks a few thousand objects instead
        # of ~350,000: pauses of 100-200 ms under load become ~7 ms (docs/architecture.md).
        gc.collect()
        gc.freeze()
        if close_services:  # this server owns its process (not the console's --serve)
            try:
                # Deliver webhook events in the background (issue 17); no-op without receivers.
                await run_in_threadpool(services.start_notifier)
            except SpamopsError as exc:
                logger.warning("webhook delivery not started: %s", exc)
        try:
            yield
        finally:
            if close_services:
                await run_in_threadpool(services.close)

    app = FastAPI(
        title="spamops",
        version=__version__,
        summary="Classify SMS spam, take feedback, watch drift, retrain and deploy safely.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    metrics = ApiMetrics(services)
    app.state.services = services
    app.state.metrics = metrics
    app.state.batcher = PredictionBatcher(services)
    app.state.started = time.monotonic()
    # A body over server.max_body_bytes is answered 413 before anything reads or parses it;
    # the metrics middleware (added after, so outside it) still counts that answer.
    app.add_middleware(BodyLimitMiddleware, limit=services.settings.server.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @app.exception_handler(SpamopsError)
    async def spamops_error(_request: Request, exc: SpamopsError) -> JSONResponse:
        if exc.http_status >= 500:
            logger.error("request failed: %s", exc)
        return JSONResponse({"detail": public_message(str(exc), services)},
                            status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        body = await request.body()
        malformed = malformed_json_message(exc, body)
        if malformed is not None:  # not JSON at all: a 400, as for any unparseable request
            return JSONResponse({"detail": malformed}, status_code=400)
        problem = body_problem(exc, body, request.headers.get("content-type"),
                               _body_model(request))
        if problem is not None:  # the body as a whole: its media type, emptiness, JSON type
            return JSONResponse({"detail": problem[1]}, status_code=problem[0])
        return JSONResponse({"detail": validation_message(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI answers a body it cannot decode (not UTF-8, nested too deeply) with a bare
        # "There was an error parsing the body", raised from the cause: name the cause.
        unparseable = unparseable_body_message(exc.__cause__) if exc.status_code == 400 else None
        if unparseable is not None:
            return JSONResponse({"detail": unparseable}, status_code=400)
        return await http_exception_handler(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    include_routes(app)
    return app


def app_from_env() -> FastAPI:
    """The app of one worker process: settings from ``SPAMOPS_*`` and ``spamops.toml``.

    ``spamops serve --workers N`` exports the data home as ``SPAMOPS_HOME`` before uvicorn
    starts the workers, so every worker serves the same home with the same settings.
    """
    from engine.config import load_settings

    services = Services(load_settings())
    services.isolate_heavy_work = True  # long-lived: checks and retrains run in a child
    return create_app(services)
