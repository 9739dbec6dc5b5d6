"""One ``/metrics`` scrape opens one store connection, whatever it reads (it was one per
table: decisions, approvals, webhook receivers, the drift snapshot)."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

SCRAPES = 10


def _scrape(client: TestClient) -> dict[str, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {s.name: s.value for family in text_string_to_metric_families(response.text)
            for s in family.samples if not s.labels}


def test_a_scrape_reads_the_history_through_one_connection(
        populated_client: TestClient) -> None:
    services = populated_client.app.state.services  # type: ignore[attr-defined]
    assert services.wait_until_open(60)  # start-up's own connections are done
    first = _scrape(populated_client)
    began = time.monotonic()
    assert {"spamops_last_check_timestamp_seconds", "spamops_pending_approvals",
            "spamops_drift_threshold", "spamops_store_connections_opened_total"} <= set(first)
    for _ in range(SCRAPES):
        last = _scrape(populated_client)
    opened = (last["spamops_store_connections_opened_total"]
              - first["spamops_store_connections_opened_total"])
    # One per scrape; the background store probe (every 2 s) may add one meanwhile.
    probes = 1 + int((time.monotonic() - began) / 2)
    assert SCRAPES <= opened <= SCRAPES + probes, (opened, probes)
    assert last["spamops_pending_approvals"] == first["spamops_pending_approvals"] == 1
