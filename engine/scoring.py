"""Scoring without scikit-learn's per-call overhead, and batches without its per-n-gram work.

``Pipeline.predict_proba`` on this project's model (``training.build_pipeline``) costs about
2 ms per call whatever the number of messages (input validation, a ``LabelEncoder`` fitted on
every call, sparse-matrix checks, the union's joblib dispatch) and then about 0.15 ms of CPU
per message, most of it cutting the text into character n-grams and looking each one up.

``compile_scorer`` reads the fitted pipeline's public attributes once (each vectorizer's
analyzer, vocabulary and idf, the SVM's weights, the sigmoid calibrator's ``a_``/``b_``) and
returns a function that computes the same probability directly:

    tf-idf block  x_v = l2-normalise((1 + log count) * idf)      (sublinear_tf, norm="l2")
    decision      f   = sum_v  w_v . x_v  +  intercept
    probability   p   = expit(-(a * f + b))                        (sigmoid calibration)

Two things make it fast:

- **Words are cut once.** A ``char_wb`` vectorizer cuts each whitespace-separated word of the
  preprocessed text on its own (padded with a space each side), so a text's n-grams are the
  concatenation of its words' n-grams. The scorer keeps, per word, the vocabulary indexes of
  its known n-grams (at most ``WORD_MEMO_SIZE`` words, then it starts afresh): a repeated word
  costs one dict lookup instead of ~20 slices and lookups.
- **Batches are vectorised.** From the index lists of many texts, a scipy CSR matrix's
  ``sum_duplicates`` counts each (text, n-gram) pair, and ``np.bincount`` sums every text's
  ``tf * idf`` dot product and squared norm; Python does only the per-text cutting. Up to
  ``SMALL_BATCH`` texts (a served request) are summed in plain Python instead.

The result equals ``predict_proba`` up to float rounding (summation order; tests check 1e-9
on the whole test split and that no label flips). Pipelines of any other shape get ``None``;
``training.spam_probability`` then uses scikit-learn as before, so the fast path is an
optimisation, never a second model. The word memo is checked against the vectorizer's own
analyzer on probe texts when compiling; if they ever disagree (another scikit-learn), the
analyzer is used per text.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Scorer = Callable[[Sequence[str]], np.ndarray]
"""Texts -> spam probabilities (float64 array, one per text)."""

Indexer = Callable[[str], list[int]]
"""One text -> the vocabulary indexes of its known n-grams, one entry per occurrence."""

SMALL_BATCH = 16
"""Up to this many texts are scored one by one in plain Python (a served request): below it,
numpy's per-call overhead costs more than the vectorised sums save."""

WORD_MEMO_SIZE = 20_000
"""Most words whose n-gram indexes a compiled scorer keeps. Measured: ~250 bytes a word
(12.2 MiB for 50,000 distinct words), so 200,000 let each loaded model's scorer grow by ~50
MiB under traffic full of one-off tokens (numbers, links), past the soak's 50 MiB RSS budget;
20,000 (~5 MiB) still holds the whole UCI corpus's vocabulary (13,627 distinct lower-cased
words)."""

_PROBES = ("", "FREE!!! £1000 cash prize ☎ call 09061701461 NOW 😀😀 ok ok",
           "\t\n  spaced   out\twords \n \u00a0nbsp\u2003em",
           "Ünïcödé tëxt wïth äccents and ß ΟΔΟΣ",
           "a b c I'm can't e-mail www.x.com/y?z=1 :-) xx")
"""Texts the word memo is checked on when compiling (whitespace, case, accents, symbols)."""


def as_text_list(X: Any) -> list[str]:
    """Turn the model input (list of str, Series, or DataFrame with ``text``) into a list.

    The pipeline's first step (``training.build_pipeline``); it lives here because the
    compiled scorer recognises the pipeline by it, and training imports this module.
    """
    if hasattr(X, "columns"):
        column = X["text"] if "text" in X.columns else X.iloc[:, 0]
        return [str(t) for t in column.tolist()]
    if isinstance(X, str):
        return [X]
    return [str(t) for t in X]


def compile_scorer(model: Any) -> Scorer | None:
    """A fast scorer equal to ``model``'s spam probability, or None for other shapes."""
    try:
        return _compile(model)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return None


class _Block:
    """One tf-idf vectorizer of the union: how to index a text, and its idf and weights."""

    def __init__(self, vectorizer: Any, weights: np.ndarray) -> None:
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.size = len(self.idf)
        self.idf_list: list[float] = self.idf.tolist()
        self.weight_list: list[float] = self.weights.tolist()
        self.index: Indexer = _word_memo_indexer(vectorizer) or self._analyzer_indexer(
            vectorizer.build_analyzer())

    def _analyzer_indexer(self, analyze: Callable[[str], list[str]]) -> Indexer:
        vocabulary = self.vocabulary

        def index(text: str) -> list[int]:
            return [i for gram in analyze(text) if (i := vocabulary.get(gram)) is not None]

        return index


