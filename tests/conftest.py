"""Shared fixtures: every test gets its own data home with a real DuckDB file and a real
MLflow sqlite registry; nothing is shared between tests except the verified dataset zip and
one trained baseline that is copied, never modified in place."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import PostgresServer, PostgresUnavailable
from tests.readme_demo import ReadmeDemo, run_readme_demo

REPO = Path(__file__).resolve().parent.parent
SHARED_ZIP = REPO.parent / "shared" / "data" / "sms+spam+collection.zip"


def dataset_source() -> str:
    """Where tests read the UCI zip from: SPAMOPS_DATASET_URL, else the shared copy."""
    source = os.environ.get("SPAMOPS_DATASET_URL")
    if source:
        return source
    if SHARED_ZIP.exists():
        return str(SHARED_ZIP)
    pytest.skip("no dataset source: set SPAMOPS_DATASET_URL")
    raise AssertionError  # unreachable


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Hide the developer's own spamops config and env from every test."""
    for key in list(os.environ):
        if key.startswith("SPAMOPS_") and key != "SPAMOPS_DATASET_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("SPAMOPS_CONFIG", str(tmp_path / "no-such-spamops.toml"))
    monkeypatch.delenv("SPAMOPS_CONFIG")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data home, set as SPAMOPS_HOME, with the dataset source configured."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("SPAMOPS_HOME", str(home))
    monkeypatch.setenv("SPAMOPS_DATASET_URL", dataset_source())
    return home


@pytest.fixture(scope="session")
def _trained_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data home with the baseline trained; tests get copies of it."""
    from engine.config import load_settings
    from engine.services import Services

    home = tmp_path_factory.mktemp("trained") / "home"
    settings = load_settings(home=home, dataset_url=dataset_source())
    services = Services(settings)
    services.train(trigger="test")
    services.close()
    return home


@pytest.fixture
def trained_home(data_home: Path, _trained_template: Path) -> Iterator[Path]:
    """A data home holding a trained champion (a private copy of the session template)."""
    copy_home(_trained_template, data_home)
    yield data_home


def copy_home(template: Path, target: Path) -> None:
    """Make ``target`` a private copy of the data home ``template`` (replacing ``target``)."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(template, target)
    # The MLflow sqlite file stores absolute artifact paths: point them at the copy.
    _rewrite_artifact_paths(target, template)


def _rewrite_artifact_paths(home: Path, template: Path) -> None:
    import sqlite3

    con = sqlite3.connect(home / "mlflow.db")
    old, new = str(template.resolve()), str(home.resolve())
    for table, column in (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                          ("model_versions", "source"), ("model_versions", "storage_location"),
                          ("logged_models", "artifact_location")):
        try:
            con.execute(f"UPDATE {table} SET {column} = replace({column}, ?, ?)", (old, new))
        except sqlite3.OperationalError:
            continue
    con.commit()
    con.close()


@pytest.fixture(scope="session")
def _two_versions_template(_trained_template: Path,
                           tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained home plus a second version (not champion): v1 champion, v2 registered."""
    from engine.config import load_settings
    from engine.services import Services

    home = tmp_path_factory.mktemp("two-versions") / "home"
    copy_home(_trained_template, home)
    services = Services(load_settings(home=home, dataset_url=dataset_source()))
    services.train(trigger="test")
    services.close()
    return home


@pytest.fixture
def two_versions_home(data_home: Path, _two_versions_template: Path) -> Path:
    """A private data home with champion v1 and a registered v2."""
    copy_home(_two_versions_template, data_home)
    return data_home


@pytest.fixture(scope="session")
def _api_populated_template(_trained_template: Path,
                            tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The API tests' populated home (tests/server/conftest.py ``populated_home``): clean
    traffic and a check, then drifted traffic and a check that retrains under the manual
    approval policy (a drift history, a comparison, a retraining event, a pending approval).

    Defined here, once: the engine tests that reuse ``populated_home`` (test_serving,
    test_champion_switch) used to re-register the session fixture in their own modules, and
    each registration built the home again."""
    from engine.config import load_settings
    from engine.services import Services

    home = tmp_path_factory.mktemp("api-populated") / "home"
    copy_home(_trained_template, home)
    settings = load_settings(home=home, dataset_url=dataset_source(),
                             monitoring={"approval_policy": "manual"})
    services = Services(settings)
    services.simulate(messages=600, label_rate=0.5)
    services.check_now(trigger="operator")
    services.simulate(messages=600, drift=0.4, label_rate=0.6, seed=3)
    services.check_now(trigger="operator")
    services.close()
    return home


@pytest.fixture(scope="session")
def readme_demo(tmp_path_factory: pytest.TempPathFactory) -> ReadmeDemo:
    """The README's ``spamops demo --until DEMO_UNTIL``, run once per session on a fresh home
    (tests/readme_demo.py): the README test checks its table and log, the demo tests its
    history. Tests that change anything work on a copy (``copy_home``)."""
    return run_readme_demo(tmp_path_factory.mktemp("readme-demo"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the whole session (tests/postgres.py), stopped and
    deleted at the end. Missing binaries fail the tests that need it, naming the package."""
    try:
        server = PostgresServer()
        server.start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(params=["duckdb", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """The history backend a store test runs on: ``None`` (the DuckDB file beside the test's
    spool, the default) or the URL of a fresh PostgreSQL database. A test that only makes
    sense on one backend overrides it: ``@pytest.mark.parametrize("store_url", ["duckdb"],
    indirect=True)``."""
    if request.param == "duckdb":
        return None
    return str(request.getfixturevalue("postgres_url"))


duckdb_only = pytest.mark.parametrize("store_url", ["duckdb"], indirect=True)
"""For store tests of what only DuckDB has (file locks, its SQL dialect, the file itself)."""


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty database on the session's server, dropped after the test."""
    if not postgres_server.is_running():  # a test that stopped it must not break the next
        postgres_server.start()
    url = postgres_server.database()
    yield url
    postgres_server.drop(url)
