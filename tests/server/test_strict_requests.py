"""Request bodies are strict: a JSON string or number is never taken for a boolean, nor a
string, float or boolean for an integer (``{"retrain": "yes"}`` must not retrain)."""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError

from server import schemas
from tests.server.conftest import KEY

REQUEST_MODELS = [m for _, m in inspect.getmembers(schemas, inspect.isclass)
                  if issubclass(m, schemas._Request) and m is not schemas._Request]

WRONG: dict[type, tuple[Any, ...]] = {
    bool: ("yes", "true", 1, 0, "1"),
    int: ("200", 200.5, True, "1e3"),
    float: ("0.5", True),
}
"""Values pydantic's lax mode would coerce, by the field type they must be refused for."""


def _scalar(annotation: Any) -> type | None:
    """``bool``/``int``/``float`` behind ``X | None`` or ``Annotated[X, ...]``, else None."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        found = [_scalar(a) for a in typing.get_args(annotation) if a is not type(None)]
        return found[0] if len(found) == 1 else None
    if typing.get_origin(annotation) is typing.Annotated:
        return _scalar(typing.get_args(annotation)[0])
    return annotation if annotation in WRONG else None


def _typed_fields() -> list[tuple[type[BaseModel], str, type]]:
    return [(model, name, kind) for model in REQUEST_MODELS
            for name, field in model.model_fields.items()
            if (kind := _scalar(field.annotation)) is not None]


def test_the_request_models_have_booleans_and_numbers_to_check() -> None:
    fields = {(m.__name__, name) for m, name, _ in _typed_fields()}
    assert {("CheckRequest", "retrain"), ("DriftWindowRequest", "min_window")} <= fields


@pytest.mark.parametrize(("model", "name", "kind"), _typed_fields(),
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_every_boolean_and_number_field_refuses_coercion(model: type[BaseModel], name: str,
                                                         kind: type) -> None:
    for wrong in WRONG[kind]:
        with pytest.raises(ValidationError) as caught:
            model.model_validate({name: wrong})
        assert any(e["loc"] == (name,) for e in caught.value.errors()), (name, wrong)


def test_retrain_yes_is_refused_and_nothing_runs(populated_client: TestClient) -> None:
    before = populated_client.app.state.services.decisions(1000)  # type: ignore[attr-defined]
    response = populated_client.post("/monitor/check", json={"retrain": "yes"}, headers=KEY)
    assert response.status_code == 422
    assert response.json() == {"detail": "retrain: Input should be a valid boolean"}
    assert populated_client.app.state.services.decisions(1000) == before  # type: ignore[attr-defined]


def test_a_string_number_is_refused_on_the_drift_window(populated_client: TestClient) -> None:
    response = populated_client.post("/metrics/drift", headers=KEY,
                                     json={"texts": ["hi"], "min_window": "200"})
    assert response.status_code == 422
    assert response.json() == {"detail": "min_window: Input should be a valid integer"}
    ok = populated_client.post("/metrics/drift", headers=KEY,
                               json={"texts": ["hi"], "min_window": 200})
    assert ok.status_code == 200, ok.text
