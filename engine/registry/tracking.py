"""How a process reaches MLflow: the quiet environment, the import and its URIs, the
experiment, and telling a tracking server that cannot be reached from a model that does not
exist (``engine.registry`` re-exports every name).

MLflow looks up a telemetry host on import and, against a tracking server, prints run links
to stdout and retries a failed request for minutes; ``quiet_mlflow_environment`` turns that
off (defaults: the environment may override them). ``reaching`` turns MLflow's transport
failures into ``RegistryUnavailable``, one line naming the server; ``is_missing`` recognises
"no such model/alias" by MLflow's error code, never from any exception.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from types import ModuleType

from engine.errors import RegistryUnavailable

_QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "GIT_PYTHON_REFRESH": "quiet",
    "MLFLOW_TRACKING_INSECURE_TLS": "false",
    # A tracking server (http://...): MLflow prints run links to stdout, which would land in
    # `--json` output; and it retries a failed request 7 times with a backoff factor of 2
    # (minutes). Two quick retries, then one clear error; a 30 s socket timeout.
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def quiet_mlflow_environment() -> None:
    """Turn off MLflow telemetry and chatter for this process and its children."""
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)


def import_mlflow(tracking_uri: str) -> ModuleType:
    """Import MLflow with telemetry off and point it at ``tracking_uri``."""
    quiet_mlflow_environment()
    import logging

    import mlflow

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # The cloudpickle warning is expected: the pipeline holds a module function skops refuses.
    logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow


def is_tracking_server(tracking_uri: str) -> bool:
    """Whether ``tracking_uri`` names an MLflow tracking server (``http(s)://``)."""
    return tracking_uri.startswith(("http://", "https://"))


def ensure_experiment(mlflow: ModuleType, name: str, artifact_location: str) -> str:
    """The id of experiment ``name``, created if missing: with the data home's local artifact
    folder, or, on a tracking server, with the server's own artifact root (its proxy,
    ``mlflow-artifacts:/``), which every host reads."""
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    if is_tracking_server(mlflow.get_tracking_uri()):
        return str(mlflow.create_experiment(name))
    return str(mlflow.create_experiment(name, artifact_location=artifact_location))


_UNREACHABLE = (
    (re.compile(r"Connection refused|NewConnectionError|Failed to establish", re.I),
     "connection refused"),
    (re.compile(r"Name or service not known|nodename nor servname|NameResolution", re.I),
     "unknown host"),
    (re.compile(r"timed out|timeout", re.I), "timed out"),
    (re.compile(r"too many (5\d\d )?error responses|ResponseError", re.I),
     "it kept answering with server errors"),
    (re.compile(r"Connection (aborted|reset)|RemoteDisconnected|ConnectionError", re.I),
     "connection lost"),
)


def unreachable_reason(message: str) -> str | None:
    """Why MLflow could not reach its tracking server, from the text of its exception (MLflow
    wraps every ``requests`` failure in ``MlflowException("API request to ... failed with
    exception ...")``); None when the message is not about reaching the server."""
    if "API request to" not in message:
        return None
    for pattern, reason in _UNREACHABLE:
        if pattern.search(message):
            return reason
    return None


@contextlib.contextmanager
def reaching(tracking_uri: str) -> Iterator[None]:
    """Turn MLflow's failure to reach the tracking server into one ``RegistryUnavailable``
    line; every other exception passes unchanged."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        reason = unreachable_reason(str(exc))
        if reason is None:
            raise
        raise RegistryUnavailable(
            f"the MLflow tracking server {tracking_uri} is unreachable ({reason}); start it "
            "(`spamops mlflow-server`) or fix mlflow_tracking_uri") from None


def is_missing(exc: Exception) -> bool:
    """Whether an ``MlflowException`` says the model or alias does not exist (not: could not
    be read)."""
    return getattr(exc, "error_code", None) in ("RESOURCE_DOES_NOT_EXIST",
                                                "INVALID_PARAMETER_VALUE")
