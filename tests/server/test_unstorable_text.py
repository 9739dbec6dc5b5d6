"""A text one backend cannot store must not stop every later prediction from reaching the
history. PostgreSQL's ``text`` cannot hold a NUL character (U+0000), which JSON carries as
``"\\u0000"``: one such request used to poison the host's spool (every flush failed, for
everyone's predictions, while ``/health`` said ``ok``). The API refuses it on both backends
alike, and ``/health`` names a flush the store keeps refusing, whatever the reason."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from engine.records import PredictionRecord
from tests.server.conftest import ClientFactory


def _until(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("store_url", ["duckdb", "postgresql"], indirect=True)
def test_a_nul_character_is_refused_and_later_predictions_still_land(
        trained_home: Path, store_url: str | None, make_client: ClientFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if store_url:
        monkeypatch.setenv("SPAMOPS_STORE__URL", store_url)
    client = make_client()
    for path, body in (("/predict", b'{"text": "call \\u0000 now"}'),
                       ("/predict/batch", b'{"texts": ["fine", "call \\u0000 now"]}')):
        response = client.post(path, content=body,
                               headers={"content-type": "application/json"})
        assert response.status_code == 422, response.text
        assert "NUL character" in response.json()["detail"]
    ok = client.post("/predict", json={"text": "Are we still on for lunch?"})
    assert ok.status_code == 200, ok.text
    services = client.app.state.services  # type: ignore[attr-defined]
    assert _until(lambda: services.store.count_predictions() == 1, 15)
    assert client.get("/health").json()["problems"] == []


def test_health_names_a_flush_the_store_keeps_refusing(
        trained_home: Path, postgres_url: str, make_client: ClientFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A spool row PostgreSQL refuses (here a NUL text, as a spool written before the API
    refused them holds) is no outage: the store answers. ``/health`` must still say that
    predictions stopped reaching the history, and why."""
    monkeypatch.setenv("SPAMOPS_STORE__URL", postgres_url)
    client = make_client()
    services = client.app.state.services  # type: ignore[attr-defined]
    services.store.log_prediction(PredictionRecord(
        id="poison", ts=datetime(2026, 11, 29, 12), text="a\x00b", model_version=1,
        label="ham", spam_probability=0.1, latency_ms=1.0, source="test"))

    def degraded() -> bool:
        health = client.get("/health").json()
        return health["status"] == "degraded" and any(
            "not reaching the history" in p for p in health["problems"])

    assert _until(degraded, 20), client.get("/health").json()
    [problem] = client.get("/health").json()["problems"]
    assert "0x00" in problem and "1 predictions spooled" in problem
    with psycopg.connect(postgres_url) as con:
        assert con.execute("SELECT count(*) FROM predictions").fetchone() == (0,)
