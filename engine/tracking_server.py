"""The MLflow tracking server that several hosts share: the command line of ``spamops
mlflow-server``.

Past one machine the registry lives on one ``mlflow server`` (docs/deploy.md): every host sets
``mlflow_tracking_uri = http://<server>:<port>``, logs runs and moves aliases through it, and
loads models through its artifact proxy (``--serve-artifacts``: artifacts are uploaded to and
downloaded from the server, which keeps them under ``--artifacts-destination``; no host needs
the artifact folder mounted). This module builds that server's command line and environment;
it does not import MLflow (the server is MLflow's own program, started as
``python -m mlflow server``).

Choices, each measured or read from MLflow 3's ``mlflow server --help``:

- **Backend store.** With a PostgreSQL store (``store.url = postgresql://...``) the default is
  the same database, in its own schema ``mlflow``: MLflow's tables include a
  ``model_versions`` that would collide with the store's own, and MLflow has no schema option
  (mlflow/mlflow#8409), so the URL sets ``search_path`` through libpq's ``options`` and
  ``ensure_schema`` creates the schema first (``CREATE SCHEMA IF NOT EXISTS``, through
  SQLAlchemy, MLflow's own database library: the one statement this module runs; the store
  and its data key are not touched, so the server's host needs neither). One ``pg_dump`` then
  backs up history and registry together. The driver is psycopg 3
  (``postgresql+psycopg://``): SQLAlchemy's bare ``postgresql://`` means psycopg2, which is
  not installed. With the DuckDB store the default is a sqlite file in the data home
  (``<home>/mlflow-server/mlflow.db``), kept apart from the home's own ``mlflow.db``.
- **Artifacts.** ``--serve-artifacts --artifacts-destination DIR`` (default
  ``<home>/mlflow-server/artifacts``); new experiments get ``mlflow-artifacts:/`` locations.
- **Quiet and small.** Telemetry off (``MLFLOW_DISABLE_TELEMETRY``, ``DO_NOT_TRACK``); MLflow's
  job runner off (``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``: it starts seven ``huey``
  consumer processes for GenAI jobs spamops never submits).
- **Allowed hosts.** MLflow refuses requests whose ``Host`` header is not loopback or a
  private IP (DNS-rebinding protection); a server reached by name (``mlflow:5000`` in
  docker-compose, ``host1.example:5000``) needs ``--allowed-hosts``.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from engine.errors import ConfigError, StoreError

MLFLOW_SCHEMA = "mlflow"
"""The PostgreSQL schema of MLflow's tables when they share the store's database."""
SERVER_DIR = "mlflow-server"
"""Folder of the data home holding the sqlite backend and artifacts of a local server."""
DEFAULT_PORT = 5000
DEFAULT_WORKERS = 2

SERVER_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "GIT_PYTHON_REFRESH": "quiet",
}
"""Set (not defaulted) in the server's environment: see the module docstring."""

_SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


def is_postgres(url: str | None) -> bool:
    """Whether ``url`` is a PostgreSQL URL (``postgresql://``, ``postgres://``, with or
    without a ``+driver``)."""
    return bool(url) and re.match(r"postgres(ql)?(\+\w+)?://", url or "") is not None


def with_psycopg_driver(url: str) -> str:
    """``url`` with SQLAlchemy's psycopg 3 driver when it names none (``postgresql://`` and
    ``postgres://`` become ``postgresql+psycopg://``); other URLs unchanged."""
    match = re.match(r"postgres(ql)?://", url)
    if match is None:
        return url
    return "postgresql+psycopg://" + url[match.end():]


def mlflow_backend_for_store(store_url: str) -> str:
    """MLflow's backend store URI in the spamops PostgreSQL store's own database: the same
    server, user and database, psycopg 3, and ``search_path`` set to the ``mlflow`` schema."""
    parts = urlsplit(with_psycopg_driver(store_url))
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k != "options"]
    query.append(("options", f"-csearch_path={MLFLOW_SCHEMA}"))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def default_backend_store_uri(store_url: str | None, home: Path) -> str:
    """The backend store a ``spamops mlflow-server`` of this installation uses by default: the
    PostgreSQL store's database (``mlflow`` schema), else a sqlite file in the data home."""
    if store_url and is_postgres(store_url):
        return mlflow_backend_for_store(store_url)
    return f"sqlite:///{(home / SERVER_DIR / 'mlflow.db').resolve()}"


def default_artifacts_destination(home: Path) -> Path:
    """Where a local server keeps artifacts by default: ``<home>/mlflow-server/artifacts``."""
    return (home / SERVER_DIR / "artifacts").resolve()


