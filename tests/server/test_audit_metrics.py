"""``/metrics`` anchors the audit chain: a label-free counter of its records, read from the
monitor log (not the database), that ``spamops audit verify --metrics-url`` checks against
(issue 14, item 10)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import uvicorn
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from engine.config import load_settings
from engine.services import Services
from tests.cli_helpers import run_cli


def audit_counter(client: TestClient) -> float:
    families = text_string_to_metric_families(client.get("/metrics").text)
    return next(s.value for family in families for s in family.samples
                if s.name == "spamops_audit_records_total" and not s.labels)


def test_metrics_count_the_anchored_audit_records(client: TestClient) -> None:
    services = Services(load_settings(), read_only=True)
    before = audit_counter(client)
    assert before == services.audit_records()[-1].seq
    Services(load_settings()).audit("promote", "v1", {}, "counted")
    assert audit_counter(client) == before + 1


@pytest.fixture
def live_metrics_url(trained_home: Path) -> Iterator[str]:
    """The real app on a real uvicorn on 127.0.0.1, in a thread of this process."""
    from server.main import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(Services(load_settings())),
                                           host="127.0.0.1", port=0, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/metrics"
    server.should_exit = True
    thread.join(10)


def test_audit_verify_checks_the_metrics_counter(live_metrics_url: str, trained_home: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    done = run_cli(capsys, "audit", "verify", "--metrics-url", live_metrics_url, "--json")
    assert done.code == 0, done.out + done.err
    assert done.json()["ok"]
    # Cut the newest record off the monitor log and the database both: the counter that
    # was already served never goes down, so /metrics still knows.
    head = Services(load_settings(), read_only=True).audit_records()[-1].seq
    log = trained_home / "logs" / "monitor.log"
    log.write_text("".join(line for line in log.read_text().splitlines(keepends=True)
                           if f"seq={head} " not in line))
    with duckdb.connect(str(trained_home / "spamops.duckdb")) as con:
        con.execute("DELETE FROM audit_log WHERE seq = ?", [head])
    broken = run_cli(capsys, "audit", "verify", "--metrics-url", live_metrics_url)
    assert broken.code == 1
    assert "BROKEN" in broken.out and "/metrics" in broken.out
