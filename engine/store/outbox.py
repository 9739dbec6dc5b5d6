"""The webhook outbox table: enqueue inside a caller's transaction, claim, record attempts.

``enqueue`` is called by the other write methods of the store (``save_decision``,
``save_retraining``, ``save_approval``, ``append_audit`` with ``events=...``) on *their*
connection, inside their transaction: the decision and its outbox rows commit together or not
at all (the transactional outbox pattern). One row is written per event and subscribed
receiver (``NotifySettings.subscribers``); with no receivers configured nothing is written.
The sender (``engine.notify.sender``) reads and updates rows only through ``claim_outbox``
and ``record_delivery_attempt``. This module sends nothing and decides
nothing about retries (the sender computes back-off).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from engine.notify.config import NotifySettings
from engine.notify.events import NotifyEvent
from engine.records import OutboxDelivery, ReceiverHealth
from engine.store.connection import Connection, StoreBase

_COLUMNS = ("id", "event_id", "event_type", "receiver", "created_at", "status", "attempts",
            "next_attempt_at", "payload", "last_error", "last_attempt_at", "delivered_at")


def _decode(row: dict[str, Any]) -> OutboxDelivery:
    return OutboxDelivery(**{name: row[name] for name in _COLUMNS})


def _wall_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class OutboxMixin(StoreBase):
    """Outbox rows for webhook deliveries."""

    notify: NotifySettings
    _outbox_listeners: list[Callable[[], None]]

    def on_outbox_written(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (no arguments, must not block) after this process commits
        outbox rows, e.g. ``OutboxSender.wake``."""
        self._outbox_listeners.append(listener)

    def _enqueue(self, con: Connection, events: Sequence[NotifyEvent]) -> int:
        """Insert the deliveries of ``events`` on ``con`` (the caller's transaction)."""
        rows = []
        now = _wall_now()
        for event in events:
            payload = event.to_json()
            for hook in self.notify.subscribers(event.type):
                rows.append([uuid.uuid4().hex, event.event_id, event.type, hook.key, now,
                             "pending", 0, now, None, None, "", None, payload])
        if rows:
            con.executemany(
                "INSERT INTO outbox (id, event_id, event_type, receiver, created_at, status, "
                "attempts, next_attempt_at, claimed_until, last_attempt_at, last_error, "
                "delivered_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def _outbox_committed(self, rows: int) -> None:
        if rows:
            for listener in list(self._outbox_listeners):
                listener()

    def enqueue_events(self, events: Sequence[NotifyEvent]) -> int:
        """Write the deliveries of ``events`` on their own (for events no record carries).

        Returns: the number of outbox rows written.
        """
        with self._transaction() as con:
            rows = self._enqueue(con, events)
        self._outbox_committed(rows)
        return rows

    # The sender's side -------------------------------------------------------------------
    def outbox_due(self, *, now: datetime, receivers: Sequence[str]) -> int:
        """How many pending deliveries of ``receivers`` are due and unleased (a read: the
        sender's idle poll costs no write transaction)."""
        if not receivers or not self.outbox_has_table():
            return 0
        marks = ", ".join("?" for _ in receivers)
        rows = self._records(
            "SELECT count(*) AS n FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
            f" AND (claimed_until IS NULL OR claimed_until < ?) AND receiver IN ({marks})",
            [now, now, *receivers], lambda r: r)
        return int(rows[0]["n"]) if rows else 0

    def claim_outbox(self, *, now: datetime, lease_until: datetime,
                     receivers: Sequence[str]) -> list[OutboxDelivery]:
        """Lease the oldest pending delivery of each of ``receivers`` when it is due.

        Only a receiver's head (its oldest pending row) is ever claimed, so its events go out
        in order; a head still backing off (failed, retry later) or leased by another sender
        holds its receiver back, so a dead receiver gets one request per back-off, not one
        per event. A lease that runs out (its sender died) makes the head claimable again.
        """
        if not receivers:
            return []
        marks = ", ".join("?" for _ in receivers)
        with self._transaction() as con:
            self._serialise(con, "outbox claim")  # senders on several hosts: one at a time
            cursor = con.execute(
                "UPDATE outbox SET claimed_until = ? WHERE id IN ("
                " SELECT o.id FROM (SELECT DISTINCT ON (receiver) id FROM outbox"
                f"  WHERE status = 'pending' AND receiver IN ({marks})"
                "   ORDER BY receiver, seq) h"
                " JOIN outbox o ON o.id = h.id"
                " WHERE o.next_attempt_at <= ?"
                "  AND (o.claimed_until IS NULL OR o.claimed_until < ?))"
                f" RETURNING {', '.join(_COLUMNS)}, seq",
                [lease_until, *receivers, now, now])
            columns = [d[0] for d in cursor.description or ()]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        rows.sort(key=lambda row: row["seq"])
        return [_decode(row) for row in rows]

    def record_delivery_attempt(self, delivery_id: str, *, at: datetime, error: str | None,
                                next_attempt_at: datetime | None, give_up: bool) -> None:
        """Record one attempt: delivered when ``error`` is None; else retry at
        ``next_attempt_at``, or mark ``failed`` when ``give_up``. Drops the lease."""
        if error is None:
            sql = ("UPDATE outbox SET status = 'delivered', delivered_at = ?, "
                   "last_attempt_at = ?, attempts = attempts + 1, claimed_until = NULL "
                   "WHERE id = ?")
            params: list[Any] = [at, at, delivery_id]
        else:
            sql = ("UPDATE outbox SET status = ?, last_attempt_at = ?, last_error = ?, "
                   "attempts = attempts + 1, next_attempt_at = ?, claimed_until = NULL "
                   "WHERE id = ?")
            params = ["failed" if give_up else "pending", at, error,
                      next_attempt_at or at, delivery_id]
        with self._transaction() as con:
            con.execute(sql, params)

    # Reads -------------------------------------------------------------------------------
    def outbox_has_table(self) -> bool:
        """Whether the outbox exists (a database older than migration 011 has none, e.g.
        under a read-only dashboard before any writer migrated); remembered once true."""
        if getattr(self, "_outbox_seen", False):
            return True
        with self._connection(write=False) as con:
            row = con.execute("SELECT count(*) FROM information_schema.tables WHERE "
                              "table_name = 'outbox' AND table_schema = current_schema()"
                              ).fetchone()
        self._outbox_seen = bool(row and row[0])
        return self._outbox_seen

    def outbox_deliveries(self, statuses: Sequence[str] = ("pending", "failed"),
                          limit: int = 200) -> list[OutboxDelivery]:
        """Deliveries with one of ``statuses``, oldest first (at most ``limit``)."""
        if not statuses or not self.outbox_has_table():
            return []
        marks = ", ".join("?" for _ in statuses)
        return self._records(
            f"SELECT {', '.join(_COLUMNS)} FROM outbox WHERE status IN ({marks}) "
            f"ORDER BY seq LIMIT {int(limit)}", list(statuses), _decode)

    def receiver_health(self) -> list[ReceiverHealth]:
        """Per receiver that has outbox rows or is configured: pending, retrying, failed
        since the last success, delivered, last error and times; by receiver name."""
        found: dict[str, ReceiverHealth] = {}
        if self.outbox_has_table():
            for row in self._records(
                    "SELECT receiver,"
                    " count(*) FILTER (WHERE status = 'pending') AS pending,"
                    " count(*) FILTER (WHERE status = 'pending' AND attempts > 0) AS retrying,"
                    " count(*) FILTER (WHERE status = 'delivered') AS delivered,"
                    " max(delivered_at) AS last_delivered_at,"
                    " max(last_attempt_at) AS last_attempt_at,"
                    " min(created_at) FILTER (WHERE status = 'pending') AS oldest_pending_at,"
                    " (array_agg(last_error ORDER BY last_attempt_at DESC NULLS LAST)"
                    "   FILTER (WHERE last_error <> '' AND last_attempt_at IS NOT NULL))[1]"
                    "   AS last_error,"
                    " max(last_attempt_at) FILTER (WHERE last_error <> '') AS last_failure_at"
                    " FROM outbox GROUP BY receiver", [], lambda r: r):
                failed = self._failed_since_success(row["receiver"], row["last_delivered_at"])
                found[row["receiver"]] = ReceiverHealth(
                    receiver=row["receiver"], pending=int(row["pending"]),
                    retrying=int(row["retrying"]), failed=failed,
                    delivered=int(row["delivered"]), last_error=row["last_error"] or "",
                    last_attempt_at=row["last_attempt_at"],
                    last_delivered_at=row["last_delivered_at"],
                    oldest_pending_at=row["oldest_pending_at"],
                    configured=self.notify.receiver(row["receiver"]) is not None)
        for hook in self.notify.webhooks:
            found.setdefault(hook.key, ReceiverHealth(hook.key, 0, 0, 0, 0, "", None, None,
                                                      None))
        return [found[key] for key in sorted(found)]

    def _failed_since_success(self, receiver: str, since: datetime | None) -> int:
        params: list[Any] = [receiver]
        clause = ""
        if since is not None:
            clause = " AND last_attempt_at > ?"
            params.append(since)
        rows = self._records("SELECT count(*) AS n FROM outbox WHERE receiver = ? AND "
                             f"status = 'failed'{clause}", params, lambda r: r)
        return int(rows[0]["n"]) if rows else 0
