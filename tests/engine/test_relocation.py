"""A data home's MLflow registry follows the home when it is moved, copied or restored
(issue 18): real sqlite registries, real models."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from engine.config import load_settings
from engine.relocation import LOCATION_COLUMNS, adopt_artifact_root, repoint_registry
from engine.services import Services


def stored_locations(db: Path) -> list[str]:
    """Every artifact location the registry file holds, in any of MLflow's tables."""
    con = sqlite3.connect(db)
    try:
        found: list[str] = []
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        for table, column in LOCATION_COLUMNS:
            if table not in tables:
                continue
            found += [str(r[0]) for r in con.execute(
                f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL")]
        return found
    finally:
        con.close()


def local_locations(db: Path) -> list[str]:
    return [loc.removeprefix("file://") for loc in stored_locations(db)
            if loc.startswith(("/", "file://"))]


def test_a_moved_home_loads_its_models_from_its_new_place(trained_home: Path,
                                                          tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "moved-home"
    moved.parent.mkdir()
    shutil.move(trained_home, moved)

    services = Services(load_settings(home=moved))
    try:
        prediction = services.predict(["WINNER!! claim your free prize now"])[0]
    finally:
        services.close()

    assert prediction.label == "spam"
    spamops_locations = [p for p in local_locations(moved / "mlflow.db")
                         if "mlartifacts" in p]
    assert spamops_locations
    assert all(p.startswith(f"{moved.resolve()}/mlartifacts") for p in spamops_locations)


def test_a_home_that_did_not_move_is_not_rewritten(trained_home: Path) -> None:
    before = (trained_home / "mlflow.db").read_bytes()

    result = adopt_artifact_root(f"sqlite:///{trained_home.resolve()}/mlflow.db",
                                 trained_home / "mlartifacts")

    assert result is None
    assert (trained_home / "mlflow.db").read_bytes() == before


def test_a_registry_outside_the_home_is_left_alone(trained_home: Path,
                                                   tmp_path: Path) -> None:
    other = tmp_path / "other-home"
    other.mkdir()

    assert adopt_artifact_root(f"sqlite:///{trained_home.resolve()}/mlflow.db",
                               other / "mlartifacts") is None
    assert adopt_artifact_root("http://127.0.0.1:5000", other / "mlartifacts") is None


def test_rewrite_keeps_the_form_and_respects_path_boundaries(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE experiments (experiment_id INT, artifact_location TEXT)")
    con.execute("CREATE TABLE runs (run_uuid TEXT, artifact_uri TEXT)")
    con.executemany("INSERT INTO experiments VALUES (?, ?)", [
        (0, "/somewhere/mlruns/0"), (1, "/old/home/mlartifacts")])
    con.executemany("INSERT INTO runs VALUES (?, ?)", [
        ("a", "/old/home/mlartifacts/a/artifacts"),
        ("b", "file:///old/home/mlartifacts/b/artifacts"),
        ("c", "/old/home/mlartifacts2/c/artifacts"),
        ("d", "s3://bucket/old/home/mlartifacts/d")])
    con.commit()
    con.close()

    result = repoint_registry(db, tmp_path / "mlartifacts")

    root = str((tmp_path / "mlartifacts").resolve())
    assert result is not None and result.old_roots == ("/old/home/mlartifacts",)
    assert stored_locations(db) == [
        "/somewhere/mlruns/0", root,
        f"{root}/a/artifacts", f"file://{root}/b/artifacts",
        "/old/home/mlartifacts2/c/artifacts", "s3://bucket/old/home/mlartifacts/d"]
