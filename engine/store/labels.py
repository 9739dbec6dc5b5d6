"""Labels in bulk: many true labels in one all-or-nothing, idempotent transaction.

Owns ``import_labels`` (``spamops feedback import`` and ``POST /feedback/batch``). Each label
names a prediction id, or a text matched exactly to every logged prediction of that text.
Nothing is written unless every label resolves; the error lists the lines that did not. A
label equal to the prediction's current label is not stored again (importing a file twice
adds nothing); a different one is stored with ``conflict`` set and the label it replaced,
and, being the newest, counts. Single labels keep going through ``add_feedback``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from engine.errors import InvalidInput
from engine.records import LabelImport, LabelItem
from engine.store.codec import check_label
from engine.store.connection import StoreBase

MAX_LISTED_ERRORS = 10
"""Lines named in one error message; the rest are counted."""


def _problems(kind: str, lines: list[str]) -> str:
    shown = ", ".join(lines[:MAX_LISTED_ERRORS])
    more = f" and {len(lines) - MAX_LISTED_ERRORS} more" if len(lines) > MAX_LISTED_ERRORS else ""
    return f"{kind} at {shown}{more}"


class LabelsMixin(StoreBase):
    """Bulk label imports."""

    def import_labels(self, items: Sequence[LabelItem], source: str,
                      ts: datetime | None = None, *, origin: str = "labels") -> LabelImport:
        """Record ``items`` in one transaction, or nothing (see the module docstring).

        Raises:
            InvalidInput: a label is not ham/spam, or ids/texts that match no logged
                prediction; one line naming ``origin`` and every bad line (up to ten).
        """
        if not items:
            raise InvalidInput(f"{origin} has no labels")
        when = ts or self.clock.now()
        for item in items:
            try:
                check_label(item.label)
            except InvalidInput:
                raise InvalidInput(f"{origin} {item.line}: label {item.label!r} is neither ham "
                                   "nor spam") from None
        self._flush_if_pending()
        frame = pd.DataFrame({
            "n": range(len(items)), "line": [i.line for i in items],
            "prediction_id": [i.prediction_id for i in items],
            "text": [i.text for i in items], "label": [i.label for i in items]})
        with self._transaction() as con:
            con.register("incoming_labels", frame)
            try:
                # Two equi-joins (hash joins), not one join on an OR (a nested loop).
                resolved = con.execute(
                    "SELECT i.n, i.label, p.id AS prediction_id, p.true_label, p.ts "
                    "FROM incoming_labels AS i JOIN predictions AS p ON p.id = i.prediction_id "
                    "UNION ALL "
                    "SELECT i.n, i.label, p.id, p.true_label, p.ts "
                    "FROM incoming_labels AS i JOIN predictions AS p ON p.text = i.text "
                    "WHERE i.prediction_id IS NULL ORDER BY n, ts").df()
            finally:
                con.unregister("incoming_labels")
            found = set(resolved["n"].tolist())
            missing = [i for n, i in enumerate(items) if n not in found]
            if missing:
                by_id = [i.line for i in missing if i.prediction_id is not None]
                by_text = [i.line for i in missing if i.prediction_id is None]
                parts = ([_problems("unknown prediction ids", by_id)] if by_id else []) + (
                    [_problems("texts matching no logged prediction", by_text)]
                    if by_text else [])
                raise InvalidInput(f"{origin}: nothing recorded: {'; '.join(parts)}")
            rows: list[tuple[str, datetime, str, str, bool, str | None]] = []
            current: dict[str, str | None] = {}
            unchanged = conflicts = 0
            for prediction_id, label, true_label in zip(
                    resolved["prediction_id"], resolved["label"], resolved["true_label"],
                    strict=True):
                before = current.get(prediction_id, None if pd.isna(true_label)
                                     else str(true_label))
                if before == label:
                    unchanged += 1
                    continue
                conflict = before is not None
                conflicts += conflict
                rows.append((prediction_id, when, label, source, conflict, before))
                current[prediction_id] = label
            if rows:
                con.executemany(
                    "INSERT INTO feedback (prediction_id, ts, label, source, conflict, "
                    "previous_label) VALUES (?, ?, ?, ?, ?, ?)", rows)
                latest = pd.DataFrame({"prediction_id": list(current),
                                       "label": list(current.values())})
                con.register("latest_labels", latest)
                try:
                    con.execute(
                        "UPDATE predictions AS p SET true_label = l.label, labelled_at = ? "
                        "FROM latest_labels AS l WHERE p.id = l.prediction_id", [when])
                finally:
                    con.unregister("latest_labels")
        return LabelImport(received=len(items),
                           matched_predictions=int(resolved["prediction_id"].nunique()),
                           added=len(rows), unchanged=unchanged, conflicts=conflicts)
