"""The audit trail's table: append a record to the keyed hash chain, read it, verify it.

The chain logic itself is pure and lives in ``engine.audit``; the key file in
``engine.datakey``. This module reads the last record and appends the next in one read-write
transaction, so the chain cannot fork, then hands the new head to ``audit_anchor`` (the
monitor log) so that a copy of it lives where the database cannot rewrite it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from engine import audit
from engine.datakey import DataKey, load_key, load_or_create_key
from engine.errors import StoreError
from engine.records import AuditRecord, AuditVerification
from engine.store.codec import decode_audit, row_of
from engine.store.connection import Connection, StoreBase

if TYPE_CHECKING:
    from engine.notify.events import NotifyEvent

logger = logging.getLogger("spamops.store")

KEYED_ACTION = "audit.keyed"
"""The record that marks where an existing (unkeyed) chain switched to HMAC."""


def chain_key(key: DataKey) -> audit.ChainKey:
    """The audit chain's sub-key of the data home key."""
    return audit.ChainKey(key.derive("audit chain"), key.keyed_from)


class AuditMixin(StoreBase):
    """Append, list and verify audit records."""

    audit_anchor: Callable[[AuditRecord], None] | None = None
    """Called with each new head after its commit (``Services`` writes it to the monitor
    log); a failure is logged, never raised: the record is already committed."""

    # Audit ---------------------------------------------------------------------------------
    def append_audit(self, actor: str, action: str, subject: str, details: dict[str, Any],
                     reasoning: str, *, events: Sequence[NotifyEvent] = ()) -> AuditRecord:
        """Append a record to the keyed hash chain (reads the last record in the same
        transaction; creates the data home key if there is none yet); ``events`` go to the
        webhook outbox in that transaction too (for actions whose only record is the audit
        trail: rollback, scheduler takeover)."""
        with self._transaction() as con:
            record = self._append_audit_in(con, actor, action, subject, details, reasoning)
            queued = self._enqueue(con, events) if events else 0
        self._outbox_committed(queued)
        self._anchor(record)
        return record

    def _append_audit_in(self, con: Connection, actor: str, action: str, subject: str,
                         details: dict[str, Any], reasoning: str) -> AuditRecord:
        """``append_audit`` inside the caller's transaction ``con`` (the caller anchors the
        record with ``_anchor`` once it has committed)."""
        self._serialise(con, "audit chain")  # one appender at a time on every host
        previous = self._last_audit_record(con)
        key, previous = self._audit_key(con, previous)
        record = audit.next_record(previous, ts=self.clock.now(), actor=actor,
                                   action=action, subject=subject, details=details,
                                   reasoning=reasoning, key=chain_key(key))
        self._insert_audit(con, record)
        return record

    def ensure_audit_key(self) -> DataKey:
        """Create the data home key (0600) if missing; on an existing chain, mark the switch
        point with an ``audit.keyed`` record. Called by ``migrate`` (setup)."""
        with self._transaction() as con:
            self._serialise(con, "audit chain")
            previous = self._last_audit_record(con)
            key, head = self._audit_key(con, previous)
        if head is not previous and head is not None:
            self._anchor(head)
        return key

    def _audit_key(self, con: Connection, previous: AuditRecord | None
                   ) -> tuple[DataKey, AuditRecord | None]:
        """The key, created if missing; returns the (possibly new) previous record."""
        keyed_from = 1 if previous is None else previous.seq + 1
        if self._pg is not None and previous is not None and load_key(self.key_path) is None:
            # A shared history: every host must chain with the same key, never make its own.
            raise StoreError(
                f"this host has no data home key ({self.key_path}) but the shared history's "
                "audit chain already has records: copy spamops.key from the host that set "
                "the store up (mode 0600)")
        key, created = load_or_create_key(self.key_path, keyed_from)
        if not created or previous is None:
            return key, previous
        marker = audit.next_record(
            previous, ts=self.clock.now(), actor="system", action=KEYED_ACTION,
            subject="audit", details={"scheme": "hmac-sha256", "keyed_from": keyed_from},
            reasoning=(f"From record {keyed_from} on, the audit chain is keyed (HMAC-SHA256 "
                       f"with the data home key in {self.key_path.name}); records before it "
                       "keep their plain sha256."),
            key=chain_key(key))
        self._insert_audit(con, marker)
        return key, marker

    @staticmethod
    def _last_audit_record(con: Connection) -> AuditRecord | None:
        cursor = con.execute("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1")
        columns = [d[0] for d in cursor.description or ()]
        row = cursor.fetchone()
        return decode_audit(dict(zip(columns, row, strict=True))) if row else None

    @staticmethod
    def _insert_audit(con: Connection, record: AuditRecord) -> None:
        stored = row_of(record)
        stored["details"] = audit.canonical_json(record.details)
        con.execute("INSERT INTO audit_log (seq, ts, actor, action, subject, details, "
                    "reasoning, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    list(stored.values()))

    def _anchor(self, record: AuditRecord) -> None:
        if self.audit_anchor is None:
            return
        try:
            self.audit_anchor(record)
        except Exception:  # the record is committed; a lost anchor only weakens detection
            logger.exception("could not anchor audit record %d", record.seq)

    def audit_records(self, limit: int | None = None) -> list[AuditRecord]:
        """Audit records in chain order; with ``limit``, only the newest ``limit``."""
        sql = "SELECT * FROM audit_log ORDER BY seq"
        if limit is not None:
            sql = (f"SELECT * FROM (SELECT * FROM audit_log ORDER BY seq DESC "
                   f"LIMIT {int(limit)}) AS newest ORDER BY seq")
        return self._records(sql, [], decode_audit)

    def last_audit(self, action: str) -> AuditRecord | None:
        """The newest audit record of ``action``, if any."""
        found = self._records("SELECT * FROM audit_log WHERE action = ? ORDER BY seq DESC "
                              "LIMIT 1", [action], decode_audit)
        return found[0] if found else None

    def verify_audit(self, anchors: Sequence[audit.Anchor] = ()) -> AuditVerification:
        """Check the whole chain with the data home key, then against ``anchors``; names the
        first altered, removed or rewritten record by seq."""
        key = load_key(self.key_path)
        result = audit.verify(self.audit_records(),
                              key=chain_key(key) if key is not None else None, anchors=anchors)
        if key is None and not result.ok:
            return AuditVerification(
                ok=False, checked=result.checked, first_bad_seq=result.first_bad_seq,
                message=f"{result.message} (the key file {self.key_path} is missing, so keyed "
                        "records cannot be checked: restore it)")
        return result
