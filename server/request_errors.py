"""What a malformed request is told: one line naming the field or the problem with the body.

Owns turning FastAPI's request failures into ``(status, detail)``, for every route:

- a body that is not JSON: 400 ``malformed JSON body at line L, column C: <what>``;
- a body that is not UTF-8 (FastAPI's bare "There was an error parsing the body"): 400
  ``request body is not valid UTF-8 at byte offset N (0xNN): JSON must be UTF-8``;
- a body sent as anything but JSON (``text/plain``, curl's default form encoding, no
  ``Content-Type`` at all, which FastAPI does not parse as JSON): 415
  ``Content-Type must be application/json (got text/plain)``;
- an empty body where the route needs one: 422
  ``request body is empty: expected JSON {"texts": [...]}``;
- JSON that is not an object: 422 ``request body must be a JSON object {"text": "..."},
  got an array``;
- anything else: 422 ``<field>: <what is wrong>`` for the first bad field.

The expected shape is read from the route's own request model, so it cannot drift from the
schema. Nothing here runs on a request that validates: the app calls it from its exception
handlers (``server/main.py``). It must not call services.
"""

from __future__ import annotations

import email.message
import types
import typing
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

JSON_CONTENT_TYPE = "application/json"


def validation_message(exc: RequestValidationError) -> str:
    """``<field.path>: <pydantic's message>`` of the first error, plus how many more."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid value')}{more}"


def malformed_json_message(exc: RequestValidationError, body: bytes) -> str | None:
    """``malformed JSON body at line L, column C: <what>`` for a body that does not parse
    (FastAPI reports a ``json_invalid`` error whose location is the character offset), else
    ``None``."""
    first = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
    if first is None:
        return None
    loc = first.get("loc", ())
    offset = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    what = str((first.get("ctx") or {}).get("error") or "not valid JSON")
    if offset is None:
        return f"malformed JSON body: {what}"
    text = body.decode("utf-8", "replace")[:offset]
    line = text.count("\n") + 1
    column = offset - (text.rfind("\n") + 1) + 1
    return f"malformed JSON body at line {line}, column {column}: {what}"


def unparseable_body_message(cause: BaseException | None) -> str | None:
    """The line for a body FastAPI could not parse for a reason other than JSON syntax
    (its 400 "There was an error parsing the body" is raised ``from`` the cause), else None."""
    if isinstance(cause, UnicodeDecodeError):
        bad = cause.object[cause.start:cause.start + 1] if cause.object else b""
        byte = f" (0x{bad.hex()})" if bad else ""
        return (f"request body is not valid UTF-8 at byte offset {cause.start}{byte}: "
                "JSON must be UTF-8")
    if isinstance(cause, RecursionError):
        return "request body is nested too deeply to parse as JSON"
    return None


def is_json_media_type(content_type: str | None) -> bool:
    """Whether FastAPI parses a body of this ``Content-Type`` as JSON
    (``application/json`` or ``application/*+json``, any parameters)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def body_problem(exc: RequestValidationError, body: bytes, content_type: str | None,
                 body_model: type[BaseModel] | None) -> tuple[int, str] | None:
    """``(status, line)`` when the request failed because of its body as a whole (its media
    type, emptiness or JSON type) rather than a field; ``None`` otherwise.

    Args:
        exc: the validation error FastAPI raised.
        body: the raw request body.
        content_type: the request's ``Content-Type`` header, if any.
        body_model: the request model of the route's body (None: the route takes no body).
    """
    if body_model is None:
        return None
    whole_body = [e for e in exc.errors() if tuple(e.get("loc", ()))[:1] == ("body",)
                  and all(p in ("body", body_model.__name__) for p in e.get("loc", ()))]
    if not whole_body:
        return None
    expected = f"expected JSON {example_of(body_model)}"
    if not body.strip():
        return 422, f"request body is empty: {expected}"
    if not is_json_media_type(content_type):
        got = f"got {content_type}" if content_type else "the request has none"
        return 415, f"Content-Type must be {JSON_CONTENT_TYPE} ({got})"
    value = whole_body[0].get("input")
    if not isinstance(value, dict):
        return 422, f"request body must be a JSON object {example_of(body_model)}, got " \
                    f"{json_type(value)}"
    return None


def json_type(value: object) -> str:
    """``an array``, ``a string``, ``null``...: the JSON name of a parsed value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def request_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model in a body parameter's annotation (``CheckRequest | None`` too)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = request_model(arg)
            if found is not None:
                return found
    return None


def example_of(model: type[BaseModel]) -> str:
    """A one-line sketch of ``model``'s JSON: its required fields (all fields when none is
    required), e.g. ``{"texts": [...]}`` or ``{"prediction_id": "...", "label": "..."}``."""
    fields = [(name, f) for name, f in model.model_fields.items() if f.is_required()]
    fields = fields or list(model.model_fields.items())
    parts = []
    for name, field in fields:
        parts.append(f'"{field.alias or name}": {_placeholder(field.annotation)}')
    return "{" + ", ".join(parts) + "}"


def _placeholder(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _placeholder(args[0]) if args else "null"
    if origin is typing.Annotated:
        return _placeholder(typing.get_args(annotation)[0])
    if origin is list or annotation is list:
        return "[...]"
    if origin is typing.Literal:
        return "|".join(f'"{a}"' if isinstance(a, str) else str(a).lower()
                        for a in typing.get_args(annotation))
    if annotation is bool:
        return "true"
    if annotation in (int, float):
        return "0"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return example_of(annotation)
    return '"..."'
