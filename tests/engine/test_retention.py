"""Retention (issue 18): old prediction texts become a keyed hash and a length, every metric
stays; drift references are kept only for the champion; each prune is audited. Real DuckDB
file, real MLflow registry."""

from __future__ import annotations

import hashlib
import hmac
import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import SimulatedClock
from engine.config import load_settings
from engine.records import FeedbackRecord, PredictionRecord
from engine.retention import KEY_FILE, retention_key
from engine.services import Services
from tests.cli_helpers import run_cli

NOW = datetime(2026, 6, 1, 12, 0)


def _traffic(services: Services, days: int, per_day: int) -> list[PredictionRecord]:
    """``per_day`` predictions on each of the last ``days`` days, half of them labelled."""
    records = [
        PredictionRecord(id=f"p{d:03d}-{i}", ts=NOW - timedelta(days=d, minutes=i),
                         text=f"message {i} of day {d}: call me back " + "x" * (d % 7),
                         model_version=1, label="spam" if i % 3 == 0 else "ham",
                         spam_probability=0.9 if i % 3 == 0 else 0.1, latency_ms=1.0,
                         source="test")
        for d in range(days) for i in range(per_day)]
    services.store.log_predictions(records)
    services.store.flush()
    services.store.add_feedback_many([
        FeedbackRecord(r.id, r.ts + timedelta(hours=1), "spam" if i % 4 == 0 else "ham", "test")
        for i, r in enumerate(records) if i % 2 == 0])
    return records


@pytest.fixture
def services(trained_home: Path) -> Services:
    settings = load_settings(retention={"text_days": 30})
    return Services(settings, clock=SimulatedClock(NOW))


def test_prune_replaces_old_texts_by_keyed_hash_and_keeps_every_metric(
        services: Services, trained_home: Path) -> None:
    records = _traffic(services, days=60, per_day=10)
    traffic_before = services.daily_traffic()
    accuracy_before = services.daily_accuracy()
    views_before = services.sql("SELECT * FROM v_daily_accuracy ORDER BY day").rows

    report = services.prune()

    cutoff = NOW - timedelta(days=30)
    old = [r for r in records if r.ts < cutoff]
    assert report.texts_pruned == len(old) > 0
    assert report.cutoff == cutoff
    assert services.daily_traffic() == traffic_before
    assert services.daily_accuracy() == accuracy_before
    assert services.sql("SELECT * FROM v_daily_accuracy ORDER BY day").rows == views_before
    key_path = trained_home / KEY_FILE
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = retention_key(trained_home, create=False)
    assert key is not None
    rows = {r[0]: r[1:] for r in services.sql(
        "SELECT id, text, text_hmac, text_length, label, true_label FROM predictions").rows}
    for r in records:
        text, digest, length, label, _ = rows[r.id]
        if r.ts < cutoff:
            assert text is None
            assert digest == hmac.new(key, r.text.encode(), hashlib.sha256).hexdigest()
            assert length == len(r.text)
        else:
            assert (text, digest, length) == (r.text, None, None)
        assert label == r.label
    # Nothing that scores texts sees a pruned row.
    window = services.store.predictions_between(None, NOW + timedelta(minutes=1))
    assert len(window) == len(records) - len(old)
    assert services.store.labels_received_between(None, None)["text"].notna().all()
    last = services.audit_records()[-1]
    assert (last.action, last.details["texts_pruned"]) == ("retention.prune", len(old))
    assert services.verify_audit().ok


def test_second_prune_changes_nothing_and_is_not_audited(services: Services) -> None:
    _traffic(services, days=40, per_day=5)
    first = services.prune()
    audited = len(services.audit_records())

    second = services.prune()

    assert first.texts_pruned > 0
    assert second.texts_pruned == 0
    assert second.texts_pruned_before == first.texts_pruned
    assert len(services.audit_records()) == audited


def test_dry_run_counts_and_changes_nothing(services: Services, trained_home: Path) -> None:
    records = _traffic(services, days=40, per_day=5)
    audited = len(services.audit_records())

    report = services.prune(dry_run=True)

    # Days 31..39 and day 30 but its first minute (exactly at the cutoff, which is kept).
    assert report.texts_pruned == sum(r.ts < report.cutoff for r in records) == 9 * 5 + 4
    assert services.store.texts_older_than(report.cutoff) == report.texts_pruned
    assert not (trained_home / KEY_FILE).exists()
    assert len(services.audit_records()) == audited


def test_prune_cli_json_and_text(trained_home: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_RETENTION__TEXT_DAYS", "1")
    services = Services(load_settings())
    services.store.log_predictions([PredictionRecord(
        "old", datetime.now() - timedelta(days=3), "see you at 7", 1, "ham", 0.1, 1.0, "test")])
    services.close()

    dry = run_cli(capsys, "prune", "--dry-run", "--json")
    done = run_cli(capsys, "prune")

    assert dry.code == 0, dry.err
    assert dry.json()["texts_pruned"] == 1 and dry.json()["dry_run"] is True
    assert done.code == 0, done.err
    assert done.out.startswith("1 prediction texts older than 1 days")
    assert "drift references kept: v1" in done.out


def test_a_readable_key_is_tightened_and_a_bad_key_is_one_line(tmp_path: Path) -> None:
    key = retention_key(tmp_path, create=True)
    path = tmp_path / KEY_FILE
    path.chmod(0o644)

    assert retention_key(tmp_path, create=False) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("not hex\n")
    with pytest.raises(Exception, match="is not a retention key"):
        retention_key(tmp_path, create=False)


@pytest.mark.slow
def test_drift_references_are_kept_only_for_the_champion(services: Services,
                                                         trained_home: Path) -> None:
    from engine.errors import ModelNotFound

    services.train(trigger="test")  # v2, not champion
    services.drift_detector()  # caches v1's detector
    assert services.registry.reference_texts(2)

    report = services.prune()

    assert report.references_kept == (1,)
    assert report.references_dropped == (2,)
    assert services.registry.reference_texts(1)
    with pytest.raises(ModelNotFound):
        services.registry.reference_texts(2)
    # A rolled-back-to version without a reference still gets a detector (the split's texts).
    services.promote(2)
    detector = services.drift_detector()
    assert detector.model_version == 2


def test_prune_in_small_batches_prunes_every_old_text_once(services: Services) -> None:
    records = _traffic(services, days=40, per_day=5)
    cutoff = NOW - timedelta(days=30)

    pruned = services.store.prune_texts(cutoff, b"k" * 32, batch=7)

    assert pruned == sum(r.ts < cutoff for r in records)
    assert services.store.texts_older_than(cutoff) == 0
    assert services.store.pruned_texts() == pruned
