"""The audit trail's table: append a record to the hash chain, read it, verify it.

The chain logic itself is pure and lives in ``engine.audit``; this module only reads the last
record and appends the next in one read-write transaction, so the chain cannot fork.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine import audit
from engine.records import AuditRecord, AuditVerification
from engine.store.codec import decode_audit, row_of
from engine.store.connection import StoreBase

if TYPE_CHECKING:
    from engine.notify.events import NotifyEvent


class AuditMixin(StoreBase):
    """Append, list and verify audit records."""

    # Audit ---------------------------------------------------------------------------------
    def append_audit(self, actor: str, action: str, subject: str, details: dict[str, Any],
                     reasoning: str, *, events: Sequence[NotifyEvent] = ()) -> AuditRecord:
        """Append a record to the hash chain (reads the last hash in the same transaction);
        ``events`` go to the webhook outbox in that transaction too (for actions whose only
        record is the audit trail: rollback, scheduler takeover)."""
        with self._transaction() as con:
            cursor = con.execute("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1")
            columns = [d[0] for d in cursor.description or ()]
            row = cursor.fetchone()
            previous = decode_audit(dict(zip(columns, row, strict=True))) if row else None
            record = audit.next_record(previous, ts=self.clock.now(), actor=actor,
                                       action=action, subject=subject, details=details,
                                       reasoning=reasoning)
            stored = row_of(record)
            stored["details"] = audit.canonical_json(record.details)
            con.execute("INSERT INTO audit_log (seq, ts, actor, action, subject, details, "
                        "reasoning, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        list(stored.values()))
            queued = self._enqueue(con, events) if events else 0
        self._outbox_committed(queued)
        return record

    def audit_records(self, limit: int | None = None) -> list[AuditRecord]:
        """Audit records in chain order; with ``limit``, only the newest ``limit``."""
        sql = "SELECT * FROM audit_log ORDER BY seq"
        if limit is not None:
            sql = (f"SELECT * FROM (SELECT * FROM audit_log ORDER BY seq DESC "
                   f"LIMIT {int(limit)}) ORDER BY seq")
        return self._records(sql, [], decode_audit)

    def last_audit(self, action: str) -> AuditRecord | None:
        """The newest audit record of ``action``, if any."""
        found = self._records("SELECT * FROM audit_log WHERE action = ? ORDER BY seq DESC "
                              "LIMIT 1", [action], decode_audit)
        return found[0] if found else None

    def verify_audit(self) -> AuditVerification:
        """Check the whole chain; names the first altered or removed record by seq."""
        return audit.verify(self.audit_records())

