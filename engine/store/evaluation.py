"""The evaluation set: labelled messages held out from retrains, kept for later comparisons.

Owns the ``evaluation_messages`` table (migration 004). Each retrain adds the recent labels it
held out, when they were enough to decide (monitoring's call); every later comparison scores
champion and challenger on all of them, beside the frozen test split, so a challenger is
judged on earlier drift episodes' traffic too. The set only grows, until retention deletes
messages labelled before its cutoff (``engine.retention``): one row per distinct text (the
first held-out label of a text is kept). It must not decide which messages are held out:
monitoring hands them in.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from engine.store.codec import LABELS
from engine.store.connection import StoreBase

if TYPE_CHECKING:
    import pandas as pd

EVALUATION_COLUMNS = ("text", "true_label", "labelled_at", "prediction_id", "retraining_id",
                      "added_at")


class EvaluationMixin(StoreBase):
    """Add to and read the growing, time-stamped evaluation set."""

    def add_evaluation_messages(self, held_out: pd.DataFrame, retraining_id: str,
                                added_at: datetime | None = None) -> int:
        """Keep ``held_out`` (columns text, true_label, labelled_at, optional id) for good.

        Texts already in the set are skipped. Returns how many rows were added.
        """
        import pandas as pd

        if held_out.empty:
            return 0
        ids = held_out["id"] if "id" in held_out.columns else None
        frame = pd.DataFrame({
            "text": held_out["text"].astype(str).to_numpy(),
            "true_label": held_out["true_label"].astype(str).to_numpy(),
            "labelled_at": pd.to_datetime(held_out["labelled_at"]).to_numpy(),
            "prediction_id": (ids.astype(str).to_numpy() if ids is not None
                              else [None] * len(held_out)),
            "retraining_id": retraining_id,
            "added_at": added_at or self.clock.now(),
        }).drop_duplicates("text", keep="first")
        frame = frame[frame["true_label"].isin(LABELS)]
        with self._transaction() as con:
            before = con.execute("SELECT count(*) FROM evaluation_messages").fetchall()[0]
            con.register("held_out_frame", frame)
            try:
                con.execute(f"INSERT INTO evaluation_messages "
                            f"({', '.join(EVALUATION_COLUMNS)}) SELECT "
                            f"{', '.join(EVALUATION_COLUMNS)} FROM held_out_frame "
                            "ON CONFLICT DO NOTHING")
            finally:
                con.unregister("held_out_frame")
            after = con.execute("SELECT count(*) FROM evaluation_messages").fetchall()[0]
        return int(after[0]) - int(before[0])

    def evaluation_messages(self) -> pd.DataFrame:
        """The whole evaluation set, oldest label first.

        Columns: text, true_label, labelled_at, prediction_id, retraining_id, added_at.
        """
        return self.query_frame(f"SELECT {', '.join(EVALUATION_COLUMNS)} FROM "
                                "evaluation_messages ORDER BY labelled_at, text")
