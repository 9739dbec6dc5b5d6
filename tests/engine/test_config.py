"""Configuration: defaults < spamops.toml < SPAMOPS_* env, sources reported, bad values named."""

from __future__ import annotations

import os
import pwd
import re
import secrets
from pathlib import Path

import pytest

from engine.config import describe, load_settings, placeholder_problem
from engine.errors import ConfigError
from tests.cli_helpers import run_cli

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


BAD_FILES = [
    ("bad_drift_type.toml", "thresholds.drift"),
    ("accuracy_out_of_range.toml", "thresholds.accuracy_floor"),
    ("bad_policy.toml", "monitoring.approval_policy"),
    ("placeholder_key.toml", "api_key"),
    ("unknown_key.toml", "monitoring.unknown_key"),
    ("window_inverted.toml", "monitoring.max_window"),
    ("unknown_section.toml", "[threshold]"),
    ("unknown_top_level_key.toml", "homee"),
    ("misspelt_key.toml", "thresholds.dirft"),
    ("section_given_a_value.toml", "thresholds"),
    ("cron_hour_out_of_range.toml", "monitoring.retrain_cron"),
    ("cron_wrong_field_count.toml", "monitoring.retrain_cron"),
    ("cron_never_fires.toml", "monitoring.retrain_cron"),
    ("placeholder_key_repeated_word.toml", "api_key"),
    ("placeholder_key_template.toml", "api_key"),
    ("placeholder_key_repeated_char.toml", "api_key"),
    ("placeholder_key_repeated_unit.toml", "api_key"),
    ("placeholder_key_low_entropy.toml", "api_key"),
    ("placeholder_key_short.toml", "api_key"),
]
"""One data file per failure, and the key its error must name."""


@pytest.mark.parametrize(("file", "key"), BAD_FILES)
def test_invalid_file_value_fails_naming_the_key(file: str, key: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_CONFIG", str(BAD_CONFIGS / file))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert key in message
    assert file in message  # the source: the file that holds the mistake
    assert "\n" not in message
    secret = (BAD_CONFIGS / file).read_text().split('"')[1] if "api_key" in key else None
    assert secret is None or secret not in message


def test_every_bad_config_file_is_exercised() -> None:
    """One data file per failure, and each one is in the list above."""
    listed = {file for file, _ in BAD_FILES}
    assert {p.name for p in BAD_CONFIGS.glob("*.toml")} - {"not_toml.toml"} == listed


@pytest.mark.parametrize(
    ("file", "suggestion"),
    [("unknown_section.toml", "did you mean 'thresholds'?"),
     ("unknown_top_level_key.toml", "did you mean 'home'?"),
     ("misspelt_key.toml", "did you mean 'drift'?")],
)
def test_unknown_names_get_the_nearest_known_one(file: str, suggestion: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_CONFIG", str(BAD_CONFIGS / file))
    with pytest.raises(ConfigError, match=re.escape(suggestion)):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [("SPAMOPS_THRESHOLDS__DIRFT", "0.2", "did you mean SPAMOPS_THRESHOLDS__DRIFT?"),
     ("SPAMOPS_API_KY", "Jq4vN8xR2mT6wZ9pK3sY", "did you mean SPAMOPS_API_KEY?"),
     ("SPAMOPS_MONITORING__RETRAIN_CRON", "0 3 * *", "env SPAMOPS_MONITORING__RETRAIN_CRON"),
     ("SPAMOPS_API_KEY", "your-api-key-here", "env SPAMOPS_API_KEY")],
)
def test_bad_environment_variables_are_named(name: str, value: str, expected: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=re.escape(expected)) as caught:
        load_settings()
    assert "your-api-key-here" not in str(caught.value)


def test_unrelated_spamops_variables_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_BENCH_WARM", "1")
    assert load_settings().thresholds.drift == 0.15


@pytest.mark.parametrize("key", ["changeme-changeme", "your-api-key-here", "xxxxxxxxxxxxxxxx",
                                 "Password12345678", "abcabcabcabcabcabc",
                                 "aaaabaaaacaaaadaaaaeaaaaf", "short-Zx81"])
def test_placeholder_keys_are_refused(key: str) -> None:
    assert placeholder_problem(key) is not None


def test_generated_keys_are_accepted() -> None:
    keys = [secrets.token_urlsafe(32) for _ in range(200)] + [secrets.token_hex(16)
                                                               for _ in range(200)]
    assert [k for k in keys if placeholder_problem(k)] == []


def test_operator_falls_back_to_the_os_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("USER", raising=False)
    monkeypatch.delenv("USERNAME", raising=False)
    assert load_settings().operator_name == pwd.getpwuid(os.getuid()).pw_name


def test_config_show_says_when_no_file_exists(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, "config", "show")
    assert run.code == 0
    assert run.out.splitlines()[0].startswith("config file: none (spamops.toml does not exist")
    assert run_cli(capsys, "config", "show", "--json").json()["config_file"] is None


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
    monkeypatch.setenv("SPAMOPS_API_KEY", "Jq4vN8xR2mT6wZ9pK3sY")
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


def test_the_store_url_defaults_to_the_duckdb_file_and_takes_postgresql(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "h"
    settings = load_settings(home=home)
    assert settings.store_url == f"duckdb:///{home / 'spamops.duckdb'}"
    assert not settings.store_is_postgres and settings.db_path == home / "spamops.duckdb"
    monkeypatch.setenv("SPAMOPS_STORE__URL", "postgresql://spamops@db.internal:5432/history")
    settings = load_settings(home=home)
    assert settings.store_is_postgres
    assert settings.store_url == "postgresql://spamops@db.internal:5432/history"
    monkeypatch.setenv("SPAMOPS_STORE__URL", "postgresql://ops:hunter2@db:5432/history")
    shown = {v.key: v.value for v in describe(load_settings(home=home))}["store.url"]
    assert shown == "postgresql://ops:***@db:5432/history"
    monkeypatch.setenv("SPAMOPS_STORE__URL", f"duckdb:///{tmp_path / 'other.duckdb'}")
    assert load_settings(home=home).db_path == tmp_path / "other.duckdb"


@pytest.mark.parametrize("url, fragment", [
    ("mysql://x/y", "must start with duckdb:/// or postgresql://"),
    ("duckdb://relative.duckdb", "three slashes"),
])
def test_a_bad_store_url_is_one_line_naming_the_key(url: str, fragment: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_STORE__URL", url)
    with pytest.raises(ConfigError, match=fragment) as caught:
        load_settings()
    assert "store.url" in str(caught.value) and "\n" not in str(caught.value)
