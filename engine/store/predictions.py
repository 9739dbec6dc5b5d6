"""Predictions and their labels: counts, windows, feedback, and the daily aggregates.

Owns every read of the ``predictions`` table (windows for monitoring, labelled traffic for
accuracy) and every write of feedback (one label, or many in one transaction, each also copied
onto the prediction's row as its latest true label). Logging new predictions goes through the
spool (``engine.store.spool``), never through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from engine.errors import NotFound
from engine.records import DailyAccuracy, DailyTraffic, FeedbackRecord
from engine.store.codec import as_date, check_label, float_or_none
from engine.store.connection import StoreBase


class PredictionsMixin(StoreBase):
    """Reads of logged predictions, feedback writes, daily aggregates."""

    # Predictions and feedback --------------------------------------------------------------
    def count_predictions(self) -> int:
        """Rows in ``predictions`` (after ingesting this process's spool)."""
        self._flush_if_pending()
        with self._connection(write=False) as con:
            row = con.execute("SELECT count(*) FROM predictions").fetchone()
        return int(row[0]) if row else 0

    def predictions_between(self, since: datetime | None, until: datetime | None,
                            limit: int | None = None) -> pd.DataFrame:
        """Predictions with ``since <= ts < until``, ordered by ts; the newest ``limit`` only.
        Rows whose text was pruned (``engine.store.retention``) are left out: nothing can
        score them.

        Columns: id, ts, text, model_version, label, spam_probability, source.
        """
        self._flush_if_pending()
        where, params = self.window_clause("ts", since, until)
        where = (where + " AND" if where else " WHERE") + " text IS NOT NULL"  # not pruned
        sql = (f"SELECT id, ts, text, model_version, label, spam_probability, source "
               f"FROM predictions{where}")
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY ts DESC LIMIT {int(limit)}) AS newest"
        return self.query_frame(sql + " ORDER BY ts", params)

    def window_after(self, after_seq: int, limit: int | None = None
                     ) -> tuple[pd.DataFrame, int]:
        """The monitoring window: predictions ingested after ``after_seq``, up to the newest
        ingested now; only the newest ``limit`` of them, ordered by ts.

        Returns:
            The frame (columns: id, ts, text, model_version, label, spam_probability, source,
            ingest_seq) and the window's last ingestion number (``after_seq`` when empty).
            Predictions ingested later have higher numbers: they fall in the next window.
        """
        self._flush_if_pending()
        with self._connection(write=False) as con:
            row = con.execute("SELECT coalesce(max(ingest_seq), 0) FROM predictions"
                              ).fetchone()
            head = max(int(row[0]) if row else 0, after_seq)
            # Pruned texts (engine.store.retention) cannot be scored: left out, still covered.
            sql = ("SELECT id, ts, text, model_version, label, spam_probability, source, "
                   "ingest_seq FROM predictions WHERE ingest_seq > ? AND ingest_seq <= ? "
                   "AND text IS NOT NULL")
            if limit is not None:
                sql = (f"SELECT * FROM ({sql} ORDER BY ingest_seq DESC LIMIT {int(limit)}) "
                       "AS newest")
            frame = con.execute(sql + " ORDER BY ts, ingest_seq", [after_seq, head]).df()
        return frame, head

    def last_window_seq(self) -> int:
        """The last ingestion number covered by a drift snapshot (0 before the first)."""
        with self._connection(write=False) as con:
            row = con.execute("SELECT coalesce(max(ingest_seq_to), 0) FROM drift_snapshots"
                              ).fetchone()
        return int(row[0]) if row else 0

    def labelled_between(self, since: datetime | None,
                         until: datetime | None) -> pd.DataFrame:
        """Predictions in the window that have feedback, with the latest true label (rows
        whose text was pruned are left out).

        Columns: id, ts, text, label (predicted), spam_probability, model_version, true_label.
        """
        self._flush_if_pending()
        where, params = self.window_clause("ts", since, until)
        where = (where + " AND" if where else " WHERE") + (
            " true_label IS NOT NULL AND text IS NOT NULL")
        return self.query_frame(
            "SELECT id, ts, text, label, spam_probability, model_version, true_label "
            f"FROM predictions{where} ORDER BY ts", params)

    def labels_received_between(self, since: datetime | None,
                                until: datetime | None) -> pd.DataFrame:
        """Labelled predictions whose latest label arrived with ``since <= labelled_at < until``
        (rows whose text was pruned are left out: retraining cannot use them).

        Columns: id, ts, text, label (predicted), spam_probability, model_version, true_label,
        labelled_at; ordered by labelled_at.
        """
        self._flush_if_pending()
        where, params = self.window_clause("labelled_at", since, until)
        where = (where + " AND" if where else " WHERE") + (
            " true_label IS NOT NULL AND text IS NOT NULL")
        return self.query_frame(
            "SELECT id, ts, text, label, spam_probability, model_version, true_label, "
            f"labelled_at FROM predictions{where} ORDER BY labelled_at, ts", params)

    def add_feedback(self, prediction_id: str, label: str, source: str,
                     ts: datetime | None = None) -> FeedbackRecord:
        """Record the true label of a logged prediction (the latest one counts).

        Idempotent: a label equal to the prediction's current one is not stored again (as in
        ``import_labels``), so a retried request adds nothing.

        Raises:
            InvalidInput: the label is not ham or spam.
            NotFound: no such prediction has reached the store.
        """
        label = check_label(label)
        record = FeedbackRecord(prediction_id, ts or self.clock.now(), label, source)
        self._flush_if_pending()
        with self._transaction() as con:
            found = con.execute("SELECT true_label FROM predictions WHERE id = ?",
                                [prediction_id]).fetchall()
            if not found:
                raise NotFound(f"unknown prediction id {prediction_id!r} (a prediction "
                               "reaches the store within a second of being answered)")
            if any(row[0] == label for row in found):
                return record  # the same label again: nothing new to record
            con.execute("INSERT INTO feedback (prediction_id, ts, label, source) "
                        "VALUES (?, ?, ?, ?)", [record.prediction_id, record.ts,
                                                record.label, record.source])
            # Feedback is written in id order, so on equal times the newer one wins.
            con.execute("UPDATE predictions SET true_label = ?, labelled_at = ? WHERE id = ? "
                        "AND (labelled_at IS NULL OR labelled_at <= ?)",
                        [record.label, record.ts, record.prediction_id, record.ts])
        return record

    def add_feedback_many(self, records: Sequence[FeedbackRecord]) -> int:
        """Record many true labels at once; every prediction id must exist.

        Returns:
            Feedback rows added.
        """
        if not records:
            return 0
        for r in records:
            check_label(r.label)
        self._flush_if_pending()
        frame = pd.DataFrame({
            "prediction_id": [r.prediction_id for r in records],
            "ts": pd.to_datetime([r.ts for r in records]),
            "label": [r.label for r in records], "source": [r.source for r in records]})
        with self._transaction() as con:
            con.register("incoming_feedback", frame)
            missing = con.execute(
                "SELECT i.prediction_id FROM incoming_feedback AS i WHERE NOT EXISTS "
                "(SELECT 1 FROM predictions AS p WHERE p.id = i.prediction_id) LIMIT 1"
            ).fetchone()
            if missing:
                raise NotFound(f"unknown prediction id {missing[0]!r}: no feedback recorded")
            con.execute("INSERT INTO feedback (prediction_id, ts, label, source) "
                        "SELECT prediction_id, ts, label, source FROM incoming_feedback")
            con.execute(
                "UPDATE predictions AS p SET true_label = l.label, labelled_at = l.ts FROM ("
                " SELECT DISTINCT ON (prediction_id) prediction_id, label, ts"
                " FROM (SELECT *, row_number() OVER () AS n FROM incoming_feedback) AS i"
                " ORDER BY prediction_id, ts DESC, n DESC) AS l "
                "WHERE p.id = l.prediction_id AND (p.labelled_at IS NULL OR p.labelled_at <= l.ts)")
            con.unregister("incoming_feedback")
        return len(records)

    # Daily aggregates (dashboard) -------------------------------------------------------
    def daily_traffic(self, since: datetime | None = None,
                      until: datetime | None = None) -> list[DailyTraffic]:
        """Predictions per UTC day, oldest first, for the days of ``since`` through ``until``."""
        where, params = self.window_clause("day", since, until, by_day=True)
        frame = self.query_frame(
            "SELECT day, predictions, spam_predicted, spam_rate FROM v_daily_traffic"
            f"{where} ORDER BY day", params)
        return [DailyTraffic(day=as_date(row["day"]), predictions=int(row["predictions"]),
                             spam_predicted=int(row["spam_predicted"]),
                             spam_rate=float(row["spam_rate"]))
                for row in frame.to_dict("records")]

    def daily_accuracy(self, since: datetime | None = None,
                       until: datetime | None = None) -> list[DailyAccuracy]:
        """Measured (by prediction day) and estimated (by check day) accuracy per UTC day."""
        measured_where, measured_params = self.window_clause("day", since, until, by_day=True)
        checks_where, checks_params = self.window_clause("CAST(ts AS DATE)", since, until,
                                                     by_day=True)
        checks_where = (checks_where + " AND" if checks_where else " WHERE") + (
            " accuracy_is_estimate AND accuracy IS NOT NULL")
        frame = self.query_frame(
            "WITH measured AS (SELECT day, labelled, correct, accuracy FROM v_daily_accuracy"
            f"{measured_where}), "
            "estimated AS (SELECT CAST(ts AS DATE) AS day, avg(accuracy) AS estimated, "
            f"count(*) AS checks FROM decisions{checks_where} GROUP BY CAST(ts AS DATE)) "
            "SELECT coalesce(m.day, e.day) AS day, coalesce(m.labelled, 0) AS labelled, "
            "coalesce(m.correct, 0) AS correct, m.accuracy AS measured, e.estimated, "
            "coalesce(e.checks, 0) AS checks "
            "FROM measured AS m FULL OUTER JOIN estimated AS e ON m.day = e.day ORDER BY day",
            measured_params + checks_params)
        return [DailyAccuracy(day=as_date(row["day"]), labelled=int(row["labelled"]),
                              correct=int(row["correct"]),
                              measured=float_or_none(row["measured"]),
                              estimated=float_or_none(row["estimated"]),
                              checks=int(row["checks"]))
                for row in frame.to_dict("records")]

