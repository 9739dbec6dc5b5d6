"""Errors: one-line JSON, no stack traces, no file paths; clean OpenAPI operation ids."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from engine.errors import StoreBusy
from server.main import public_message


def test_unexpected_errors_are_a_bare_500(trained_home: Path, make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(raise_server_exceptions=False)
    services = client.app.state.services

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError(f"secret detail in {trained_home}/spamops.duckdb")

    services.models = broken  # a failure the engine did not foresee
    response = client.get("/models")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}


def test_spamops_errors_keep_their_status_and_hide_paths(trained_home: Path,
                                                         make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client()
    services = client.app.state.services

    def busy(*_a: object, **_k: object) -> None:
        raise StoreBusy(f"database {trained_home}/spamops.duckdb is locked by pid 7")

    services.models = busy
    response = client.get("/models")
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert str(trained_home) not in detail and "pid 7" in detail


def test_public_message_keeps_url_paths_and_hides_file_paths(client: TestClient) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    message = public_message("see /tmp/x/y.db and POST /monitor/check\nTraceback", services)
    assert message == "see <path> and POST /monitor/check"


def test_unknown_route_and_method_are_json_4xx(client: TestClient) -> None:
    assert client.get("/nope").json() == {"detail": "Not Found"}
    assert client.get("/predict").status_code == 405


def test_openapi_operation_ids_are_clean(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    ids = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {"predict-predict", "predict-predict_batch", "feedback-add_feedback",
            "control-approve", "metrics-metrics"} <= ids
    assert "ApiKey" in schema["components"]["securitySchemes"]


def test_creating_the_app_has_no_side_effects(data_home: Path) -> None:
    from engine.config import load_settings
    from engine.services import Services
    from server.main import create_app

    create_app(Services(load_settings()))
    assert list(data_home.iterdir()) == []


def test_a_body_that_is_not_json_is_a_400_saying_what_and_where(client: TestClient) -> None:
    response = client.post("/predict", content=b'{"text": "hi",\n  oops}',
                           headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"detail": "malformed JSON body at line 2, column 3: "
                                          "Expecting property name enclosed in double quotes"}


def test_well_formed_json_with_a_bad_field_stays_a_422(client: TestClient) -> None:
    response = client.post("/predict", json={"txt": "hi"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("text: Field required")
