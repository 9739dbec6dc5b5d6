"""docker-compose.yml passes ``docker-compose config`` and says what docs/deploy.md says.

``docker-compose`` is Debian's 1.29 (package ``docker-compose``; ``.ci/run`` installs it): it
validates and resolves a compose file without a Docker engine, which does not run here. The
test fails, naming the package, when it is missing; it is never skipped.

Checked on the resolved file: both profiles exist; the single-machine services keep one data
volume; the multi-host profile has ``postgres``, ``mlflow`` and two API replicas, each with a
healthcheck on ``/health``; every multi-host spamops process points at the same PostgreSQL
store and the same tracking server; the tracking server's command line is one
``spamops mlflow-server`` accepts (checked with ``--dry-run``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli_helpers import run_cli

REPO = Path(__file__).resolve().parent.parent
ENV = {"SPAMOPS_PG_PASSWORD": "compose-test-pw", "SPAMOPS_API_KEY": "k7Qw2ZpR9xLm4VtB8sNd",
       "PATH": "/usr/local/bin:/usr/bin:/bin"}
MULTI = {"postgres", "mlflow", "init-multi", "api-1", "api-2", "monitor-1", "monitor-2"}
SINGLE = {"init", "api", "monitor", "dashboard", "mlflow-ui"}


def compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose not found: install the Debian package docker-compose "
                    "(.ci/run installs it when missing)", pytrace=False)
    return subprocess.run([binary, "-f", str(REPO / "docker-compose.yml"), *args],
                          capture_output=True, text=True, timeout=120, cwd=REPO,
                          env=ENV if env is None else env, check=False)


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    done = compose("config")
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def test_compose_config_validates_with_and_without_the_multi_host_variables() -> None:
    assert compose("config", "-q").returncode == 0
    # The single-machine profile needs none of the multi-host secrets.
    bare = compose("config", "-q", env={"PATH": ENV["PATH"]})
    assert bare.returncode == 0, bare.stderr
    profiles = compose("config", "--profiles")
    assert profiles.returncode == 0 and set(profiles.stdout.split()) == {"single", "multi"}


def test_profiles_split_one_machine_from_several_hosts(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) == SINGLE | MULTI
    for name in SINGLE:
        assert services[name]["profiles"] == ["single"], name
        assert any("spamops-data" in str(v) for v in services[name]["volumes"]), name
    for name in MULTI:
        assert services[name]["profiles"] == ["multi"], name


def test_each_api_replica_has_a_health_check_on_health(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    for name in ("api-1", "api-2", "api"):
        check = services[name]["healthcheck"]
        assert "http://127.0.0.1:8000/health" in " ".join(check["test"]), name
        assert services[name]["command"][:2] == ["spamops", "serve"]
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert "/health" in " ".join(services["mlflow"]["healthcheck"]["test"])
    for name in ("api-1", "api-2", "monitor-1", "monitor-2", "init-multi"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["mlflow"]["condition"] == "service_healthy", name
    # Two hosts: a data volume each (spool, logs, key), not one shared home.
    volumes = {name: str(services[name]["volumes"]) for name in ("api-1", "api-2")}
    assert "api-1-data" in volumes["api-1"] and "api-2-data" in volumes["api-2"]


def test_every_host_points_at_one_store_and_one_tracking_server(
        resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    hosts = ("mlflow", "init-multi", "api-1", "api-2", "monitor-1", "monitor-2")
    stores = {services[name]["environment"]["SPAMOPS_STORE__URL"] for name in hosts}
    assert stores == {"postgresql://spamops:compose-test-pw@postgres:5432/spamops"}
    trackers = {services[name]["environment"]["SPAMOPS_MLFLOW_TRACKING_URI"] for name in hosts}
    assert trackers == {"http://mlflow:5000"}
    assert services["postgres"]["environment"]["POSTGRES_DB"] == "spamops"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "compose-test-pw"
    for name in hosts:
        assert services[name]["environment"]["SPAMOPS_SERVER__CHAMPION_REFRESH_SECONDS"]


def test_the_tracking_server_command_is_one_spamops_accepts(
        resolved: dict[str, Any], capsys: pytest.CaptureFixture[str],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    command = resolved["services"]["mlflow"]["command"]
    assert command[:2] == ["spamops", "mlflow-server"]
    options = command[2:]
    assert options[options.index("--host") + 1] == "0.0.0.0"
    # Reached by its service name: MLflow's host check must allow it.
    assert "mlflow:5000" in options[options.index("--allowed-hosts") + 1]
    environment = resolved["services"]["mlflow"]["environment"]
    monkeypatch.setenv("SPAMOPS_STORE__URL", environment["SPAMOPS_STORE__URL"])
    run = run_cli(capsys, "--home", str(tmp_path), "mlflow-server", *options, "--dry-run",
                  "--json")
    assert run.code == 0, run.err
    argv = run.json()["argv"]
    # The backend store is the compose postgres database, schema mlflow, password masked.
    assert argv[argv.index("--backend-store-uri") + 1] == (
        "postgresql+psycopg://spamops:***@postgres:5432/spamops"
        "?options=-csearch_path%3Dmlflow")
    assert "--serve-artifacts" in argv
    assert argv[argv.index("--artifacts-destination") + 1] == "/artifacts"
    assert argv[argv.index("--allowed-hosts") + 1] == options[options.index("--allowed-hosts")
                                                              + 1]
