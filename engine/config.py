"""One typed settings object for every spamops process.

Who reads what, lowest priority first:

==========================  ==================================================
source                      how
==========================  ==================================================
defaults                    the field defaults below
``spamops.toml``            in the working directory, or the file named by
                            ``SPAMOPS_CONFIG``; tables ``[thresholds]``,
                            ``[monitoring]``, ``[server]``, ``[dashboard]``,
                            ``[retention]``, ``[notify]`` with
                            ``[[notify.webhooks]]``
environment                 ``SPAMOPS_<KEY>``; nested keys with ``__``, e.g.
                            ``SPAMOPS_THRESHOLDS__DRIFT=0.2``
==========================  ==================================================

Everything spamops writes lives under ``home`` (``SPAMOPS_HOME``, default ``./data``), so a
second data home is a second, independent installation. ``describe`` reports each effective
value with the source that set it, for ``spamops config show``. Loading never creates files
or directories: that is the job of the commands that write.
"""

from __future__ import annotations

import difflib
import math
import os
import pwd
import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from engine.errors import ConfigError
from engine.notify.config import NotifySettings

UCI_DATASET_URL = "https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip"
"""Where real users download the UCI SMS Spam Collection from."""

ENV_PREFIX = "SPAMOPS_"
CONFIG_FILE_ENV = "SPAMOPS_CONFIG"
DEFAULT_CONFIG_FILE = "spamops.toml"

PLACEHOLDER_WORDS = ("changeme", "changethis", "change-me", "change_me", "your-api-key",
                     "your_api_key", "yourapikey", "api-key-here", "apikeyhere", "key-here",
                     "placeholder", "example", "replace", "insert", "dummy", "secret",
                     "password", "xxxx", "fixme", "qwerty", "123456", "abcdef",
                     "letmein")
"""Words that mark an API key as a placeholder copied from a template (compared lowercased)."""

MIN_KEY_CHARS = 16
"""Shortest API key accepted."""

MIN_KEY_BITS_PER_CHAR = 2.5
"""Least Shannon entropy per character (over the key's own character counts) of an API key.
Short random keys score below their alphabet's maximum (16 random hex digits: about 3.3, not
4), so this only catches keys made of a few characters (``abababcdcdcd``: 2.0)."""

MIN_KEY_BITS = 40.0
"""Least total Shannon entropy (length x bits per character): 16 random hex digits have
about 53, a ``secrets.token_urlsafe(32)`` key about 200."""

MIN_KEY_DISTINCT_CHARS = 6
"""Fewest distinct characters an API key may have."""


class Thresholds(BaseModel):
    """Decision thresholds of the monitoring rules and the deployment gate."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    drift: float = Field(0.15, gt=0, lt=1)
    """A calibrated drift score above this raises a drift alert and triggers retraining."""
    accuracy_floor: float = Field(0.93, gt=0, le=1)
    """Champion accuracy on recent traffic below this triggers retraining."""
    min_improvement: float = Field(0.01, ge=0, lt=1)
    """A challenger deploys only if its accuracy beats the champion's by more than this."""
    max_regression: float = Field(0.01, ge=0, lt=1)
    """Non-inferiority margin of accuracy on every guard set (the test split, the evaluation
    set): the 95% lower bound of challenger minus champion accuracy must lie above minus this."""
    max_fpr_increase: float = Field(0.01, ge=0, lt=1)
    """Non-inferiority margin of the ham false-positive rate on every guard set: the 95% upper
    bound of its increase must lie below this."""
    significance: float = Field(0.05, gt=0, lt=1)
    """Level of McNemar's exact test: the accuracy gain on the deciding set must have p below."""
    false_alarm_rate: float = Field(0.05, gt=0, lt=0.5)
    """Target false-alarm rate of the drift detector on unchanged traffic (calibration level)."""
    prior_shift_action: Literal["alert", "retrain"] = "alert"
    """What a spam-rate-only shift (prior shift) does: alert, or also retrain."""


