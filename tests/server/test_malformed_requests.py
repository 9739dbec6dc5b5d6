"""Malformed requests get one line naming the problem, on every route that takes a body.

Each case posts raw bytes through the real app (TestClient), as a client with a bug would:
bytes that are not UTF-8, an empty body, a body sent as text/plain or as curl's default form
encoding or with no Content-Type, JSON that is not an object. None may be FastAPI's generic
"There was an error parsing the body" or "body: Input should be a valid dictionary".
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import KEY

JSON = {"content-type": "application/json"}

BODY_ROUTES = {
    "/predict": ('{"text": "hi"}', '{"text": "..."}'),
    "/predict/batch": ('{"texts": ["hi"]}', '{"texts": [...]}'),
    "/feedback": ('{"prediction_id": "x", "label": "spam"}',
                  '{"prediction_id": "...", "label": "ham"|"spam"}'),
    "/feedback/batch": ('{"labels": [{"text": "hi", "label": "ham"}]}', '{"labels": [...]}'),
    "/metrics/drift": ('{"texts": ["hi"]}', '{"texts": [...]}'),
}
"""Route -> (a valid body, the shape its errors show)."""

OPTIONAL_BODY_ROUTES = ("/monitor/check", "/approvals/nosuch/approve", "/approvals/nosuch/reject")
"""Routes whose body may be omitted, but when sent must be JSON."""


def _detail(response: object) -> str:
    detail = response.json()["detail"]  # type: ignore[attr-defined]
    assert isinstance(detail, str) and "\n" not in detail
    assert "error parsing the body" not in detail and "valid dictionary" not in detail
    return detail


def test_invalid_utf8_names_the_byte(keyed_client: TestClient) -> None:
    body = b'{"text": "caf\xe9"}'  # latin-1, not UTF-8: the bad byte is at offset 13
    for path in (*BODY_ROUTES, *OPTIONAL_BODY_ROUTES):
        response = keyed_client.post(path, content=body, headers={**KEY, **JSON})
        assert response.status_code == 400, path
        assert _detail(response) == ("request body is not valid UTF-8 at byte offset 13 "
                                     "(0xe9): JSON must be UTF-8"), path


def test_an_empty_body_says_what_was_expected(keyed_client: TestClient) -> None:
    for path, (_valid, shape) in BODY_ROUTES.items():
        for headers in (JSON, {}):
            response = keyed_client.post(path, content=b"", headers={**KEY, **headers})
            assert response.status_code == 422, path
            assert _detail(response) == f"request body is empty: expected JSON {shape}", path


@pytest.mark.parametrize(("content_type", "got"), [
    ("text/plain", "got text/plain"),
    ("application/x-www-form-urlencoded", "got application/x-www-form-urlencoded"),
    (None, "the request has none"),
])
def test_a_body_that_is_not_sent_as_json_is_a_415(keyed_client: TestClient,
                                                  content_type: str | None, got: str) -> None:
    headers = dict(KEY) if content_type is None else {**KEY, "content-type": content_type}
    for path in (*BODY_ROUTES, *OPTIONAL_BODY_ROUTES):
        valid = BODY_ROUTES.get(path, ('{"retrain": false}',))[0]
        response = keyed_client.post(path, content=valid.encode(), headers=headers)
        assert response.status_code == 415, path
        assert _detail(response) == f"Content-Type must be application/json ({got})", path


def test_json_that_is_not_an_object_says_so(keyed_client: TestClient) -> None:
    for body, got in ((b'"hi"', "a string"), (b"[1, 2]", "an array"), (b"null", "null"),
                      (b"3", "a number"), (b"true", "a boolean")):
        for path, (_valid, shape) in BODY_ROUTES.items():
            response = keyed_client.post(path, content=body, headers={**KEY, **JSON})
            assert response.status_code == 422, path
            assert _detail(response) == (f"request body must be a JSON object {shape}, "
                                         f"got {got}"), path


def test_a_json_media_type_with_parameters_or_a_suffix_is_json(keyed_client: TestClient) -> None:
    for content_type in ("application/json; charset=utf-8", "application/vnd.api+json"):
        response = keyed_client.post("/predict", content=b'{"text": "hi"}',
                                     headers={**KEY, "content-type": content_type})
        assert response.status_code == 200, response.text


def test_bad_fields_and_query_parameters_still_name_the_field(keyed_client: TestClient) -> None:
    response = keyed_client.post("/predict/batch", json={"texts": "hi"}, headers=KEY)
    assert (response.status_code, _detail(response)) == (422, "texts: Input should be a "
                                                              "valid list")
    response = keyed_client.get("/metrics/drift/history?limit=abc")
    assert response.status_code == 422
    assert _detail(response).startswith("query.limit: Input should be a valid integer")


def test_an_optional_body_may_still_be_omitted(keyed_client: TestClient) -> None:
    response = keyed_client.post("/approvals/nosuch/reject", headers=KEY)
    assert response.status_code == 404  # got past the body: the approval is unknown