def mask_password(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and ``--dry-run``)."""
    return re.sub(r"(://[^:/@]+:)[^@/]*@", r"\1***@", url)


def check_backend_store_uri(uri: str) -> str:
    """``uri`` if MLflow can use it as a backend store (an SQLAlchemy URL of sqlite,
    PostgreSQL, MySQL or MSSQL); ``postgresql://`` gets the psycopg 3 driver.

    Raises:
        ConfigError: anything else, in one line naming the value.
    """
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    base = scheme.split("+", 1)[0]
    if base == "postgres":
        base = "postgresql"
    if base not in _SQL_SCHEMES:
        raise ConfigError(
            f"--backend-store-uri {mask_password(uri)!r} is not a database URL MLflow can use: "
            "give sqlite:///PATH or postgresql://USER@HOST:PORT/DB")
    return with_psycopg_driver(uri)


@dataclass(frozen=True)
class TrackingServerCommand:
    """How to start the shared MLflow tracking server."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    backend_store_uri: str
    artifacts_destination: str

    def shown_argv(self) -> list[str]:
        """The command line with passwords masked."""
        return [mask_password(arg) for arg in self.argv]

    def shown(self) -> str:
        """The command line as one shell-quoted string, passwords masked."""
        import shlex

        return " ".join(shlex.quote(arg) for arg in self.shown_argv())


def server_command(*, backend_store_uri: str, artifacts_destination: str, host: str,
                   port: int, workers: int = DEFAULT_WORKERS,
                   allowed_hosts: str | None = None,
                   base_env: Mapping[str, str] | None = None,
                   python: str | None = None) -> TrackingServerCommand:
    """The ``mlflow server`` command line (MLflow 3): SQL backend store, artifact proxy, bind
    address, workers, optional ``--allowed-hosts``; and its environment (``SERVER_ENV`` over
    ``base_env``, default this process's environment).

    Raises:
        ConfigError: the backend store URI is not a database URL.
    """
    backend = check_backend_store_uri(backend_store_uri)
    artifacts = artifacts_location(artifacts_destination)
    argv = [python or sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", backend,
            "--serve-artifacts", "--artifacts-destination", artifacts,
            "--host", host, "--port", str(port), "--workers", str(workers)]
    if allowed_hosts:
        argv += ["--allowed-hosts", allowed_hosts]
    env = dict(os.environ if base_env is None else base_env)
    env.update(SERVER_ENV)
    return TrackingServerCommand(argv=tuple(argv), env=env, backend_store_uri=backend,
                                 artifacts_destination=artifacts)


def artifacts_location(destination: str) -> str:
    """A local destination (a path or ``file://``) as an absolute path; a remote one
    (``s3://...``) unchanged."""
    if "://" in destination and not destination.startswith("file://"):
        return destination
    return str(Path(destination.removeprefix("file://")).expanduser().resolve())


def prepare_local_files(command: TrackingServerCommand) -> None:
    """Create the folders of a local artifact destination and of a sqlite backend file."""
    if "://" not in command.artifacts_destination:
        Path(command.artifacts_destination).mkdir(parents=True, exist_ok=True)
    if command.backend_store_uri.startswith("sqlite:///"):
        Path(command.backend_store_uri[len("sqlite:///"):]).parent.mkdir(parents=True,
                                                                         exist_ok=True)


def search_path_schema(uri: str) -> str | None:
    """The schema a PostgreSQL URI's ``options=-csearch_path=...`` puts first, else None."""
    if not is_postgres(uri):
        return None
    for key, value in parse_qsl(urlsplit(uri).query):
        match = re.search(r"-c\s*search_path=([A-Za-z_][A-Za-z0-9_]*)", value)
        if key == "options" and match:
            return match.group(1)
    return None


def ensure_schema(backend_store_uri: str) -> str | None:
    """Create the schema a PostgreSQL backend URI's ``search_path`` names, if missing (MLflow
    creates tables, not schemas); returns it, or None when there is nothing to create.

    Raises:
        StoreError: the database cannot be reached or refuses, in one line.
    """
    schema = search_path_schema(backend_store_uri)
    if schema is None:
        return None
    import sqlalchemy

    parts = urlsplit(backend_store_uri)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    plain = urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))
    engine = sqlalchemy.create_engine(plain, connect_args={"connect_timeout": 10})
    try:
        with engine.begin() as con:
            con.execute(sqlalchemy.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    except sqlalchemy.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(f"cannot create MLflow's schema {schema!r} in "
                         f"{mask_password(plain)}: {reason}") from None
    finally:
        engine.dispose()
    return schema
