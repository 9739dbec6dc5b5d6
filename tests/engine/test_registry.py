"""Training and the MLflow registry: round trip, aliases, promotion and rollback."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_settings
from engine.errors import ModelNotFound, NoChampionError, SpamopsError, TrainingError
from engine.registry import CHAMPION, PREVIOUS
from engine.services import Services
from engine.training import TrainingData, evaluate, fit


@pytest.fixture
def services(trained_home: Path) -> Services:
    return Services(load_settings())


def test_baseline_meets_the_quality_bar(services: Services) -> None:
    champion = services.registry.version(services.registry.require_champion())
    assert champion.metrics["accuracy"] >= 0.97
    assert champion.metrics["f1"] >= 0.90
    assert champion.tags["dataset_fingerprint"] == services.split().fingerprint


def test_round_trip_train_register_load_by_alias_predict(services: Services) -> None:
    version, model = services.champion.get()
    assert services.registry.alias_version(CHAMPION) == version
    split = services.split()
    metrics = evaluate(model, split.test_texts, split.test_labels)
    logged = services.registry.version(version).metrics
    assert metrics.accuracy == pytest.approx(logged["accuracy"])
    predictions = services.predict(["WINNER!! Claim your free prize, call 09061701461 now",
                                    "Are we still meeting for lunch at 1?"])
    assert [p.label for p in predictions] == ["spam", "ham"]
    assert all(p.model_version == version for p in predictions)


def test_pyfunc_loading_with_a_dataframe_predicts_the_same(services: Services) -> None:
    import mlflow.pyfunc
    import pandas as pd

    _version, model = services.champion.get()
    texts = ["Free entry in 2 a wkly comp to win FA Cup final tkts", "ok see you later"]
    pyfunc = mlflow.pyfunc.load_model(f"models:/{services.settings.model_name}@champion")
    assert pyfunc.predict(pd.DataFrame({"text": texts})).tolist() == model.predict(texts).tolist()


def test_promote_and_rollback_move_aliases_and_the_champion_follows(services: Services) -> None:
    first = services.registry.require_champion()
    second = services.train(trigger="test").result.version
    assert services.registry.champion_version() == first  # a new version is not deployed
    move = services.promote(second)
    assert (move.champion, move.previous) == (second, first)
    assert services.registry.alias_version(PREVIOUS) == first
    assert services.champion.get()[0] == second
    assert services.predict(["hello"])[0].model_version == second
    back = services.rollback()
    assert (back.champion, back.previous) == (first, second)
    assert services.champion.get()[0] == first
    versions = {v.version: v.aliases for v in services.models()}
    assert versions[first] == (CHAMPION,)
    assert versions[second] == (PREVIOUS,)


def test_promoting_the_champion_or_a_missing_version_is_refused(services: Services) -> None:
    champion = services.registry.require_champion()
    with pytest.raises(SpamopsError, match="already the champion"):
        services.promote(champion)
    with pytest.raises(ModelNotFound):
        services.promote(999)


def test_rollback_without_previous_is_refused(services: Services) -> None:
    with pytest.raises(ModelNotFound, match="no previous version"):
        services.rollback()


def test_empty_home_has_no_champion(data_home: Path) -> None:
    services = Services(load_settings())
    assert services.models() == []
    with pytest.raises(NoChampionError, match="spamops train"):
        services.predict(["hello"])


def test_training_needs_both_classes() -> None:
    data = TrainingData(["a", "b"], ["ham", "ham"], ["c"], ["ham"], "x")
    with pytest.raises(TrainingError, match="both ham and spam"):
        fit(data)


def test_reference_texts_are_the_training_texts(services: Services) -> None:
    version = services.registry.require_champion()
    assert services.registry.reference_texts(version) == services.split().train_texts


def test_serving_follows_a_promotion_made_elsewhere_without_waiting(trained_home: Path) -> None:
    import time

    from engine.services import ChampionCache

    operator = Services(load_settings())
    serving = ChampionCache(operator.registry, refresh_seconds=0.05)
    first = serving.get()[0]
    second = operator.train(trigger="test").result.version
    # Promote through a second facade, as another process would: ``serving`` is not told.
    Services(load_settings()).promote(second, actor="test")
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not seen or seen[-1] != second):
        seen.append(serving.get()[0])  # answers from memory while a thread re-checks
        time.sleep(0.01)
    assert seen[0] == first and seen[-1] == second
    operator.rollback(actor="test")  # another facade again; ``refresh`` is what it calls
    serving.refresh()  # as if ``serving``'s own process had moved the alias
    assert serving.get()[0] == first


def test_versions_are_dated_by_the_engine_clock_not_mlflow(trained_home: Path) -> None:
    from datetime import datetime, timedelta

    from engine.clock import SimulatedClock

    start = datetime(2030, 1, 2, 3, 4, 5)
    clock = SimulatedClock(start)
    services = Services(load_settings(), clock=clock)
    trained = services.train(trigger="test").result.version
    clock.advance(timedelta(hours=6))
    retrained = services.retrain(trigger="schedule").deployment.challenger_version
    services.close()
    dates = {v.version: v.created_at for v in Services(load_settings()).models()}
    # A simulated week (the demo) shows its own times, not the wall clock's.
    assert dates[trained] == start
    assert dates[retrained] == start + timedelta(hours=6)
