"""``spamops registry copy --to URI``: a home's registry carried over with its version numbers.

The target here is another real MLflow registry (a sqlite file, through MLflow's API as a
tracking server's would be); tests/e2e/test_tracking_server.py checks the refusal against a
real ``mlflow server`` that already has versions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_settings
from engine.registry import Registry
from engine.registry_copy import COPIED_FROM
from engine.services import Services
from engine.training import spam_probability
from tests.cli_helpers import run_cli

TEXTS = ["WINNER!! Claim your free prize now, call 09061701461", "see you at 8 tonight?"]


def test_copy_keeps_numbers_aliases_lineage_and_predictions(
        two_versions_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target_uri = f"sqlite:///{tmp_path / 'server' / 'mlflow.db'}"
    (tmp_path / "server").mkdir()
    services = Services(load_settings(home=two_versions_home))
    services.promote(2, actor="test")  # champion v2, previous v1
    before = {v.version: v for v in services.models()}
    services.close()

    run = run_cli(capsys, "--home", str(two_versions_home), "registry", "copy", "--to",
                  target_uri, "--json")
    assert run.code == 0, run.err
    report = run.json()
    assert report["versions"] == [1, 2]
    assert report["aliases"] == {"champion": 2, "previous": 1}
    assert "version 2 copied" in run.err

    source = Registry(load_settings(home=two_versions_home).tracking_uri,
                      "sms-spam-classifier", str(two_versions_home / "mlartifacts"))
    target = Registry(target_uri, "sms-spam-classifier", str(tmp_path / "art"))
    assert target.aliases() == {"champion": 2, "previous": 1}
    for version, info in before.items():
        copied = target.version(version)
        assert copied.metrics == info.metrics
        assert {k: v for k, v in copied.tags.items() if k != COPIED_FROM} == info.tags
        assert copied.tags[COPIED_FROM].endswith(f"v{version} run {info.run_id}")
        assert copied.run_id != info.run_id
        # The same fitted model: the same probabilities, the same drift reference.
        assert list(spam_probability(target.load(version), TEXTS)) == list(
            spam_probability(source.load(version), TEXTS))
        assert target.reference_texts(version) == source.reference_texts(version)

    services = Services(load_settings(home=two_versions_home))
    try:
        rows = {r["version"]: r for r in services.store.model_versions_seen()}
        assert rows[2]["run_id"] == report["run_ids"]["2"]
        audit = services.sql("SELECT action, subject FROM audit_log ORDER BY seq DESC "
                             "LIMIT 1").rows
        assert audit == [("registry.copied", target_uri)]
        assert services.verify_audit().ok
    finally:
        services.close()

    # A second copy into the now-filled registry is refused before any write, in one line.
    again = run_cli(capsys, "--home", str(two_versions_home), "registry", "copy", "--to",
                    target_uri)
    assert again.code == 1
    assert again.err == (f"error: the registry at {target_uri} already has 2 version(s) of "
                         "sms-spam-classifier: copy into one that has none, so the numbers "
                         "stay\n")
    assert len(target.versions()) == 2


def test_copy_to_itself_is_refused(trained_home: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    own = load_settings(home=trained_home).tracking_uri
    run = run_cli(capsys, "registry", "copy", "--to", own)
    assert run.code == 1
    assert run.err == f"error: the registry at {own} is this home's own: nothing to copy\n"
