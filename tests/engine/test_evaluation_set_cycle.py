"""Issue 13, item 2: recent labels held out by a retrain become an evaluation set that every
later comparison uses as a guard, and that no later challenger is trained on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config import load_settings
from engine.services import Services
from tests.cli_helpers import run_cli


@pytest.fixture
def services(trained_home: Path) -> Iterator[Services]:
    sut = Services(load_settings())
    yield sut
    sut.close()


def test_held_out_labels_guard_later_comparisons_and_are_never_trained_on(
        services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    services.simulate(messages=600, drift=0.4, label_rate=0.6, seed=3)
    first = services.retrain(trigger="operator")
    held = services.store.evaluation_messages()
    assert len(held) == int(first.event.lineage["feedback_holdout"]) > 0
    assert set(held["retraining_id"]) == {first.event.id}
    assert first.deployment.comparison is not None
    assert [s.name for s in first.deployment.comparison.sets] == ["test_split",
                                                                  "recent_feedback"]

    services.simulate(messages=600, drift=0.4, label_rate=0.6, seed=4)
    second = services.retrain(trigger="operator")
    comparison = second.deployment.comparison
    assert comparison is not None
    assert [s.name for s in comparison.sets] == ["test_split", "recent_feedback",
                                                 "evaluation_set"]
    guard = comparison.get("evaluation_set")
    assert guard is not None and guard.n == len(held)
    assert guard.first_at == str(held["labelled_at"].min())[:19].replace(" ", "T")
    assert comparison.decided_on in ("recent_feedback", "test_split")
    assert second.event.lineage["evaluation_set"] == str(len(held))
    assert any("evaluation set of earlier episodes" in r for r in second.deployment.reasons) \
        or second.deployment.decision == "KEEP"
    trained_on = set(services.registry.reference_texts(second.event.challenger_version))
    assert not set(held["text"]) & trained_on
    grown = services.store.evaluation_messages()
    assert len(grown) > len(held) and set(held["text"]) <= set(grown["text"])

    # `spamops compare` shows each set with its size, dates and role.
    run = run_cli(capsys, "compare")
    assert run.code == 0, run.err
    assert f"evaluation_set (evaluation set of earlier episodes): n={len(held):,}, labelled " \
        in run.out
    assert "test_split (persisted test split): n=" in run.out
    recent = comparison.get("recent_feedback")
    assert recent is not None and recent.crossfit_n > 0
    assert (f"recent_feedback (recent feedback, {recent.crossfit_n:,} of them scored by 5-fold "
            f"cross-fitted challengers): n={recent.n:,}, labelled ") in run.out
    assert "frozen at the first training" in run.out and "; decides" in run.out
    assert "ham false-positive rate" in run.out and "Bonett-Price interval" in run.out
    data = run_cli(capsys, "compare", "--json").json()
    assert data["decided_on"] == comparison.decided_on
    named = {s["name"]: s for s in data["sets"]}
    assert named["evaluation_set"]["n"] == len(held)
    assert named["evaluation_set"]["first_at"] <= named["evaluation_set"]["last_at"]


def test_a_hold_out_too_small_to_decide_goes_back_to_the_pool(services: Services) -> None:
    """Cross-fitting makes the recent labels the challenger trained on count in the decision
    too; the small hold-out still does not join the evaluation set."""
    services.simulate(messages=200, drift=0.3, label_rate=0.5, seed=5)
    result = services.retrain(trigger="operator")
    held_out = int(result.event.lineage["feedback_holdout"])
    assert 0 < held_out < 30
    comparison = result.deployment.comparison
    assert comparison is not None
    recent = comparison.get("recent_feedback")
    assert recent is not None and recent.crossfit_folds == 5
    assert recent.n == held_out + recent.crossfit_n >= 30
    assert recent.crossfit_n == int(result.event.lineage["feedback_train"])
    assert comparison.decided_on == "recent_feedback"
    assert "scored out of fold by 5-fold cross-fitted challengers" in " ".join(
        result.deployment.reasons)
    assert services.store.evaluation_messages().empty
    log = services.monitor_log.tail()
    assert any("too few to decide on their own" in line for line in log)
    assert any(f"Cross-fitted {recent.crossfit_n} recent labels" in line for line in log)


def test_without_cross_fitting_a_small_hold_out_leaves_the_test_split_to_decide(
        trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPAMOPS_MONITORING__CROSSFIT_FOLDS", "0")
    services = Services(load_settings())
    try:
        services.simulate(messages=200, drift=0.3, label_rate=0.5, seed=5)
        result = services.retrain(trigger="operator")
        assert 0 < int(result.event.lineage["feedback_holdout"]) < 30
        assert result.deployment.comparison is not None
        assert result.deployment.comparison.decided_on == "test_split"
        recent = result.deployment.comparison.get("recent_feedback")
        assert recent is not None and recent.crossfit_n == 0
        assert services.store.evaluation_messages().empty
    finally:
        services.close()


def test_a_keep_s_hold_out_counts_again_when_the_same_champion_is_judged(
        trained_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13: a KEEP for want of evidence is decided again with more of it. The hold-out
    of a KEEP joins the evaluation set (never trained on), and the next retrain against the
    same champion counts it in the deciding set too, scored by the challenger itself."""
    monkeypatch.setenv("SPAMOPS_THRESHOLDS__MIN_IMPROVEMENT", "0.9")  # every retrain KEEPs
    services = Services(load_settings())
    try:
        services.simulate(messages=600, drift=0.4, label_rate=0.6, seed=3)
        first = services.retrain(trigger="operator")
        assert first.deployment.decision == "KEEP"
        held = services.store.evaluation_messages()
        assert len(held) >= 30
        services.simulate(messages=600, drift=0.4, label_rate=0.6, seed=4)
        second = services.retrain(trigger="operator")
        assert second.event.champion_version == first.event.champion_version
        comparison = second.deployment.comparison
        assert comparison is not None and comparison.decided_on == "recent_feedback"
        recent = comparison.get("recent_feedback")
        assert recent is not None and recent.earlier_n == len(held)
        assert recent.n == (int(second.event.lineage["feedback_holdout"]) + len(held)
                            + recent.crossfit_n)
        assert recent.first_at == str(held["labelled_at"].min())[:19].replace(" ", "T")
        guard = comparison.get("evaluation_set")
        assert guard is not None and guard.n == len(held)  # still a guard as well
        assert (f"{len(held):,} held out by earlier retrains against this champion"
                in second.deployment.reasons[0])
        trained_on = set(services.registry.reference_texts(second.event.challenger_version))
        assert not set(held["text"]) & trained_on
    finally:
        services.close()
