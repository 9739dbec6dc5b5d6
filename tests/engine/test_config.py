"""Configuration: defaults < spamops.toml < SPAMOPS_* env, sources reported, bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import describe, load_settings
from engine.errors import ConfigError

BAD_CONFIGS = Path(__file__).resolve().parent.parent / "data" / "config"


def test_defaults_match_the_product_brief() -> None:
    settings = load_settings()
    assert settings.thresholds.drift == 0.15
    assert settings.thresholds.accuracy_floor == 0.93
    assert settings.thresholds.min_improvement == 0.01
    assert settings.home == Path("data")
    assert settings.model_name == "sms-spam-classifier"
    assert settings.server.host == "127.0.0.1"
    assert settings.api_key is None


def test_everything_written_lives_under_the_home(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    for path in (settings.db_path, settings.spool_dir, settings.logs_dir,
                 settings.dataset_dir, settings.artifacts_dir):
        assert tmp_path in path.parents
    assert str(tmp_path.resolve()) in settings.tracking_uri


def test_env_beats_file_beats_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "spamops.toml"
    config.write_text("[thresholds]\ndrift = 0.2\naccuracy_floor = 0.9\n")
    monkeypatch.setenv("SPAMOPS_CONFIG", str(config))
    monkeypatch.setenv("SPAMOPS_THRESHOLDS__DRIFT", "0.3")
    settings = load_settings()
    assert settings.thresholds.drift == 0.3
    assert settings.thresholds.accuracy_floor == 0.9
    sources = {v.key: v.source for v in describe(settings)}
    assert sources["thresholds.drift"] == "env SPAMOPS_THRESHOLDS__DRIFT"
    assert sources["thresholds.accuracy_floor"] == f"file {config}"
    assert sources["thresholds.min_improvement"] == "default"


def test_spamops_toml_in_the_working_directory_is_read(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spamops.toml").write_text('[monitoring]\napproval_policy = "manual"\n')
    assert load_settings().monitoring.approval_policy == "manual"


def test_home_comes_from_spamops_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPAMOPS_HOME", str(tmp_path / "elsewhere"))
    assert load_settings().home == tmp_path / "elsewhere"


@pytest.mark.parametrize(
    ("file", "key"),
    [
        ("bad_drift_type.toml", "thresholds.drift"),
        ("accuracy_out_of_range.toml", "thresholds.accuracy_floor"),
        ("bad_policy.toml", "monitoring.approval_policy"),
        ("placeholder_key.toml", "api_key"),
        ("unknown_key.toml", "monitoring.unknown_key"),
        ("window_inverted.toml", "monitoring.max_window"),
    ],
)
def test_invalid_file_value_fails_naming_the_key(file: str, key: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_CONFIG", str(BAD_CONFIGS / file))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert key in message
    assert "\n" not in message
    assert "changeme" not in message


def test_file_that_is_not_toml_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_CONFIG", str(BAD_CONFIGS / "not_toml.toml"))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


def test_named_config_file_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPAMOPS_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()


def test_invalid_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_THRESHOLDS__DRIFT", "abc")
    with pytest.raises(ConfigError, match="SPAMOPS_THRESHOLDS__DRIFT"):
        load_settings()


def test_api_key_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_API_KEY", "a-long-enough-secret-key")
    values = {v.key: v.value for v in describe(load_settings())}
    assert values["api_key"] == "***"


def test_every_value_is_documented() -> None:
    assert all(v.doc for v in describe(load_settings()))


def test_max_window_below_min_window_is_refused_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Otherwise every check would be NO_ACTION for a window too small, forever."""
    monkeypatch.setenv("SPAMOPS_MONITORING__MIN_WINDOW", "300")
    monkeypatch.setenv("SPAMOPS_MONITORING__MAX_WINDOW", "299")
    with pytest.raises(ConfigError, match=r"monitoring\.max_window='299'.*min_window \(300\)"):
        load_settings()
    monkeypatch.setenv("SPAMOPS_MONITORING__MAX_WINDOW", "300")
    assert load_settings().monitoring.max_window == 300
