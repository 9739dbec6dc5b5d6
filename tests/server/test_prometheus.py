"""GET /metrics: Prometheus text exposition from the app's own registry."""

from __future__ import annotations

from datetime import UTC

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families


def _samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


def test_counts_requests_by_route_template_and_predictions_by_label(
        client: TestClient) -> None:
    client.post("/predict", json={"text": "WINNER!! free prize, call 09061701461 now"})
    client.post("/predict/batch", json={"texts": ["see you soon", "ok thanks"]})
    client.post("/predict", json={"text": ""})
    client.get("/no/such/path")
    samples = _samples(client)
    assert samples[("spamops_predictions_total", (("label", "spam"),))] == 1
    assert samples[("spamops_predictions_total", (("label", "ham"),))] == 2
    key = ("spamops_http_requests_total",
           (("method", "POST"), ("route", "/predict"), ("status", "200")))
    assert samples[key] == 1
    assert samples[("spamops_http_requests_total",
                    (("method", "POST"), ("route", "/predict"), ("status", "422")))] == 1
    assert samples[("spamops_http_requests_total",
                    (("method", "GET"), ("route", "unmatched"), ("status", "404")))] == 1
    assert samples[("spamops_http_request_duration_seconds_count",
                    (("method", "POST"), ("route", "/predict")))] == 2
    assert samples[("spamops_champion_version", ())] == 1


def test_exposes_current_drift_scores(populated_client: TestClient) -> None:
    samples = _samples(populated_client)
    assert samples[("spamops_drift_detected", ())] == 1
    assert samples[("spamops_drift_threshold", ())] == 0.15
    assert samples[("spamops_drift_score", (("statistic", "combined"),))] > 0.15
    assert ("spamops_drift_score", (("statistic", "vocabulary"),)) in samples


def test_two_apps_do_not_share_counters(client: TestClient, make_client) -> None:  # type: ignore[no-untyped-def]
    client.post("/predict", json={"text": "hello"})
    other = make_client()
    samples = _samples(other)
    assert samples[("spamops_predictions_total", (("label", "ham"),))] == 0


def test_exposes_the_gauges_the_shipped_alert_rules_watch(
        populated_client: TestClient) -> None:
    from engine.config import load_settings
    from engine.services import Services

    services = Services(load_settings(), read_only=True)
    decision = services.decisions(1)[0]
    [pending] = services.approvals("pending")
    samples = _samples(populated_client)
    assert samples[("spamops_last_check_timestamp_seconds", ())] == (
        decision.ts.replace(tzinfo=UTC).timestamp())
    assert samples[("spamops_check_interval_seconds", ())] == 3600
    assert samples[("spamops_accuracy", (("kind", "measured"),))] == decision.accuracy
    assert samples[("spamops_accuracy_floor", ())] == 0.93
    assert samples[("spamops_accuracy_estimate_unreliable", ())] == 0  # measured, not estimated
    assert samples[("spamops_pending_approvals", ())] == 1
    assert samples[("spamops_oldest_pending_approval_timestamp_seconds", ())] == (
        pending.created_at.replace(tzinfo=UTC).timestamp())
    assert samples[("spamops_scheduler_holder_present", ())] == 0
    assert ("spamops_spool_backlog_bytes", ()) in samples
    assert not any(name.startswith("spamops_webhook") for name, _ in samples)  # no receivers


def test_a_drifted_estimate_is_exported_as_unreliable(trained_home, make_client) -> None:  # type: ignore[no-untyped-def]
    from engine.config import load_settings
    from engine.services import Services

    services = Services(load_settings())
    services.simulate(messages=400, drift=0.5, seed=6)  # no labels: accuracy is estimated
    services.check_now(retrain=False)
    services.close()
    samples = _samples(make_client())
    assert ("spamops_accuracy", (("kind", "estimated"),)) in samples
    assert samples[("spamops_accuracy_estimate_unreliable", ())] == 1