class MonitoringSettings(BaseModel):
    """How and when the monitoring cycle and the retraining job run."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    interval_minutes: float = Field(60, gt=0)
    """Minutes between two scheduled monitoring checks."""
    retrain_cron: str = "0 3 * * 0"
    """Crontab (minute hour day month weekday) of scheduled retraining; default Sunday 03:00."""
    min_window: int = Field(200, ge=1)
    """Fewest predictions a check needs; a smaller window is a recorded INSUFFICIENT_DATA
    (and ``spamops drift`` / ``POST /metrics/drift`` answer the same)."""
    max_window: int = Field(20000, ge=1)
    """Most recent predictions a check looks at."""
    min_labels: int = Field(50, ge=1)
    """Fewest labelled predictions to measure accuracy instead of estimating it."""
    holdout_fraction: float = Field(0.3, gt=0, lt=1)
    """Share of the most recent labelled feedback kept out of retraining, for evaluation."""
    crossfit_folds: int = Field(5, ge=0, le=20)
    """Folds that score the recent labels a challenger trains on out of sample, so the gate
    compares on all recent labels (k extra fits per retrain); 0 or 1: the hold-out only."""
    retrain_cooldown_hours: float = Field(12, ge=0)
    """After a retrain starts, drift or accuracy alerts do not start another for this long."""
    approval_policy: Literal["auto", "manual"] = "auto"
    """``auto`` deploys a qualifying challenger at once; ``manual`` waits for an operator."""
    misfire_grace_seconds: int = Field(300, ge=1)
    """How late a scheduled job may still start."""
    takeover_seconds: float = Field(30, ge=3, le=3600)
    """With a PostgreSQL store: the longest a dead scheduler holder (process killed, host gone)
    keeps the other hosts waiting. Standing-by hosts retry the lock every sixth of it, and the
    lock's session is dropped within about this long after its host vanished (TCP
    keepalives)."""

    @field_validator("max_window")
    @classmethod
    def _window_holds_a_check(cls, value: int, info: ValidationInfo) -> int:
        # A window capped below min_window could never be checked: every check NO_ACTION.
        minimum = info.data.get("min_window")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least monitoring.min_window ({minimum}), or no "
                             "window could ever be checked")
        return value

    @field_validator("retrain_cron")
    @classmethod
    def _valid_crontab(cls, value: str) -> str:
        # Checked when the configuration loads, not when a scheduler first starts (issue 18).
        from engine.scheduling import crontab_trigger

        try:
            trigger = crontab_trigger(value)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a valid crontab: {exc}") from None
        # A valid crontab can still name no real day (31 February): the scheduled retrain
        # would silently never run.
        if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
            raise ValueError("this crontab never fires (no such day, e.g. 30 or 31 February)")
        return value


DEFAULT_MAX_BODY_BYTES = 1000 * (5000 * 6 + 4) + 65536
"""``server.max_body_bytes``' default: 1,000 texts x (5,000 characters x 6 bytes of
``\\uXXXX`` + quotes and comma) + 64 KiB for the rest of the JSON (30,069,536 bytes)."""


class ServerSettings(BaseModel):
    """The REST API process."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    host: str = "127.0.0.1"
    """Address the API binds to; loopback unless told otherwise."""
    port: int = Field(8000, ge=0, le=65535)
    """TCP port of the API."""
    champion_refresh_seconds: float = Field(2.0, gt=0)
    """How often the serving process checks whether the champion alias moved."""
    log_flush_seconds: float = Field(0.5, gt=0)
    """How often logged predictions are moved from the spool into the store."""
    workers: int = Field(1, ge=1, le=64)
    """API worker processes; one per CPU core serves the most requests."""
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1024)
    """Largest request body the API reads (bytes); a larger one is answered 413 before it is
    parsed. The default fits the largest legal ``POST /predict/batch`` (1,000 texts of 5,000
    characters) even with every character ``\\uXXXX``-escaped (JSON's longest escape of a
    character, ``json.dumps``' default for non-ASCII): about 30 MB."""


class DashboardSettings(BaseModel):
    """The Streamlit dashboard."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    port: int = Field(8501, ge=0, le=65535)
    """TCP port of the dashboard."""
    refresh_seconds: int = Field(30, ge=0)
    """Auto-refresh period; 0 turns it off."""


class RetentionSettings(BaseModel):
    """How long personal data is kept (README, "Retention and privacy")."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    text_days: int = Field(90, ge=1, le=36500)
    """Days a prediction's text is kept; then it is replaced by a keyed hash and its length."""


