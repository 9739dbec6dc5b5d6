"""Two hosts on one MLflow tracking server (issue 16, item 3): a real ``spamops mlflow-server``
subprocess on a loopback port (first with DuckDB homes and a sqlite backend store; then in the
production layout, where both hosts' history and the registry share one database of the test
PostgreSQL server, MLflow's tables in schema ``mlflow``; artifacts served through it), host A (a
data home and its ``Services``, in this process) and host B (another data home and a real
``spamops serve`` process). Nothing is shared between A and B but the server's URL.

- A trains two versions; B loads the champion through the server's artifact proxy and lists
  A's lineage tags;
- a champion promoted on A is served by B within ``server.champion_refresh_seconds`` (plus
  the model's download), with no failed request;
- a rollback through B's API is what A's registry then says;
- with the server stopped, B keeps serving its loaded champion and says why in ``/health``,
  and A's registry commands fail with one line.

The tests share one server and run in file order: the last one stops the server.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from engine.errors import ModelNotFound
from tests.cli_helpers import run_cli
from tests.conftest import dataset_source
from tests.server.conftest import API_KEY, KEY
from tests.server.test_live_server import LiveServer, free_port, start_server

pytestmark = pytest.mark.slow

SPAMOPS = Path(sys.executable).parent / "spamops"
REFRESH_SECONDS = 1.0
"""B's ``server.champion_refresh_seconds``."""
START_TIMEOUT = 180.0
"""``mlflow server`` takes 8-30 s to answer on this machine, more under load."""


