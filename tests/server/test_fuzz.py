"""Fuzz the OpenAPI schema with schemathesis: no input may produce a 5xx, and responses
must match the documented status codes and schemas.

Runs against a keyed app on a populated data home, sending the key, so control endpoints are
reached too. ``POST /retrain`` and ``POST /monitor/check`` are left out: each call trains a
model for seconds (test_control.py covers them); everything else is fuzzed with a bounded
number of examples per operation, with data that fits the schema and data that does not.
Schemathesis' ``negative_data_rejection`` check is not used: it demands that unknown *query*
parameters be refused, and the API ignores them like most HTTP APIs do (unknown *body* fields
are refused; the router tests check that).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.server.conftest import KEY, ClientFactory

pytestmark = pytest.mark.slow


EXAMPLES = 20
"""Examples per operation and generation mode (positive: fits the schema; negative: not)."""


def test_no_input_makes_the_api_fail(populated_home: Path, make_client: ClientFactory) -> None:
    # schemathesis' own pytest loader (from_fixture) breaks on pytest 9 (Function._nodeid), so
    # the operations are driven with Hypothesis directly, which is what the loader does.
    client = make_client(api_key=KEY["X-API-Key"])
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app).exclude(
        path=["/retrain", "/monitor/check"])
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=KEY, checks=checks)

            try:
                run()
            except Unsatisfiable:
                # No parameters and no body (GET /health): nothing can be made invalid.
                assert mode is GenerationMode.NEGATIVE, operation.label