class StoreSettings(BaseModel):
    """Where the history lives: the embedded DuckDB file, or a PostgreSQL database shared by
    several hosts (docs/architecture.md, "The store")."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    url: str = ""
    """``duckdb:///PATH`` (default ``duckdb:///<home>/spamops.duckdb``) or
    ``postgresql://USER@HOST:PORT/DB`` (a libpq URL)."""
    pool_size: int = Field(4, ge=1, le=64)
    """PostgreSQL only: connections each process keeps in its pool."""
    statement_timeout_seconds: float = Field(30.0, gt=0)
    """Longest an analyst query (``spamops sql``) may run, on either backend."""

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        value = value.strip()
        if value.startswith("duckdb:") and not value.startswith("duckdb:///"):
            raise ValueError("a DuckDB URL is duckdb:///PATH (three slashes)")
        if value and not value.startswith(STORE_SCHEMES):
            raise ValueError("must start with duckdb:/// or postgresql:// "
                             f"(got {value.split(':', 1)[0]!r})")
        return value


STORE_SCHEMES = ("duckdb:///", "postgresql://", "postgres://")
"""URL schemes ``store.url`` accepts."""


class Settings(BaseSettings):
    """The effective configuration of one spamops installation."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )

    home: Path = Path("data")
    """Data home: database, registry, spool, logs and dataset cache all live here."""
    dataset_url: str = UCI_DATASET_URL
    """URL, ``file://`` URL or local path of the UCI zip (or of ``SMSSpamCollection`` itself)."""
    model_name: str = "sms-spam-classifier"
    """Name of the registered model in MLflow."""
    mlflow_tracking_uri: str | None = None
    """MLflow backend; default ``sqlite:///<home>/mlflow.db``; ``http://HOST:PORT`` for a
    tracking server shared by several hosts (``spamops mlflow-server``, docs/deploy.md)."""
    api_key: SecretStr | None = None
    """Key for the API's control endpoints (header ``X-API-Key``); unset disables them."""
    seed: int = 42
    """Seed of the train/test split and of everything random in training."""
    test_size: float = Field(0.2, gt=0, lt=1)
    """Share of the de-duplicated corpus kept as the persisted test split."""
    operator: str | None = None
    """Name recorded in the audit trail for console and CLI actions; default the OS user."""
    thresholds: Thresholds = Thresholds()
    monitoring: MonitoringSettings = MonitoringSettings()
    server: ServerSettings = ServerSettings()
    dashboard: DashboardSettings = DashboardSettings()
    retention: RetentionSettings = RetentionSettings()
    store: StoreSettings = StoreSettings()
    notify: NotifySettings = NotifySettings()

    @field_validator("api_key")
    @classmethod
    def _refuse_placeholder_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if secret == "":
            return None
        problem = placeholder_problem(secret)
        if problem:
            raise ValueError(f"looks like a placeholder ({problem}); generate one with "
                             "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
        return value

    @field_validator("home", mode="before")
    @classmethod
    def _nonempty_home(cls, value: object) -> object:
        # An empty --home or SPAMOPS_HOME= would be the working directory: refuse it.
        if isinstance(value, str | Path) and not str(value).strip():
            raise ValueError("must not be empty (it would be the working directory); give a "
                             "folder, e.g. --home ./data")
        return value

    @field_validator("model_name")
    @classmethod
    def _nonempty_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    # Derived locations -------------------------------------------------------------------
    @property
    def store_url(self) -> str:
        """The history's URL: ``store.url``, else ``duckdb:///<home>/spamops.duckdb``."""
        return self.store.url or f"duckdb:///{self.home / 'spamops.duckdb'}"

    @property
    def store_is_postgres(self) -> bool:
        """Whether the history is a PostgreSQL database (not a local DuckDB file)."""
        return self.store_url.startswith(("postgresql://", "postgres://"))

    @property
    def db_path(self) -> Path:
        """The DuckDB history file (``store.url``'s path when it is a DuckDB URL). With a
        PostgreSQL store it is still where the data home key sits beside."""
        if self.store.url.startswith("duckdb:///"):
            return Path(self.store.url.removeprefix("duckdb:///"))
        return self.home / "spamops.duckdb"

    @property
    def spool_dir(self) -> Path:
        """Append-only files holding predictions not yet moved into the database."""
        return self.home / "spool"

    @property
    def logs_dir(self) -> Path:
        """Log files (``monitor.log``)."""
        return self.home / "logs"

    @property
    def dataset_dir(self) -> Path:
        """The verified dataset cache and the persisted split."""
        return self.home / "dataset"

    @property
    def artifacts_dir(self) -> Path:
        """MLflow artifact root."""
        return self.home / "mlartifacts"

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking and registry URI."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.home.resolve() / 'mlflow.db'}"

    @property
    def operator_name(self) -> str:
        """Who the audit trail names for actions taken from this process."""
        if self.operator:
            return self.operator
        return os_account()


def os_account() -> str:
    """The operating-system account running this process: ``$USER`` (``$USERNAME``), else
    the password database entry of the real uid (cron jobs and containers often have no
    ``$USER``), else ``uid <n>``."""
    name = os.environ.get("USER") or os.environ.get("USERNAME")
    if name:
        return name
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid {os.getuid()}"


def placeholder_problem(secret: str) -> str | None:
    """Why ``secret`` looks like a placeholder rather than a generated key, or ``None``.

    Refuses keys shorter than ``MIN_KEY_CHARS``, keys containing a ``PLACEHOLDER_WORDS``
    entry, a character repeated eight times in a row, a short unit repeated (``abcabcabcabc``),
    fewer than ``MIN_KEY_DISTINCT_CHARS`` distinct characters, or a Shannon entropy below
    ``MIN_KEY_BITS_PER_CHAR`` bits per character or ``MIN_KEY_BITS`` in all.
    """
    lowered = secret.lower()
    if len(secret) < MIN_KEY_CHARS:
        return f"shorter than {MIN_KEY_CHARS} characters"
    word = next((w for w in PLACEHOLDER_WORDS if w in lowered), None)
    if word is not None:
        return f"contains {word!r}"
    # Eight in a row: a random 32-hex-digit key has five in a row about once in 2,300 keys
    # (28 places x 16^-4), eight about once in 10 million.
    if re.search(r"(.)\1{7}", secret):
        return "a character repeated eight times in a row"
    if re.fullmatch(r"(.+?)\1+", lowered):
        return "one short part repeated"
    counts = Counter(secret)
    if len(counts) < MIN_KEY_DISTINCT_CHARS:
        return f"fewer than {MIN_KEY_DISTINCT_CHARS} distinct characters"
    bits = -sum(c / len(secret) * math.log2(c / len(secret)) for c in counts.values())
    if bits < MIN_KEY_BITS_PER_CHAR or bits * len(secret) < MIN_KEY_BITS:
        return f"low entropy ({bits * len(secret):.0f} bits)"
    return None


def config_file_path() -> Path:
    """The TOML file that would be read (it may not exist)."""
    return Path(os.environ.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE))


