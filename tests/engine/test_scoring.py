"""The compiled scorer gives the fitted pipeline's own probabilities, one by one and in
vectorised batches, or declines to compile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.config import load_settings
from engine.scoring import SMALL_BATCH, compile_scorer
from engine.services import Services
from engine.training import build_pipeline, spam_probability

ODD_TEXTS = [
    "",  # nothing the vocabularies know: the decision is the intercept alone
    "zzzzqqqq xxxjjj",
    "FREE!!! £1000 cash prize ☎ call 09061701461 NOW 😀😀",
    "ok ok ok ok ok ok ok ok ok ok",  # repeated terms: sublinear tf
    "Dinner at 8? " * 400,  # close to the 5,000-character limit
    "\t\n  spaced   out\twords \n",
    "Ünïcödé tëxt wïth äccents and ß",
]


@pytest.fixture
def champion(trained_home: Path) -> tuple[Any, list[str]]:
    services = Services(load_settings())
    model = services.champion.get()[1]
    return model, services.split().test_texts


def test_scorer_equals_predict_proba_on_the_whole_test_split(
        champion: tuple[Any, list[str]]) -> None:
    model, texts = champion
    scorer = compile_scorer(model)
    assert scorer is not None
    texts = texts + ODD_TEXTS
    expected = model.predict_proba(texts)[:, list(model.classes_).index(1)]
    got = scorer(texts)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    assert ((got >= 0.5) == (expected >= 0.5)).all()


def test_one_by_one_and_vectorised_batches_agree(champion: tuple[Any, list[str]]) -> None:
    model, texts = champion
    texts = ODD_TEXTS + texts[:300] + texts[:50]  # repeated texts and words: the word memo
    batch = spam_probability(model, texts)  # vectorised
    singles = np.array([spam_probability(model, [t])[0] for t in texts])  # plain Python
    assert len(texts) > SMALL_BATCH
    np.testing.assert_allclose(batch, singles, rtol=0, atol=1e-12)
    expected = model.predict_proba(texts)[:, list(model.classes_).index(1)]
    np.testing.assert_allclose(batch, expected, rtol=0, atol=1e-9)
    assert spam_probability(model, []).shape == (0,)


def test_word_memo_starts_afresh_when_full(champion: tuple[Any, list[str]],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.scoring

    model, texts = champion
    monkeypatch.setattr(engine.scoring, "WORD_MEMO_SIZE", 5)
    scorer = compile_scorer(model)
    assert scorer is not None
    expected = model.predict_proba(texts[:200])[:, list(model.classes_).index(1)]
    np.testing.assert_allclose(scorer(texts[:200]), expected, rtol=0, atol=1e-9)


def test_other_pipelines_are_not_compiled(champion: tuple[Any, list[str]]) -> None:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.svm import LinearSVC

    _model, texts = champion
    labels = [i % 2 for i in range(200)]
    sample = texts[:200]
    logistic = Pipeline([("features", TfidfVectorizer()),
                         ("classifier", LogisticRegression())]).fit(sample, labels)
    ensemble = build_pipeline()
    ensemble.set_params(classifier=CalibratedClassifierCV(LinearSVC(), cv=3, ensemble=True))
    ensemble.fit(sample, labels)
    plain_tf = build_pipeline()
    plain_tf.set_params(features__word__sublinear_tf=False)
    plain_tf.fit(sample, labels)
    for other in (logistic, ensemble, plain_tf, object()):
        assert compile_scorer(other) is None
    # ... and spam_probability still scores them, through scikit-learn.
    np.testing.assert_allclose(spam_probability(ensemble, sample[:3]),
                               ensemble.predict_proba(sample[:3])[:, 1])
