"""Keeping the MLflow registry of a data home pointed at that home's own artifact folder.

MLflow 3's sqlite backend stores *absolute* artifact locations, resolved once when each row is
created (``SqlAlchemyStore.create_experiment`` passes the location through
``resolve_uri_if_local``; a run's ``artifact_uri``, a logged model's ``artifact_location`` and
a model version's ``storage_location`` are then derived from the experiment's). Reads use the
stored strings as they are, and MLflow has no relative form (mlflow/mlflow#3144 asks for one
and is open). So after ``mv homeA homeB`` every model load fails, and a ``cp -a`` copy reads
and *writes* the original home's ``mlartifacts/``.

``adopt_artifact_root`` is the resolution step: before a process first uses a home's registry,
it rewrites every stored location that lies under another ``.../mlartifacts`` root to the same
place under this home's root, in one sqlite transaction. It is a no-op (one SELECT) when the
home has not moved, so registries written by any spamops version keep working, and it never
touches files, so the original home of a copy is left exactly as it was.

It acts only on the home's own registry: a ``sqlite:///`` tracking URI whose file sits in the
same folder as the artifact root (the default layout). A registry configured elsewhere
(``mlflow_tracking_uri``) is left alone. This module talks to MLflow's sqlite file with the
standard library, not through MLflow: it must run before MLflow opens the file, and costs
about a millisecond instead of MLflow's start-up.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("spamops.relocation")

SQLITE_PREFIX = "sqlite:///"
FILE_PREFIX = "file://"

LOCATION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "storage_location"),
    ("model_versions", "source"),
)
"""Where MLflow 3's sqlite schema keeps artifact locations (absolute paths or file:// URIs).
``model_versions.source`` is usually ``models:/m-...`` (left alone) but is a path for versions
registered from a run path by MLflow 2."""


@dataclass(frozen=True)
class Relocation:
    """What ``adopt_artifact_root`` changed."""

    old_roots: tuple[str, ...]
    """The artifact roots the registry pointed at before (absolute paths)."""
    new_root: str
    rows: int
    """Rows rewritten, over all tables."""


def registry_file(tracking_uri: str) -> Path | None:
    """The sqlite file of a ``sqlite:///`` tracking URI, else None."""
    if not tracking_uri.startswith(SQLITE_PREFIX):
        return None
    return Path(tracking_uri[len(SQLITE_PREFIX):])


def _local_path(location: str) -> str:
    """``location`` as a plain path (``file://`` stripped); other schemes unchanged."""
    if location.startswith(FILE_PREFIX):
        return location[len(FILE_PREFIX):]
    return location


def _moved_roots(con: sqlite3.Connection, root: str) -> list[str]:
    """Experiment roots that are some other folder's ``mlartifacts`` (the home's name)."""
    name = Path(root).name
    found = []
    for (location,) in con.execute("SELECT artifact_location FROM experiments"):
        if not location:
            continue
        path = _local_path(str(location)).rstrip("/")
        if path.startswith("/") and Path(path).name == name and path != root:
            found.append(path)
    return sorted(set(found))


def _rewrite(con: sqlite3.Connection, old: str, new: str) -> int:
    rows = 0
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for table, column in LOCATION_COLUMNS:
        if table not in tables:
            continue
        for prefix in ("", FILE_PREFIX):
            before, after = prefix + old, prefix + new
            # substr keeps the rest of the path; the '/' test keeps /x/mlartifacts2 out.
            cursor = con.execute(
                f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                f"WHERE {column} = ? OR substr({column}, 1, ?) = ?",
                (after, len(before) + 1, before, len(before) + 1, before + "/"))
            rows += cursor.rowcount
    return rows


def adopt_artifact_root(tracking_uri: str, artifact_root: str | Path) -> Relocation | None:
    """Point the home's registry at ``artifact_root`` if it was moved, copied or restored.

    Args:
        tracking_uri: the MLflow tracking URI of the home.
        artifact_root: the home's artifact folder (``<home>/mlartifacts``).

    Returns:
        What was rewritten, or None when nothing needed to be (not moved, no registry yet,
        a registry outside the home, or a read-only file, which is logged).
    """
    db = registry_file(tracking_uri)
    root = Path(artifact_root).resolve()
    if db is None or not db.is_file() or db.resolve().parent != root.parent:
        return None
    return repoint_registry(db, root)


def repoint_registry(db: Path, artifact_root: Path) -> Relocation | None:
    """Rewrite the registry file ``db`` so that its locations lie under ``artifact_root``.

    The step behind ``adopt_artifact_root``, without its same-home check: a restore uses it on
    a staged copy before moving it to its final place.
    """
    root = str(Path(artifact_root).resolve())
    try:
        con = sqlite3.connect(db, timeout=30, isolation_level=None)
    except sqlite3.Error as exc:
        logger.warning("cannot open the registry %s to check its artifact paths: %s", db, exc)
        return None
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "experiments" not in tables or not _moved_roots(con, root):
            return None
        # Re-read under the write lock: another process may have done it meanwhile.
        con.execute("BEGIN IMMEDIATE")
        try:
            old_roots = _moved_roots(con, root)
            rows = sum(_rewrite(con, old, root) for old in old_roots)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        logger.warning("the registry %s points at another home's artifacts and could not be "
                       "re-pointed at %s: %s", db, root, exc)
        return None
    finally:
        con.close()
    if not old_roots:
        return None
    logger.info("registry re-pointed from %s to %s (%d rows)", ", ".join(old_roots), root, rows)
    return Relocation(tuple(old_roots), root, rows)
