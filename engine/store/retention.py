"""Retention of prediction texts in the history: replace old texts by a keyed hash.

Owns the one write that removes personal text from ``predictions``: rows older than a cutoff
get ``text = NULL``, ``text_hmac`` (HMAC-SHA256 of the UTF-8 text, hex) and ``text_length``
(characters), in one transaction; every other column (time, label, probability, version,
true label) stays, so the daily views, drift windows and decisions are unchanged. The key and
the policy (how old is too old) are ``engine.retention``'s business. Messages of the
evaluation set past the cutoff are deleted (they are kept to be scored, so a hash would not
do); this module must not
read the clock or the key file.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import pandas as pd

from engine.store.connection import StoreBase

PRUNE_BATCH = 20_000
"""Rows pruned per transaction: about a second of holding the file on 2 busy cores."""


class RetentionMixin(StoreBase):
    """Count and prune prediction texts older than a cutoff."""

    def texts_older_than(self, cutoff: datetime) -> int:
        """Predictions with ``ts < cutoff`` that still hold their text."""
        self._flush_if_pending()
        with self._connection(write=False) as con:
            row = con.execute("SELECT count(*) FROM predictions WHERE ts < ? AND text IS NOT "
                              "NULL", [cutoff]).fetchone()
        return int(row[0]) if row else 0

    def evaluation_texts_older_than(self, cutoff: datetime) -> int:
        """Evaluation-set messages (``engine.store.evaluation``) labelled before ``cutoff``."""
        with self._connection(write=False) as con:
            row = con.execute("SELECT count(*) FROM evaluation_messages WHERE labelled_at < ?",
                              [cutoff]).fetchone()
        return int(row[0]) if row else 0

    def drop_evaluation_texts(self, cutoff: datetime) -> int:
        """Delete evaluation-set messages labelled before ``cutoff``; returns how many.

        The evaluation set keeps raw texts to score later challengers on, so it cannot hold a
        hash instead: past the retention period its messages go, and later comparisons use
        the test split and the newer held-out labels.
        """
        with self._transaction() as con:
            row = con.execute("SELECT count(*) FROM evaluation_messages WHERE labelled_at < ?",
                              [cutoff]).fetchone()
            con.execute("DELETE FROM evaluation_messages WHERE labelled_at < ?", [cutoff])
        return int(row[0]) if row else 0

    def pruned_texts(self) -> int:
        """Predictions whose text was already replaced by its hash."""
        with self._connection(write=False) as con:
            row = con.execute("SELECT count(*) FROM predictions WHERE text IS NULL").fetchone()
        return int(row[0]) if row else 0

    def prune_texts(self, cutoff: datetime, key: bytes, *, batch: int = PRUNE_BATCH) -> int:
        """Replace the text of every prediction with ``ts < cutoff`` by HMAC-SHA256(key, text)
        and its length; returns the rows pruned.

        The hash lets an operator recognise a message they already hold (same text, same key)
        without the history keeping it; without the key it cannot be brute-forced from short,
        guessable texts as a plain sha256 could. Works in transactions of ``batch`` rows, so
        other writers wait about a second at most, not for the whole first prune of a large
        history; an interrupted prune leaves whole batches done and is resumed by the next.
        """
        self._flush_if_pending()
        total = 0
        while True:
            done = self._prune_batch(cutoff, key, batch)
            total += done
            if done < batch:
                return total

    def _prune_batch(self, cutoff: datetime, key: bytes, batch: int) -> int:
        with self._transaction() as con:
            frame = con.execute("SELECT id, text FROM predictions WHERE ts < ? AND text IS NOT "
                                f"NULL LIMIT {int(batch)}", [cutoff]).df()
            if frame.empty:
                return 0
            texts = frame["text"].tolist()
            hashed = pd.DataFrame({
                "id": frame["id"],
                "text_hmac": [hmac.new(key, t.encode("utf-8"), hashlib.sha256).hexdigest()
                              for t in texts],
                "text_length": [len(t) for t in texts],
            })
            con.register("pruned_texts", hashed)
            con.execute("UPDATE predictions AS p SET text = NULL, text_hmac = h.text_hmac, "
                        "text_length = h.text_length FROM pruned_texts AS h "
                        "WHERE p.id = h.id AND p.ts < ? AND p.text IS NOT NULL", [cutoff])
            con.unregister("pruned_texts")
        return len(frame)
