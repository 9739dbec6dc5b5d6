"""Documented error responses shared by the routers (for OpenAPI, not behaviour)."""

from __future__ import annotations

from typing import Any

from server.schemas import ErrorPublic


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for ``codes``, each with the ``ErrorPublic`` body."""
    text = {401: "Missing or invalid X-API-Key", 404: "Not found", 409: "Conflict with the "
            "current state (no champion yet, already decided, already running)",
            503: "Unavailable (control endpoints disabled without SPAMOPS_API_KEY, or the "
            "store is busy)"}
    return {code: {"model": ErrorPublic, "description": text.get(code, "Error")}
            for code in codes}