def _word_memo_indexer(vectorizer: Any) -> Indexer | None:
    """A ``char_wb`` indexer that cuts each distinct word once, or None (not ``char_wb``, or
    it disagrees with the vectorizer's own analyzer on the probe texts)."""
    if vectorizer.analyzer != "char_wb" or vectorizer.input != "content":
        return None
    vocabulary: dict[str, int] = vectorizer.vocabulary_
    preprocess = vectorizer.build_preprocessor()
    decode = vectorizer.decode
    spaces = vectorizer._white_spaces
    cut = vectorizer._char_wb_ngrams  # one word in, that word's padded n-grams out
    memo: dict[str, list[int]] = {}

    def word(w: str) -> list[int]:
        found = memo.get(w)
        if found is None:
            if len(memo) >= WORD_MEMO_SIZE:
                memo.clear()
            found = memo[w] = [i for gram in cut(w)
                               if (i := vocabulary.get(gram)) is not None]
        return found

    def index(text: str) -> list[int]:
        out: list[int] = []
        for w in spaces.sub(" ", preprocess(decode(text))).split():
            out += word(w)
        return out

    analyze = vectorizer.build_analyzer()
    for probe in _PROBES:
        expected = sorted(i for g in analyze(probe) if (i := vocabulary.get(g)) is not None)
        if sorted(index(probe)) != expected:
            return None
    return index


def _compile(model: Any) -> Scorer | None:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.svm import LinearSVC

    steps = getattr(model, "steps", None)
    if steps is None or len(steps) != 3:
        return None
    (_, text), (_, union), (_, calibrated) = steps
    if not (isinstance(text, FunctionTransformer) and text.func is as_text_list
            and text.inverse_func is None and not text.kw_args):
        return None
    if not isinstance(union, FeatureUnion) or union.transformer_weights is not None:
        return None
    if not (isinstance(calibrated, CalibratedClassifierCV) and calibrated.method == "sigmoid"
            and len(calibrated.calibrated_classifiers_) == 1
            and list(calibrated.classes_) == [0, 1]):
        return None
    inner = calibrated.calibrated_classifiers_[0]
    svm = inner.estimator
    if not (isinstance(svm, LinearSVC) and list(svm.classes_) == [0, 1]
            and len(inner.calibrators) == 1 and svm.coef_.shape[0] == 1):
        return None
    calibrator = inner.calibrators[0]
    a, b = float(calibrator.a_), float(calibrator.b_)
    weights = np.asarray(svm.coef_[0], dtype=float)
    intercept = float(np.ravel(svm.intercept_)[0])

    blocks: list[_Block] = []
    offset = 0
    for _, vectorizer in union.transformer_list:
        if not (isinstance(vectorizer, TfidfVectorizer) and vectorizer.sublinear_tf
                and vectorizer.use_idf and vectorizer.norm == "l2"
                and not vectorizer.binary):
            return None
        size = len(vectorizer.idf_)
        blocks.append(_Block(vectorizer, weights[offset:offset + size]))
        offset += size
    if offset != len(weights):
        return None

    def score(texts: Sequence[str]) -> np.ndarray:
        strings = [str(t) for t in texts]
        if len(strings) <= SMALL_BATCH:
            decisions = np.fromiter((_decision(t, blocks, intercept) for t in strings),
                                    dtype=float, count=len(strings))
        else:
            decisions = _decisions(strings, blocks, intercept)
        with np.errstate(over="ignore"):  # exp overflow -> inf -> probability 0.0
            return np.asarray(1.0 / (1.0 + np.exp(a * decisions + b)), dtype=float)

    return score


def _decision(text: str, blocks: list[_Block], intercept: float) -> float:
    """One text's decision value, in plain Python (no numpy call overhead)."""
    decision = intercept
    for block in blocks:
        idf, weights = block.idf_list, block.weight_list
        dot = squares = 0.0
        for column, count in Counter(block.index(text)).items():
            tfidf = idf[column] if count == 1 else (1.0 + math.log(count)) * idf[column]
            dot += tfidf * weights[column]
            squares += tfidf * tfidf
        if squares:
            decision += dot / math.sqrt(squares)
    return decision


def _decisions(texts: list[str], blocks: list[_Block], intercept: float) -> np.ndarray:
    """The SVM's decision value for each text (see the module docstring), vectorised."""
    from scipy.sparse import csr_matrix  # imported with scikit-learn anyway; not at start-up

    n = len(texts)
    decisions = np.full(n, intercept, dtype=np.float64)
    if n == 0:
        return decisions
    for block in blocks:
        flat: list[int] = []
        lengths = np.empty(n, dtype=np.int64)
        index = block.index
        for row, text in enumerate(texts):
            found = index(text)
            lengths[row] = len(found)
            flat += found
        if not flat:
            continue
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        # A CSR matrix of ones summed per (text, n-gram): scipy sorts each row's indexes in
        # C++ and adds duplicates up, which leaves the counts (~4x faster than np.unique).
        counts = csr_matrix((np.ones(len(flat)), np.asarray(flat, dtype=np.int64), indptr),
                            shape=(n, block.size))
        counts.sum_duplicates()
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(counts.indptr))
        tfidf = (1.0 + np.log(counts.data)) * block.idf[counts.indices]
        squares = np.bincount(rows, weights=tfidf * tfidf, minlength=n)
        dots = np.bincount(rows, weights=tfidf * block.weights[counts.indices], minlength=n)
        known = squares > 0
        decisions[known] += dots[known] / np.sqrt(squares[known])
    return decisions
