"""Fixtures of the API tests: apps built by ``create_app(Services(load_settings()))`` exactly as
``spamops serve`` builds them, on private copies of real data homes.

``populated_home`` is a copy of ``_api_populated_template`` (tests/conftest.py), built once per
session with the real engine (clean traffic and a check, then drifted traffic and a check that
retrains under the manual approval policy, leaving a drift history, a comparison, a retraining
event and a pending approval).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import copy_home

API_KEY = "k7Qw2ZpR9xLm4VtB8sNd"
"""The key the keyed fixtures configure (SPAMOPS_API_KEY)."""
KEY = {"X-API-Key": API_KEY}


@pytest.fixture
def populated_home(data_home: Path, _api_populated_template: Path,
                   monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data home with history and a pending approval (manual approval policy): a private
    copy of the session's ``_api_populated_template`` (tests/conftest.py)."""
    copy_home(_api_populated_template, data_home)
    monkeypatch.setenv("SPAMOPS_MONITORING__APPROVAL_POLICY", "manual")
    return data_home


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[ClientFactory]:
    """Build a started app on the current SPAMOPS_HOME, keyed or not."""
    from engine.config import load_settings
    from engine.services import Services
    from server.main import create_app

    opened: list[TestClient] = []

    def make(*, api_key: str | None = None, raise_server_exceptions: bool = True
             ) -> TestClient:
        if api_key is None:
            monkeypatch.delenv("SPAMOPS_API_KEY", raising=False)
        else:
            monkeypatch.setenv("SPAMOPS_API_KEY", api_key)
        app = create_app(Services(load_settings()))
        client = TestClient(app, raise_server_exceptions=raise_server_exceptions)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(trained_home: Path, make_client: ClientFactory) -> TestClient:
    """No API key configured: predictions open, control disabled."""
    return make_client()


@pytest.fixture
def keyed_client(trained_home: Path, make_client: ClientFactory) -> TestClient:
    """API key configured: everything but reads needs X-API-Key."""
    return make_client(api_key=API_KEY)


@pytest.fixture
def populated_client(populated_home: Path, make_client: ClientFactory) -> TestClient:
    """Keyed, on a data home with history."""
    return make_client(api_key=API_KEY)


@pytest.fixture
def empty_client(data_home: Path, make_client: ClientFactory) -> TestClient:
    """A data home with nothing yet: no champion, no database."""
    return make_client()
