"""The audit trail's table: append a record to the keyed hash chain, read it, verify it.

The chain logic itself is pure and lives in ``engine.audit``; the key file in
``engine.datakey``. This module reads the last record and appends the next in one read-write
transaction, so the chain cannot fork, then hands the new head to ``audit_anchor`` (the
monitor log) so that a copy of it lives where the database cannot rewrite it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import audit
from engine.datakey import DataKey, load_key, load_or_create_key
from engine.errors import KeyMissing
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
        """The key; created only for a chain with no keyed record yet (empty, or the plain
        sha256 chain from before keys, which the new key upgrades); returns the (possibly
        new) previous record.

        Raises:
            KeyMissing: the key file is gone but the chain has keyed records (or, on a shared
                PostgreSQL history, any record: the key comes from the host that set it up).
        """
        keyed_from = 1 if previous is None else previous.seq + 1
        if load_key(self.key_path) is None and previous is not None:
            if self._pg is not None:
                # A shared history: every host must chain with the same key, never make its own.
                raise KeyMissing(
                    f"this host has no data home key ({self.key_path}) but the shared "
                    "history's audit chain already has records: copy spamops.key from the "
                    "host that set the store up (mode 0600)")
            if self._chain_is_keyed(con, previous):
                raise KeyMissing(key_missing_message(self.key_path))
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
    def _chain_is_keyed(con: Connection, head: AuditRecord) -> bool:
        """Whether the chain ending at ``head`` has keyed (HMAC) records: an ``audit.keyed``
        marker, or a head whose hash is not the plain sha256 of its content."""
        if con.execute("SELECT 1 FROM audit_log WHERE action = ? LIMIT 1",
                       [KEYED_ACTION]).fetchone() is not None:
            return True
        return head.hash != _plain_hash(head)

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
        first altered, removed or rewritten record by seq. Without the key file, a chain
        with keyed records is reported ``key_missing`` (neither intact nor broken)."""
        key = load_key(self.key_path)
        records = self.audit_records()
        if key is None and records and (
                any(r.action == KEYED_ACTION for r in records)
                or records[-1].hash != _plain_hash(records[-1])):
            return AuditVerification(
                ok=False, checked=0, first_bad_seq=None, key_missing=True,
                message=f"key missing: {key_missing_message(self.key_path)}")
        return audit.verify(records, key=chain_key(key) if key is not None else None,
                            anchors=anchors)


def key_missing_message(path: Path) -> str:
    """The one line that says the key file is gone from a keyed chain, and what to do."""
    return (f"the data home key file {path} is missing but the audit chain has keyed "
            "records, which only that key can verify: restore spamops.key from a backup (`spamops "
            "backup` copies it; keep mode 0600), no new key is made")


def _plain_hash(record: AuditRecord) -> str:
    return audit.record_hash(seq=record.seq, ts=record.ts, actor=record.actor,
                             action=record.action, subject=record.subject,
                             details=record.details, reasoning=record.reasoning,
                             prev_hash=record.prev_hash)