@dataclass
class TrackingServer:
    process: subprocess.Popen[bytes]
    url: str
    root: Path
    log: Path

    def stop(self) -> None:
        """SIGTERM to the server's own process group (it was started in a new session), then
        SIGKILL after 30 s."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_tracking_server(root: Path, store_url: str | None) -> TrackingServer:
    """``spamops mlflow-server`` with its defaults: the store's database (schema ``mlflow``)
    when ``store_url`` is PostgreSQL, else a sqlite file in its home."""
    port = free_port()
    log = root / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPAMOPS_")}
    if store_url:
        env["SPAMOPS_STORE__URL"] = store_url
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(SPAMOPS), "--home", str(root / "server-home"), "mlflow-server",
             "--port", str(port), "--workers", "1"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = TrackingServer(process, f"http://127.0.0.1:{port}", root, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mlflow-server exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    server.stop()
    raise AssertionError(f"mlflow-server not up in {START_TIMEOUT} s: {log.read_text()[-3000:]}")


@dataclass
class Hosts:
    server: TrackingServer
    home_a: Path
    home_b: Path
    b: LiveServer
    versions: tuple[int, int]
    database: str | None
    """The PostgreSQL database of the history and of the registry (None: DuckDB homes and
    a sqlite registry)."""


def settings_for(home: Path, uri: str, store_url: str | None) -> object:
    from engine.config import load_settings

    store = {"store": {"url": store_url}} if store_url else {}
    return load_settings(home=home, mlflow_tracking_uri=uri, dataset_url=dataset_source(),
                         **store)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hosts(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    from engine.config import Settings
    from engine.services import Services

    root = tmp_path_factory.mktemp(f"two-hosts-{request.param}")
    database = None
    if request.param == "postgresql":  # the production layout: one database for both
        database = request.getfixturevalue("postgres_server").database("tracking")
    server = start_tracking_server(root, database)
    b: LiveServer | None = None
    try:
        home_a, home_b = root / "host-a", root / "host-b"
        settings = settings_for(home_a, server.url, database)
        assert isinstance(settings, Settings)
        services = Services(settings)
        services.setup_database()
        first = services.train(trigger="test").result.version
        second = services.train(trigger="test").result.version
        services.close()
        home_b.mkdir()
        store_env = {}
        if database:  # one shared audit chain: every host has the same data key
            shutil.copy2(home_a / "spamops.key", home_b / "spamops.key")
            store_env["SPAMOPS_STORE__URL"] = database
        b = start_server(home_b, SPAMOPS_MLFLOW_TRACKING_URI=server.url,
                         SPAMOPS_DATASET_URL=dataset_source(),
                         SPAMOPS_SERVER__CHAMPION_REFRESH_SECONDS=str(REFRESH_SECONDS),
                         **store_env)
        yield Hosts(server, home_a, home_b, b, (first, second), database)
    finally:
        if b is not None:
            b.stop()
        server.stop()


def services_a(hosts: Hosts) -> object:
    from engine.config import Settings
    from engine.services import Services

    settings = settings_for(hosts.home_a, hosts.server.url, hosts.database)
    assert isinstance(settings, Settings)
    return Services(settings)


def test_host_b_serves_and_lists_what_host_a_trained(hosts: Hosts) -> None:
    first, second = hosts.versions
    assert (first, second) == (1, 2)
    with httpx.Client(base_url=hosts.b.url, headers=KEY, timeout=30) as http:
        health = http.get("/health").json()
        assert health["model_version"] == first, health
        scored = http.post("/predict", json={"text": "WINNER! Claim your free prize now"})
        assert scored.status_code == 200 and scored.json()["label"] == "spam"
        assert scored.json()["model_version"] == first
        listed = {v["version"]: v for v in http.get("/models").json()["data"]}
    assert set(listed) == {first, second}
    assert "champion" in listed[first]["aliases"]
    # Lineage recorded by A's training, read by B from the shared server.
    assert listed[second]["lineage"]["trigger"] == "test"
    assert listed[second]["lineage"]["dataset_fingerprints"].startswith("uci:")
    # Artifacts went to the server's destination, not to either host's home.
    artifacts = hosts.server.root / "server-home" / "mlflow-server" / "artifacts"
    assert any(artifacts.rglob("MLmodel"))
    assert not (hosts.home_a / "mlartifacts").exists()
    assert not (hosts.home_b / "mlartifacts").exists()


def test_champion_promoted_on_a_is_served_by_b_within_the_refresh_interval(
        hosts: Hosts) -> None:
    first, second = hosts.versions
    seen: list[tuple[float, int]] = []
    failures: list[str] = []
    stop = threading.Event()

    def send() -> None:  # steady traffic on B, as a serving host has
        with httpx.Client(base_url=hosts.b.url, headers=KEY, timeout=30) as http:
            while not stop.is_set():
                try:
                    response = http.post("/predict", json={"text": "see you at 8 tonight"})
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text}")
                else:
                    seen.append((time.monotonic(), response.json()["model_version"]))
                time.sleep(0.02)

    thread = threading.Thread(target=send)
    thread.start()
    try:
        operator = services_a(hosts)
        operator.registry.aliases()  # type: ignore[attr-defined]  # MLflow started
        time.sleep(1.0)
        promoting = time.monotonic()  # the alias moves somewhere inside promote()
        operator.promote(second, actor="test")  # type: ignore[attr-defined]
        promoted = time.monotonic()
        operator.close()  # type: ignore[attr-defined]
        deadline = promoted + 30
        while time.monotonic() < deadline and not any(
                v == second and t >= promoting for t, v in seen):
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join(30)
    assert failures == []
    switched = next(t for t, v in seen if v == second and t >= promoting) - promoting
    print(f"host B served v{second} at most {switched:.2f} s after host A began the "
          f"promotion ({promoted - promoting:.2f} s long; refresh {REFRESH_SECONDS} s)")
    # One refresh interval for B to look, then the download of the new model through the
    # server (~0.5-1.5 s here, more under load) before it replaces the old one.
    assert switched < REFRESH_SECONDS + 6, switched
    assert seen[0][1] == first
    after = [v for t, v in seen if t >= promoting + switched]
    assert set(after) == {second}  # never back to the old champion


def test_rollback_through_b_is_what_a_reads(hosts: Hosts) -> None:
    first, second = hosts.versions
    with httpx.Client(base_url=hosts.b.url, headers=KEY, timeout=60) as http:
        moved = http.post("/models/rollback")
        assert moved.status_code == 200, moved.text
        assert moved.json()["champion"] == first
        # B moved the alias itself: its next request is scored by the restored champion.
        assert http.post("/predict", json={"text": "hi"}).json()["model_version"] == first
    operator = services_a(hosts)
    try:
        aliases = operator.registry.aliases()  # type: ignore[attr-defined]
    finally:
        operator.close()  # type: ignore[attr-defined]
    assert aliases == {"champion": first, "previous": second}


def test_retention_drops_a_drift_reference_through_the_server(hosts: Hosts) -> None:
    """Retention deletes a non-champion version's training texts: on a tracking server that
    goes through its artifact proxy (``mlflow-artifacts:/``), not a host's folder."""
    _, second = hosts.versions  # v2 is `previous` after the rollback
    operator = services_a(hosts)
    registry = operator.registry  # type: ignore[attr-defined]
    try:
        assert len(registry.reference_texts(second)) > 4000
        assert registry.drop_reference_texts(second, dry_run=True) is True
        assert registry.drop_reference_texts(second) is True
        assert registry.drop_reference_texts(second) is False
        with pytest.raises(ModelNotFound):
            registry.reference_texts(second)
    finally:
        operator.close()  # type: ignore[attr-defined]
    artifacts = hosts.server.root / "server-home" / "mlflow-server" / "artifacts"
    assert len(list(artifacts.rglob("reference_texts.parquet"))) == 1  # v1's is kept


