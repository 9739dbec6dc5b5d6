"""The one exception tree of spamops.

Every error a user can cause or meet is a ``SpamopsError`` whose ``str()`` is a single line
that says what went wrong and, where possible, what to do. UIs render it as a line (CLI), a
toast (console) or a 4xx JSON body (API); they never show a traceback. This module must not
import anything heavy.
"""

from __future__ import annotations

EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "the command ran and failed (a failed retrain, a broken audit chain, bad input, ...)",
    2: "usage or configuration: a bad option, spamops.toml or SPAMOPS_* value, or data home",
    3: "refused: a confirmation was declined or could not be asked (no terminal, no --yes)",
    4: "busy: another process holds what the command needs (retrain lock, database, port)",
    130: "interrupted (Ctrl-C, SIGINT)",
}
"""What ``spamops`` exit codes mean; README ("Exit codes") and ``spamops --help`` print this."""


class SpamopsError(Exception):
    """Base class: a failure with a one-line message meant for users."""

    exit_code: int = 1
    http_status: int = 400


class ConfigError(SpamopsError):
    """A configuration value is invalid; the message names the key."""

    exit_code = 2


class HomeError(ConfigError):
    """The data home is missing (for a command that only reads), is not a directory, or
    cannot be created."""


class Refused(SpamopsError):
    """A command that asks first got no yes: declined, or no terminal to ask on."""

    exit_code = 3
    http_status = 409


class DatasetError(SpamopsError):
    """The dataset could not be fetched, verified or parsed."""


class ChecksumMismatch(DatasetError):
    """The downloaded SMSSpamCollection does not have the expected sha256."""


class NoChampionError(SpamopsError):
    """No model carries the ``champion`` alias yet: train first."""

    http_status = 409


class ModelNotFound(SpamopsError):
    """A model version or alias does not exist in the registry."""

    http_status = 404


class RegistryUnavailable(SpamopsError):
    """The MLflow tracking server (``mlflow_tracking_uri = http://...``) cannot be reached."""

    http_status = 503


class StoreError(SpamopsError):
    """The history store could not be opened, migrated or queried."""

    http_status = 503


class KeyMissing(StoreError):
    """The data home key file is gone while the audit chain already has keyed records: a new
    key would leave them unverifiable, so audited writes stop until it is restored."""


class StoreBusy(StoreError):
    """Another process kept the database locked for longer than we were willing to wait."""

    exit_code = 4


class StoreUnreachable(StoreError):
    """The PostgreSQL server of the history cannot be reached (down, restarting, network).

    Predictions keep going to the local spool meanwhile; it drains when the server is back.
    """

    exit_code = 4


class QueryError(StoreError):
    """An analyst query was malformed or tried to write."""

    http_status = 400


class QueryTimeout(QueryError):
    """An analyst query ran longer than ``store.statement_timeout_seconds`` and was stopped."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"query stopped after {seconds:g} s (store.statement_timeout_seconds)")


class NotFound(SpamopsError):
    """A requested record (prediction, approval, event) does not exist."""

    http_status = 404


class InvalidInput(SpamopsError):
    """User input (a file, a text, an argument) is empty, unreadable or malformed."""

    http_status = 422


class ConflictError(SpamopsError):
    """The action conflicts with the current state (already decided, already running)."""

    http_status = 409


class Busy(ConflictError):
    """Another process holds what the command needs (a retrain running, a port bound)."""

    exit_code = 4


class LockLost(ConflictError):
    """A check or retrain found that its single-holder lock is gone while it ran (its
    PostgreSQL lock session ended: the server restarted or the network dropped it), so another
    host may hold the lock now; the work stopped and recorded nothing as a decision."""

    exit_code = 4


class TrainingError(SpamopsError):
    """Training or evaluating a model failed."""

    http_status = 500
