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
from engine.datakey import KEY_FILE, load_key
from engine.records import FeedbackRecord, PredictionRecord
from engine.retention import KEY_PURPOSE
from engine.services import Services
from tests.cli_helpers import run_cli
from tests.postgres import migrate_to_postgres

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
def services(trained_home: Path, store_url: str | None,
             monkeypatch: pytest.MonkeyPatch) -> Services:
    """On both store backends: for PostgreSQL the trained home is moved there first (as
    `spamops store migrate` does), so its audit chain and anchors go on."""
    if store_url is not None:
        migrate_to_postgres(trained_home, store_url)
        monkeypatch.setenv("SPAMOPS_STORE__URL", store_url)
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
    data_key = load_key(trained_home / KEY_FILE)
    assert data_key is not None
    assert stat.S_IMODE((trained_home / KEY_FILE).stat().st_mode) == 0o600
    key = data_key.derive(KEY_PURPOSE)
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


def test_second_prune_changes_nothing_and_is_audited_all_the_same(services: Services) -> None:
    _traffic(services, days=40, per_day=5)
    first = services.prune()
    audited = len(services.audit_records())

    second = services.prune()

    assert first.texts_pruned > 0
    assert second.texts_pruned == 0
    assert second.texts_pruned_before == first.texts_pruned
    records = services.audit_records()
    assert len(records) == audited + 1
    assert records[-1].action == "retention.prune"
    assert (records[-1].details["texts_pruned"], records[-1].details["changed"]) == (0, False)


def test_dry_run_counts_and_changes_nothing(services: Services, trained_home: Path) -> None:
    records = _traffic(services, days=40, per_day=5)
    audited = len(services.audit_records())

    report = services.prune(dry_run=True)

    # Days 31..39 and day 30 but its first minute (exactly at the cutoff, which is kept).
    assert report.texts_pruned == sum(r.ts < report.cutoff for r in records) == 9 * 5 + 4
    assert services.store.texts_older_than(report.cutoff) == report.texts_pruned
    assert services.store.pruned_texts() == 0
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


def test_evaluation_messages_past_the_cutoff_are_deleted(services: Services) -> None:
    import pandas as pd

    held_out = pd.DataFrame({
        "text": ["old held-out message", "recent held-out message"],
        "true_label": ["spam", "ham"],
        "labelled_at": [NOW - timedelta(days=45), NOW - timedelta(days=2)]})
    services.store.add_evaluation_messages(held_out, "r1", added_at=NOW - timedelta(days=1))

    dry = services.prune(dry_run=True)
    report = services.prune()

    assert dry.evaluation_texts_dropped == report.evaluation_texts_dropped == 1
    assert services.store.evaluation_messages()["text"].tolist() == ["recent held-out message"]
    assert services.audit_records()[-1].details["evaluation_texts_dropped"] == 1


def test_prune_in_small_batches_prunes_every_old_text_once(services: Services) -> None:
    records = _traffic(services, days=40, per_day=5)
    cutoff = NOW - timedelta(days=30)

    pruned = services.store.prune_texts(cutoff, b"k" * 32, batch=7)

    assert pruned == sum(r.ts < cutoff for r in records)
    assert services.store.texts_older_than(cutoff) == 0
    assert services.store.pruned_texts() == pruned


def test_the_scheduler_prunes_daily_at_0415_utc(services: Services) -> None:
    from engine.scheduling import SimulatedScheduler

    records = _traffic(services, days=40, per_day=5)
    clock = services.clock
    assert isinstance(clock, SimulatedClock)
    jobs = [job for job in services.scheduled_jobs(start=NOW) if job.id == "prune"]
    scheduler = SimulatedScheduler(jobs, services.store, clock)

    runs = scheduler.advance_to(NOW + timedelta(days=2))

    assert [(r.scheduled_at, r.outcome) for r in runs] == [
        (datetime(2026, 6, 2, 4, 15), "ok"), (datetime(2026, 6, 3, 4, 15), "ok")]
    first_cutoff = datetime(2026, 6, 2, 4, 15) - timedelta(days=30)
    assert runs[0].detail.startswith(f"{sum(r.ts < first_cutoff for r in records)} texts pruned")
    prunes = [r for r in services.audit_records() if r.action == "retention.prune"]
    assert [r.actor for r in prunes] == ["scheduler", "scheduler"]


def test_a_monitoring_window_skips_pruned_texts_but_covers_them(services: Services) -> None:
    records = _traffic(services, days=40, per_day=5)
    services.prune()

    window, head = services.store.window_after(0)

    assert head == len(records)  # the window covers every ingested prediction...
    assert window["text"].notna().all()  # ...but only the texts that remain are scored
    assert len(window) == sum(r.ts >= NOW - timedelta(days=30) for r in records)
