"""Cross-fitted challenger scores (engine.crossfit) on tiny real fits of the real pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.comparison import compare_on_set
from engine.crossfit import compare_recent, crossfit_probabilities, fold_assignment
from engine.dataset import fetch, parse
from engine.traffic import SCAM_FAMILIES, generate
from engine.training import TrainingData, fit, labels_to_int, spam_probability
from tests.conftest import dataset_source


def test_folds_cover_every_item_once_in_near_equal_parts() -> None:
    folds = fold_assignment(23, 5, seed=1)
    assert sorted(np.bincount(folds).tolist()) == [4, 4, 5, 5, 5]
    assert folds.tolist() == fold_assignment(23, 5, seed=1).tolist()
    assert folds.tolist() != fold_assignment(23, 5, seed=2).tolist()
    assert fold_assignment(3, 5, seed=1).tolist().count(0) == 1  # capped at n folds


@pytest.fixture(scope="module")
def episode(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """400 real UCI messages as the base; as recent labels, 40 generated modern scams (which
    a UCI-trained model partly misses) and 20 more real UCI ham, all distinct."""
    path = fetch(dataset_source(), tmp_path_factory.mktemp("uci"))
    corpus = parse(path.read_bytes()).frame
    sample = corpus.sample(420, random_state=5)
    base, ham = sample.iloc[:400], sample.iloc[400:]
    ham = ham[ham["label"] == "ham"]
    scams = list(dict.fromkeys(m.text for m in generate(80, seed=4, families=SCAM_FAMILIES)))
    recent_texts = scams[:40] + ham["text"].tolist()
    recent_labels = ["spam"] * 40 + ham["label"].tolist()
    return {"base_texts": base["text"].tolist(), "base_labels": base["label"].tolist(),
            "recent_texts": recent_texts, "recent_labels": recent_labels}


def test_each_fold_is_scored_by_a_model_fitted_without_it(episode: dict[str, list[str]]
                                                          ) -> None:
    recent_texts, recent_labels = episode["recent_texts"], episode["recent_labels"]
    proba = crossfit_probabilities(episode["base_texts"], episode["base_labels"],
                                   recent_texts, recent_labels, folds=3, seed=42)
    folds = fold_assignment(len(recent_texts), 3, seed=42)
    # Fold 0 by hand: the same recipe, fitted on the base and folds 1 and 2 only.
    kept = [i for i in range(len(recent_texts)) if folds[i] != 0]
    texts = episode["base_texts"] + [recent_texts[i] for i in kept]
    labels = episode["base_labels"] + [recent_labels[i] for i in kept]
    model, _ = fit(TrainingData(texts, labels, [], [], ""), 42)
    fold0 = [recent_texts[i] for i in range(len(recent_texts)) if folds[i] == 0]
    assert np.allclose(proba[folds == 0], spam_probability(model, fold0))
    # ...and not the model that saw everything, whose scores on its own texts differ.
    everything, _ = fit(TrainingData(episode["base_texts"] + recent_texts,
                                     episode["base_labels"] + recent_labels, [], [], ""), 42)
    assert not np.allclose(proba, spam_probability(everything, recent_texts))


def test_a_cross_fitted_comparison_shows_the_challenger_learnt_the_new_scams(
        episode: dict[str, list[str]]) -> None:
    champion, _ = fit(TrainingData(episode["base_texts"], episode["base_labels"], [], [], ""),
                      42)
    recent_texts, recent_labels = episode["recent_texts"], episode["recent_labels"]
    proba = crossfit_probabilities(episode["base_texts"], episode["base_labels"],
                                   recent_texts, recent_labels, folds=5, seed=42)
    result = compare_on_set("recent_feedback", labels_to_int(recent_labels),
                            spam_probability(champion, recent_texts), proba,
                            champion_version=1, challenger_version=2,
                            crossfit_n=len(recent_texts), crossfit_folds=5)
    assert result.mcnemar_c > result.mcnemar_b
    assert result.accuracy_difference > 0.1
    summary = result.summary()
    assert (summary.crossfit_n, summary.crossfit_folds) == (len(recent_texts), 5)


def test_cross_fitting_refuses_what_it_cannot_do(episode: dict[str, list[str]]) -> None:
    with pytest.raises(ValueError, match="2 folds"):
        crossfit_probabilities(episode["base_texts"], episode["base_labels"],
                               episode["recent_texts"], episode["recent_labels"], folds=1)
    with pytest.raises(ValueError, match="at least 2 recent labels"):
        crossfit_probabilities(episode["base_texts"], episode["base_labels"],
                               episode["recent_texts"][:1], episode["recent_labels"][:1])


def test_the_recent_set_is_the_hold_out_plus_the_cross_fitted_labels(
        episode: dict[str, list[str]]) -> None:
    texts, labels = episode["recent_texts"], episode["recent_labels"]
    frame = pd.DataFrame({"text": texts, "true_label": labels,
                          "labelled_at": pd.date_range("2026-11-01", periods=len(texts),
                                                       freq="h")})
    holdout, recent_train = frame.iloc[-12:], frame.iloc[:-12]
    base = (episode["base_texts"], episode["base_labels"])
    champion, _ = fit(TrainingData(*base, [], [], ""), 42)
    train = (base[0] + recent_train["text"].tolist(),
             base[1] + recent_train["true_label"].tolist())
    challenger, _ = fit(TrainingData(*train, [], [], ""), 42)
    both = compare_recent(champion, challenger, holdout=holdout, recent_train=recent_train,
                          train_texts=train[0], train_labels=train[1], folds=5, seed=42,
                          champion_version=1, challenger_version=2)
    assert both.comparison is not None and both.seconds > 0
    assert (both.comparison.n, both.comparison.crossfit_n) == (len(frame), len(recent_train))
    assert both.comparison.first_at == "2026-11-01T00:00:00"
    alone = compare_recent(champion, challenger, holdout=holdout, recent_train=recent_train,
                           train_texts=train[0], train_labels=train[1], folds=0, seed=42,
                           champion_version=1, challenger_version=2)
    assert alone.comparison is not None and alone.seconds == 0.0
    assert (alone.comparison.n, alone.comparison.crossfit_n) == (12, 0)


def test_earlier_hold_outs_against_the_same_champion_count_in_the_recent_set(
        episode: dict[str, list[str]]) -> None:
    """Labels an earlier retrain held out (now in the evaluation set) are scored by the
    challenger itself, which never trained on them, and join the paired set."""
    texts, labels = episode["recent_texts"], episode["recent_labels"]
    frame = pd.DataFrame({"text": texts, "true_label": labels,
                          "labelled_at": pd.date_range("2026-11-01", periods=len(texts),
                                                       freq="h")})
    earlier, holdout, recent_train = frame.iloc[:8], frame.iloc[-12:], frame.iloc[8:-12]
    base = (episode["base_texts"], episode["base_labels"])
    champion, _ = fit(TrainingData(*base, [], [], ""), 42)
    train = (base[0] + recent_train["text"].tolist(),
             base[1] + recent_train["true_label"].tolist())
    challenger, _ = fit(TrainingData(*train, [], [], ""), 42)
    sut = compare_recent(champion, challenger, holdout=holdout, recent_train=recent_train,
                         train_texts=train[0], train_labels=train[1], folds=5, seed=42,
                         champion_version=1, challenger_version=2, earlier=earlier)
    assert sut.comparison is not None
    assert (sut.comparison.n, sut.comparison.earlier_n, sut.comparison.crossfit_n) == (
        len(frame), 8, len(recent_train))
    assert sut.comparison.first_at == "2026-11-01T00:00:00"
    assert sut.comparison.summary().earlier_n == 8
    # Scored like the hold-out: by the challenger itself, not by fold models.
    as_holdout = compare_recent(champion, challenger,
                                holdout=pd.concat([holdout, earlier]),
                                recent_train=recent_train, train_texts=train[0],
                                train_labels=train[1], folds=5, seed=42,
                                champion_version=1, challenger_version=2)
    assert as_holdout.comparison is not None
    assert as_holdout.comparison.challenger.confusion == sut.comparison.challenger.confusion
    assert (as_holdout.comparison.mcnemar_b, as_holdout.comparison.mcnemar_c) == (
        sut.comparison.mcnemar_b, sut.comparison.mcnemar_c)
    none = compare_recent(champion, challenger, holdout=holdout, recent_train=recent_train,
                          train_texts=train[0], train_labels=train[1], folds=5, seed=42,
                          champion_version=1, challenger_version=2, earlier=earlier.iloc[:0])
    assert none.comparison is not None and none.comparison.earlier_n == 0
    assert none.comparison.n == len(frame) - 8
