"""Serving and version-keyed state (issue 14): a champion that fails to load does not stop a
process (item 5), drift is measured with the snapshot's champion even when the serving cache
has not seen the change yet (item 3), and what is cached per version stays bounded by the
aliases (item 9)."""

from __future__ import annotations

import gc
import os
import sqlite3
import subprocess
import sys
import time
import weakref
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine import training
from engine.config import load_settings
from engine.services import Services
from server.main import create_app
from tests.server import conftest as server_fixtures

SPAMOPS = Path(sys.executable).parent / "spamops"

# The API tests' populated home (champion v1, a pending approval for v2 trained on drifted
# feedback), used here too: fixtures are found by name in the module. Its session template
# lives in tests/conftest.py, so it is built once for all of them.
populated_home = server_fixtures.populated_home


def artifact_dir(home: Path, version: int) -> Path:
    """Where the registry keeps ``version``'s model files."""
    con = sqlite3.connect(home / "mlflow.db")
    (location,) = con.execute("SELECT storage_location FROM model_versions WHERE version = ?",
                              (version,)).fetchone()
    con.close()
    return Path(location)


def eventually(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


def test_a_champion_that_fails_to_load_leaves_the_old_one_serving_and_is_retried(
        two_versions_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_SERVER__CHAMPION_REFRESH_SECONDS", "0.2")
    services = Services(load_settings())
    with TestClient(create_app(services)) as client:
        assert client.post("/predict", json={"text": "hi"}).json()["model_version"] == 1
        files = artifact_dir(two_versions_home, 2)
        hidden = files.with_name(files.name + ".unavailable")
        files.rename(hidden)  # the fault: v2's files cannot be read (once)
        services.promote(2, actor="test")  # moves the aliases; loading v2 fails

        for _ in range(20):
            response = client.post("/predict", json={"text": "are we still on for tonight?"})
            assert response.status_code == 200 and response.json()["model_version"] == 1
        health = client.get("/health")
        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "degraded" and body["model_version"] == 1
        assert any("v2 failed to load" in p for p in body["problems"]), body["problems"]

        hidden.rename(files)  # the files are back: the background retry loads v2
        eventually(lambda: client.post("/predict", json={"text": "hi"}).json()[
            "model_version"] == 2, 40, "v2 serving after its files came back")
        eventually(lambda: client.get("/health").json()["status"] == "ok", 10, "health ok")


def test_drift_is_measured_with_the_champion_the_snapshot_names(
        populated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_SERVER__CHAMPION_REFRESH_SECONDS", "3600")
    services = Services(load_settings())
    assert services.champion.get()[0] == 1  # this process serves v1 and will not re-check
    services.simulate(messages=300, seed=11)
    promoted = subprocess.run([str(SPAMOPS), "promote", "2"], capture_output=True, text=True,
                              env={**os.environ, "SPAMOPS_HOME": str(populated_home)},
                              timeout=300, check=False)
    assert promoted.returncode == 0, promoted.stderr
    result = services.check_now(trigger="test", retrain=False)
    assert result.snapshot is not None and result.snapshot.model_version == 2
    assert result.report is not None and result.report.model_version == 2
    assert services.champion.get()[0] == 1  # the serving cache still holds v1: not consulted
    services.close()


def test_models_detectors_and_scorers_stay_bounded_by_the_aliases(
        two_versions_home: Path) -> None:
    services = Services(load_settings())
    versions = [1, 2] + [services.train(trigger="test").result.version for _ in range(2)]
    models = {1: weakref.ref(services.champion.get()[1])}
    for version in versions[1:]:
        services.promote(version, actor="test")
        assert services.predict(["free prize, call now"])[0].model_version == version
        services.drift_detector(version)
        models[version] = weakref.ref(services.registry.load(version))
    gc.collect()
    aliases = services.registry.aliases()
    assert aliases == {"champion": versions[-1], "previous": versions[-2]}
    loaded = services.registry.loaded_versions()
    assert set(aliases.values()) <= set(loaded) and len(loaded) <= len(aliases) + 1, loaded
    alive = {version for version, ref in models.items() if ref() is not None}
    assert alive == set(loaded) and versions[0] not in alive  # evicted models are freed
    assert services._drift_cache is not None
    assert set(services._drift_cache.versions_in_memory()) <= set(aliases.values())
    # Compiled scorers are keyed weakly by their model: they go with it.
    ours = [m for m in list(training._SCORERS.keys()) if any(r() is m for r in models.values())]
    assert len(ours) <= len(loaded)
    services.close()