def _settings_class(toml_path: Path) -> type[Settings]:
    class _FileBacked(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (
                init_settings,
                env_settings,
                TomlConfigSettingsSource(settings_cls, toml_file=toml_path),
            )

    return _FileBacked


def load_settings(**overrides: Any) -> Settings:
    """Read defaults < spamops.toml < SPAMOPS_* env < ``overrides``.

    Raises:
        ConfigError: one line naming the first invalid key and where its value came from.
    """
    path = config_file_path()
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
        _check_known_keys(data, Settings, path, prefix="")
    elif path.exists():
        raise ConfigError(f"config file {path} is not a file")
    elif CONFIG_FILE_ENV in os.environ:
        raise ConfigError(f"config file {path} (from {CONFIG_FILE_ENV}) does not exist")
    _check_known_env()
    try:
        return _settings_class(path)(**overrides)
    except ValidationError as exc:
        raise _config_error(exc, path) from None


def _suggestion(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(known))}"


def _check_known_keys(data: dict[str, Any], model: type[BaseModel], path: Path, *,
                      prefix: str) -> None:
    """Refuse keys and tables of the TOML file that no setting has, suggesting the nearest
    (``difflib``), so a misspelt ``[threshold]`` cannot leave a default silently in force."""
    known = list(model.model_fields)
    for name, value in data.items():
        key = prefix + name
        if name not in model.model_fields:
            what = "table" if isinstance(value, dict) else "key"
            raise ConfigError(f"unknown {what} {'[' + key + ']' if what == 'table' else key} "
                              f"in {path}{_suggestion(name, known)}")
        annotation = model.model_fields[name].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if not isinstance(value, dict):
                raise ConfigError(f"{key} in {path} must be a table [{key}], not a value")
            _check_known_keys(value, annotation, path, prefix=key + ".")


