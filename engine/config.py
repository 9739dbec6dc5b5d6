"""One typed settings object for every spamops process.

Who reads what, lowest priority first:

==========================  ==================================================
source                      how
==========================  ==================================================
defaults                    the field defaults below
``spamops.toml``            in the working directory, or the file named by
                            ``SPAMOPS_CONFIG``; tables ``[thresholds]``,
                            ``[monitoring]``, ``[server]``, ``[dashboard]``,
                            ``[notify]`` with ``[[notify.webhooks]]``
environment                 ``SPAMOPS_<KEY>``; nested keys with ``__``, e.g.
                            ``SPAMOPS_THRESHOLDS__DRIFT=0.2``
==========================  ==================================================

Everything spamops writes lives under ``home`` (``SPAMOPS_HOME``, default ``./data``), so a
second data home is a second, independent installation. ``describe`` reports each effective
value with the source that set it, for ``spamops config show``. Loading never creates files
or directories: that is the job of the commands that write.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
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

_PLACEHOLDER_SECRETS = {"changeme", "changethis", "secret", "password", "apikey", "api-key"}


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
    """Largest drop of accuracy or spam F1 on the test split that a deploy may cause."""
    false_alarm_rate: float = Field(0.05, gt=0, lt=0.5)
    """Target false-alarm rate of the drift detector on unchanged traffic (calibration level)."""


class MonitoringSettings(BaseModel):
    """How and when the monitoring cycle and the retraining job run."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    interval_minutes: float = Field(60, gt=0)
    """Minutes between two scheduled monitoring checks."""
    retrain_cron: str = "0 3 * * 0"
    """Crontab (minute hour day month weekday) of scheduled retraining; default Sunday 03:00."""
    min_window: int = Field(200, ge=1)
    """Fewest predictions a check needs; a smaller window is a recorded NO_ACTION."""
    max_window: int = Field(20000, ge=1)
    """Most recent predictions a check looks at."""
    min_labels: int = Field(50, ge=1)
    """Fewest labelled predictions to measure accuracy instead of estimating it."""
    holdout_fraction: float = Field(0.3, gt=0, lt=1)
    """Share of the most recent labelled feedback kept out of retraining, for evaluation."""
    retrain_cooldown_hours: float = Field(12, ge=0)
    """After a retrain starts, drift or accuracy alerts do not start another for this long."""
    approval_policy: Literal["auto", "manual"] = "auto"
    """``auto`` deploys a qualifying challenger at once; ``manual`` waits for an operator."""
    misfire_grace_seconds: int = Field(300, ge=1)
    """How late a scheduled job may still start."""


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


class DashboardSettings(BaseModel):
    """The Streamlit dashboard."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    port: int = Field(8501, ge=0, le=65535)
    """TCP port of the dashboard."""
    refresh_seconds: int = Field(30, ge=0)
    """Auto-refresh period; 0 turns it off."""


class Settings(BaseSettings):
    """The effective configuration of one spamops installation."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="ignore",
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
    """MLflow backend; default ``sqlite:///<home>/mlflow.db``."""
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
    notify: NotifySettings = NotifySettings()

    @field_validator("api_key")
    @classmethod
    def _refuse_placeholder_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value()
        if secret == "":
            return None
        if secret.lower() in _PLACEHOLDER_SECRETS or len(secret) < 12:
            raise ValueError("must be at least 12 characters and not a placeholder")
        return value

    @field_validator("model_name")
    @classmethod
    def _nonempty_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    # Derived locations -------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        """The DuckDB history file."""
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
        return os.environ.get("USER") or os.environ.get("USERNAME") or "operator"


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
    if path.exists():
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    elif CONFIG_FILE_ENV in os.environ:
        raise ConfigError(f"config file {path} (from {CONFIG_FILE_ENV}) does not exist")
    try:
        return _settings_class(path)(**overrides)
    except ValidationError as exc:
        raise _config_error(exc, path) from None


def _config_error(exc: ValidationError, path: Path) -> ConfigError:
    first = exc.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    source = _source_of(key, _read_toml(path), path)
    shown = first.get("input")
    if "api_key" in key or "secret" in key:
        shown = "***"
    if isinstance(shown, dict | list | tuple):  # a whole table: may hold secrets, and is long
        return ConfigError(f"invalid config value {key} (from {source}): {first['msg']}")
    return ConfigError(f"invalid config value {key}={shown!r} (from {source}): {first['msg']}")


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


def env_var_for(key: str) -> str:
    """The environment variable that sets a dotted config key."""
    return ENV_PREFIX + key.replace(".", "__").upper()


def _source_of(key: str, toml_data: dict[str, Any], path: Path) -> str:
    env_name = env_var_for(key)
    if any(name.upper() == env_name for name in os.environ):
        return f"env {env_name}"
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
                values.append(
                    ConfigValue(
                        key, _shown(getattr(value, sub)), _source_of(key, toml_data, path),
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
