"""A text one backend cannot store must not stop every later prediction from reaching the
history. PostgreSQL's ``text`` cannot hold a NUL character (U+0000), which JSON carries as
``"\\u0000"``: one such request used to poison the host's spool (every flush failed, for
everyone's predictions, while ``/health`` said ``ok``). The API refuses it on both backends
alike, and a row the store refuses anyway (a spool from before) is set aside, not blocking."""

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


def test_a_row_the_store_refuses_is_set_aside_and_counted_not_blocking_the_spool(
        trained_home: Path, postgres_url: str, make_client: ClientFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A spool row PostgreSQL refuses (here a NUL text, as a spool written before the API
    refused them holds) used to fail every later flush of the host for good (``/health``:
    "degraded: predictions are not reaching the history"). Now it goes to
    ``spool/rejected/``, ``/health`` and ``/metrics`` count it, and predictions keep
    landing; ``spamops store reingest`` puts it back once fixed."""
    monkeypatch.setenv("SPAMOPS_STORE__URL", postgres_url)
    client = make_client()
    services = client.app.state.services  # type: ignore[attr-defined]
    services.store.log_prediction(PredictionRecord(
        id="poison", ts=datetime(2026, 11, 29, 12), text="a\x00b", model_version=1,
        label="ham", spam_probability=0.1, latency_ms=1.0, source="test"))
    assert client.post("/predict", json={"text": "Are we still on for lunch?"}).status_code \
        == 200

    def landed() -> bool:
        with psycopg.connect(postgres_url) as con:
            return con.execute("SELECT count(*) FROM predictions").fetchone() == (1,)

    assert _until(landed, 20)
    assert _until(lambda: client.get("/health").json()["spool_rejected_segments"] == 1, 10)
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["problems"] == [], health
    assert "spamops_spool_rejected_segments 1.0" in client.get("/metrics").text
    [rejected] = (trained_home / "spool" / "rejected").glob("*.jsonl")
    assert "0x00" in rejected.with_name(rejected.name + ".reason.txt").read_text()
    [record] = [r for r in services.store.audit_records() if r.action == "spool.rejected"]
    assert record.details["rows"] == 1 and record.details["segment"] == rejected.name
    # Later predictions keep flowing.
    assert client.post("/predict", json={"text": "see you at 6"}).status_code == 200
    with psycopg.connect(postgres_url) as con:
        assert _until(lambda: con.execute("SELECT count(*) FROM predictions").fetchone()
                      == (2,), 20)
    # The operator removes the NUL and re-ingests the row: once.
    rejected.write_text(rejected.read_text().replace("\\u0000", "").replace("\x00", ""))
    assert services.store.reingest(rejected) == 1
    assert services.store.rejected_segments() == 0
    with psycopg.connect(postgres_url) as con:
        assert con.execute("SELECT text FROM predictions WHERE id = 'poison'").fetchone() \
            == ("ab",)