ENV_NOT_SETTINGS = frozenset({CONFIG_FILE_ENV, "SPAMOPS_DEBUG", "SPAMOPS_SUPERVISED"})
"""``SPAMOPS_*`` variables that are not settings (so never reported as unknown)."""


def _check_known_env() -> None:
    """Refuse a ``SPAMOPS_*`` variable that is not a setting but is spelt like one (an
    unknown nested key, or a near miss of a known name). Other ``SPAMOPS_*`` names are left
    alone: tools and tests use a few of their own."""
    names = [env_var_for(key) for key in _all_keys()]
    for var in os.environ:
        upper = var.upper()
        if not upper.startswith(ENV_PREFIX) or upper in ENV_NOT_SETTINGS or upper in names:
            continue
        nested = "__" in upper
        close = difflib.get_close_matches(upper, names, n=1, cutoff=0.85)
        if nested or close:
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"unknown setting in environment variable {var}{hint}")


def _all_keys() -> list[str]:
    keys: list[str] = []
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(f"{name}.{sub}" for sub in annotation.model_fields)
        else:
            keys.append(name)
    return keys


def _config_error(exc: ValidationError, path: Path) -> ConfigError:
    first = exc.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    source = _source_of(key, _read_toml(path), path)
    shown = first.get("input")
    if "api_key" in key or "secret" in key or key == "store.url":  # a URL may hold a password
        shown = "***"
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        return ConfigError(f"unknown setting {key} (from {source})")
    if source == "default":
        # An override passed in code (the CLI's --home), or a value pydantic derived.
        source = "command line" if key == "home" else "defaults"
    if isinstance(shown, dict | list | tuple):  # a whole table: may hold secrets, and is long
        return ConfigError(f"invalid config value {key} (from {source}): {message}")
    return ConfigError(f"invalid config value {key}={shown!r} (from {source}): {message}")


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return {}


def env_var_for(key: str) -> str:
    """The environment variable that sets a dotted config key."""
    return ENV_PREFIX + key.replace(".", "__").upper()


def _source_of(key: str, toml_data: dict[str, Any], path: Path) -> str:
    env_name = env_var_for(key)
    if any(name.upper() == env_name for name in os.environ):
        return f"env {env_name}"
    section = key.split(".")[0]
    if "." in key and any(name.upper().startswith(env_var_for(section) + "__")
                          for name in os.environ) and section not in toml_data:
        return f"env {env_var_for(section)}__*"
    node: Any = toml_data
    for part in key.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]  # [[notify.webhooks]] entries are addressed by index
            continue
        if not isinstance(node, dict) or part not in node:
            return "default"
        node = node[part]
    return f"file {path}"


@dataclass(frozen=True)
class ConfigValue:
    """One effective configuration value, for ``spamops config show``."""

    key: str
    value: Any
    source: str
    env_var: str
    doc: str


def _field_docs(model: type[BaseModel]) -> dict[str, str]:
    return {name: (field.description or "") for name, field in model.model_fields.items()}


def _shown(value: Any) -> Any:
    """A value as ``config show`` and the audit trail see it: webhooks without their secret."""
    if isinstance(value, tuple):  # a list, as it reads back from the audit trail's JSON
        return [v.public() if hasattr(v, "public") else v for v in value]
    return value


def describe(settings: Settings) -> list[ConfigValue]:
    """List every effective value with the source that set it and its documentation."""
    path = config_file_path()
    toml_data = _read_toml(path)
    values: list[ConfigValue] = []
    docs = _field_docs(Settings)
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if isinstance(value, BaseModel):
            sub_docs = _field_docs(type(value))
            for sub in type(value).model_fields:
                key = f"{name}.{sub}"
                shown = _shown(getattr(value, sub))
                if key == "store.url" and isinstance(shown, str):
                    # A password in the URL is never shown nor audited (prefer ~/.pgpass).
                    shown = re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", shown)
                values.append(
                    ConfigValue(
                        key, shown, _source_of(key, toml_data, path),
                        env_var_for(key), sub_docs.get(sub, ""),
                    )
                )
            continue
        if isinstance(value, SecretStr):
            value = "***"
        elif isinstance(value, Path):
            value = str(value)
        values.append(
            ConfigValue(name, value, _source_of(name, toml_data, path), env_var_for(name),
                        docs.get(name, ""))
        )
    return values