def test_copying_a_home_into_a_server_with_versions_is_refused(
        hosts: Hosts, trained_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``registry copy`` keeps version numbers only into an empty registry: refused here,
    before any write (tests/engine/test_registry_copy.py copies into an empty one)."""
    run = run_cli(capsys, "--home", str(trained_home), "registry", "copy", "--to",
                  hosts.server.url)
    assert run.code == 1
    assert run.err == (f"error: the registry at {hosts.server.url} already has 2 version(s) "
                       "of sms-spam-classifier: copy into one that has none, so the numbers "
                       "stay\n")
    operator = services_a(hosts)
    try:
        assert len(operator.models()) == 2  # type: ignore[attr-defined]
    finally:
        operator.close()  # type: ignore[attr-defined]


def test_with_the_server_away_b_keeps_serving_and_a_fails_in_one_line(
        hosts: Hosts, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = hosts.versions
    hosts.server.stop()
    with httpx.Client(base_url=hosts.b.url, headers=KEY, timeout=30) as http:
        deadline = time.monotonic() + 30
        problems: list[str] = []
        while time.monotonic() < deadline and not problems:
            response = http.post("/predict", json={"text": "call me when you land"})
            assert response.status_code == 200, response.text
            assert response.json()["model_version"] == first
            health = http.get("/health")
            assert health.status_code == 200  # a champion is loaded: still serving
            problems = [p for p in health.json()["problems"] if "unreachable" in p]
            time.sleep(0.2)
        assert problems, "B's /health never said the tracking server was away"
        assert hosts.server.url in problems[0]
        for _ in range(20):
            response = http.post("/predict", json={"text": "lunch tomorrow?"})
            assert response.status_code == 200
            assert response.json()["model_version"] == first
    monkeypatch.setenv("SPAMOPS_MLFLOW_TRACKING_URI", hosts.server.url)
    run = run_cli(capsys, "--home", str(hosts.home_a), "models")
    assert run.code == 1
    assert run.err == (f"error: the MLflow tracking server {hosts.server.url} is unreachable "
                       "(connection refused); start it (`spamops mlflow-server`) or fix "
                       "mlflow_tracking_uri\n")
    assert API_KEY not in run.err


def test_postgres_backend_keeps_mlflows_tables_in_their_own_schema(hosts: Hosts) -> None:
    """One PostgreSQL database holds both: the spamops history in the default schema and
    MLflow's tables (its own ``model_versions`` included) in schema ``mlflow``."""
    if hosts.database is None:
        pytest.skip("the PostgreSQL store only")
    import psycopg

    with psycopg.connect(hosts.database) as con:
        tables = {(str(schema), str(name)) for schema, name in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('public', 'mlflow')").fetchall()}
        aliases = con.execute("SELECT alias, version FROM mlflow.registered_model_aliases "
                              "ORDER BY alias").fetchall()
        ours = con.execute("SELECT version FROM public.model_versions ORDER BY 1").fetchall()
        theirs = con.execute("SELECT version FROM mlflow.model_versions ORDER BY 1").fetchall()
        actions = [a for (a,) in con.execute("SELECT action FROM public.audit_log "
                                             "ORDER BY seq").fetchall()]
    public = {name for schema, name in tables if schema == "public"}
    assert {"model_versions", "predictions", "audit_log"} <= public
    assert "alembic_version" not in public and "experiments" not in public
    assert ("mlflow", "model_versions") in tables and ("mlflow", "experiments") in tables
    first, second = hosts.versions
    assert [int(v) for (v,) in ours] == [first, second] == [int(v) for (v,) in theirs]
    assert [(alias, int(version)) for alias, version in aliases] == [
        ("champion", first), ("previous", second)]
    # A's promotion and B's rollback in the one shared audit trail.
    assert "promote" in actions and "rollback" in actions
