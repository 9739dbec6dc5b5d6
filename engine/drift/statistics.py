"""The raw statistics of a window: token usage, mean-embedding distance, predicted spam rate.

Owns how a window of texts becomes numbers, before any calibration (that is ``null.py``):

- ``tokenize``: lower-case word tokens, digits folded to ``0`` so phone numbers and prices of
  the same shape match;
- ``oov_rate``: the share of the window's token *usage* the baseline vocabulary does not
  account for;
- ``span_distance``: ``1 - |P s| / |s|`` for the window's summed TF-IDF vector ``s`` and the
  orthogonal projection ``P`` onto the span of the baseline means (the reference mean, plus
  one mean per accepted window, see ``reference.py``). With the reference alone this is the
  cosine distance of mean TF-IDF vectors, the linear-kernel maximum mean discrepancy of
  Gretton et al. 2012 (https://jmlr.org/papers/v13/gretton12a.html) on normalised means; with
  accepted windows, traffic that is any mix of the reference and already-accepted traffic is
  close, and a new kind of message (a direction outside the span) is still far.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import scipy.sparse as sp

_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_DIGIT = re.compile(r"\d")


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens with every digit folded to ``0``."""
    return _TOKEN.findall(_DIGIT.sub("0", text.lower().replace("’", "'")))


def word_subspace(feature_space: Any) -> Any:
    """The word TF-IDF part of a fitted ``Pipeline(..., FeatureUnion)``, else ``feature_space``.

    The champion's character n-grams quadruple the transform time (1.4 s for 10,000 messages on
    the reference machine) and add little a drift statistic needs that the vocabulary statistic
    does not already see, so drift uses the word sub-space of the champion's features.
    """
    from sklearn.pipeline import FeatureUnion, Pipeline

    if isinstance(feature_space, Pipeline) and isinstance(feature_space.steps[-1][1],
                                                          FeatureUnion):
        union = feature_space.steps[-1][1]
        for name, transformer in union.transformer_list:
            if name == "word":
                return Pipeline([*feature_space.steps[:-1], ("word", transformer)])
    return feature_space


def normalise_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Scale each row to unit L2 norm (empty rows stay empty)."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1), dtype=np.float64).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale) @ matrix)


def features(feature_space: Any, texts: list[str], support: np.ndarray) -> sp.csr_matrix:
    """Unit-norm rows of ``texts`` in ``feature_space``, restricted to the ``support`` columns."""
    return normalise_rows(
        sp.csr_matrix(feature_space.transform(texts), dtype=np.float64)[:, support])


def oov_counts(token_lists: Iterable[list[str]],
               vocabulary: frozenset[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per message: tokens outside ``vocabulary`` and all tokens (two float arrays)."""
    unseen, total = [], []
    for toks in token_lists:
        unseen.append(sum(tok not in vocabulary for tok in toks))
        total.append(len(toks))
    return np.asarray(unseen, dtype=float), np.asarray(total, dtype=float)


class Span:
    """The span of the baseline means, for projecting summed window vectors onto it.

    ``basis`` is a dense ``(k, d)`` array (row 0: the reference mean; then one row per accepted
    window). The projection norm uses the pseudo-inverse of the ``k x k`` Gram matrix, so two
    nearly parallel accepted means do not make it unstable.
    """

    def __init__(self, basis: np.ndarray) -> None:
        self.basis = np.atleast_2d(np.asarray(basis, dtype=np.float64))
        self.gram_inv = np.linalg.pinv(self.basis @ self.basis.T, hermitian=True)

    def distance(self, dots: np.ndarray, norm_sq: np.ndarray) -> np.ndarray:
        """``1 - |P s| / |s|`` from ``dots = basis @ s`` (``(..., k)``) and ``|s|^2``."""
        dots = np.atleast_2d(dots)
        projected = np.einsum("bi,ij,bj->b", dots, self.gram_inv, dots)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.sqrt(np.clip(projected, 0.0, None) / norm_sq)
        return np.where(norm_sq > 0, 1.0 - np.clip(ratio, 0.0, 1.0), 1.0)
