"""The API on a PostgreSQL store that goes away (the real server stopped, then started):
``/predict`` keeps answering into the spool, ``/health`` says so at once, and every
acknowledged prediction reaches the history exactly once when the database is back."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.postgres import PostgresServer
from tests.server.conftest import ClientFactory

pytestmark = pytest.mark.slow  # stops and restarts the PostgreSQL server

TEXTS = ["WINNER!! Claim your free prize now, text WIN to 80086",
         "Are we still on for lunch tomorrow?"]


def _until(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def _predict(client: TestClient, n: int) -> list[str]:
    ids = []
    for i in range(n):
        response = client.post("/predict", json={"text": TEXTS[i % 2]})
        assert response.status_code == 200, response.text
        ids.append(response.json()["prediction_id"])
    return ids


def _stored(url: str) -> list[str]:
    with psycopg.connect(url) as con:
        return [str(r[0]) for r in con.execute("SELECT id FROM predictions").fetchall()]


def test_predictions_are_spooled_while_postgresql_is_away_and_land_once(
        trained_home: Path, postgres_url: str, postgres_server: PostgresServer,
        make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_STORE__URL", postgres_url)
    client = make_client()
    assert _until(lambda: client.get("/health").json()["status"] == "ok", 30), \
        client.get("/health").json()
    before = _predict(client, 20)
    assert _until(lambda: len(_stored(postgres_url)) == 20, 15)

    postgres_server.stop()
    try:
        started = time.monotonic()
        during = _predict(client, 40)  # every one answered while the database is away
        assert time.monotonic() - started < 20

        def degraded() -> bool:
            body = client.get("/health").json()
            return body["status"] == "degraded" and any(
                p.startswith("degraded: store unreachable, ") for p in body["problems"])

        assert _until(degraded, 20), client.get("/health").json()
        began = time.monotonic()
        body = client.get("/health").json()
        assert time.monotonic() - began < 1.0  # answered at once, not after a timeout
        assert body["store_reachable"] is False and body["model_version"] == 1
        assert "degraded: store unreachable, 40 predictions spooled" in body["problems"]
        during += _predict(client, 5)
    finally:
        postgres_server.start()

    assert _until(lambda: client.get("/health").json()["status"] == "ok", 30), \
        client.get("/health").json()
    expected = before + during
    assert _until(lambda: len(_stored(postgres_url)) >= len(expected), 30)
    stored = _stored(postgres_url)
    assert sorted(stored) == sorted(expected)  # each acknowledged one, exactly once
    assert list((trained_home / "spool").glob("*.jsonl")) == []


def test_an_api_started_while_postgresql_is_down_serves_and_catches_up(
        trained_home: Path, postgres_url: str, postgres_server: PostgresServer,
        make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_STORE__URL", postgres_url)
    postgres_server.stop()
    try:
        client = make_client()  # the store is opened (migrated) in the background, later
        ids = _predict(client, 15)
        assert _until(lambda: "degraded: store unreachable, 15 predictions spooled"
                      in client.get("/health").json()["problems"], 20), \
            client.get("/health").json()
    finally:
        postgres_server.start()
    assert _until(lambda: client.get("/health").json()["status"] == "ok", 30), \
        client.get("/health").json()
    assert _until(lambda: sorted(_stored(postgres_url)) == sorted(ids), 30)
