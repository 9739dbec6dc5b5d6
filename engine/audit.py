"""The hash chain of the audit trail: canonical JSON, sha256 links, verification.

Each ``AuditRecord`` carries the hash of the record before it (``prev_hash``; the first record
links to ``GENESIS``) and its own ``hash``: the sha256 of the canonical JSON of every other
field. Changing any field of a stored record, or removing a record from the middle, breaks the
chain at that record, and ``verify`` names it by ``seq``.

This module is pure: it builds and checks records, and never reads or writes them. Persistence
(reading the last hash and appending in one transaction) belongs to ``engine.store``. It must
not import anything heavy.

Limit: a chain alone cannot tell that records were cut off its *end*; see "The store" in
``docs/architecture.md``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from engine.records import AuditRecord, AuditVerification

GENESIS = "0" * 64
"""The ``prev_hash`` of the first record."""


def canonical_json(value: Any) -> str:
    """One stable text for ``value``: sorted keys, no spaces, UTF-8 kept, non-JSON via ``str``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def normalise_details(details: dict[str, Any]) -> dict[str, Any]:
    """``details`` exactly as it reads back from storage (datetimes etc. become strings)."""
    loaded: dict[str, Any] = json.loads(canonical_json(details))
    return loaded


def _timestamp(ts: datetime) -> str:
    return ts.isoformat(timespec="microseconds")


def record_hash(*, seq: int, ts: datetime, actor: str, action: str, subject: str,
                details: dict[str, Any], reasoning: str, prev_hash: str) -> str:
    """The sha256 (hex) of one record's content and its link to the previous record."""
    payload = {
        "seq": seq, "ts": _timestamp(ts), "actor": actor, "action": action,
        "subject": subject, "details": details, "reasoning": reasoning, "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def next_record(previous: AuditRecord | None, *, ts: datetime, actor: str, action: str,
                subject: str, details: dict[str, Any], reasoning: str) -> AuditRecord:
    """The record that follows ``previous`` (``None`` for the first one)."""
    seq = 1 if previous is None else previous.seq + 1
    prev_hash = GENESIS if previous is None else previous.hash
    clean = normalise_details(details)
    digest = record_hash(seq=seq, ts=ts, actor=actor, action=action, subject=subject,
                         details=clean, reasoning=reasoning, prev_hash=prev_hash)
    return AuditRecord(seq=seq, ts=ts, actor=actor, action=action, subject=subject,
                       details=clean, reasoning=reasoning, prev_hash=prev_hash, hash=digest)


def verify(records: Iterable[AuditRecord]) -> AuditVerification:
    """Check the chain, in ``seq`` order, and name the first record that breaks it.

    A record breaks the chain when its content no longer matches its hash (it was altered),
    when its ``prev_hash`` is not the hash of the record before it (a record before it was
    removed or replaced), or when its ``seq`` skips numbers (records were removed).
    """
    previous: AuditRecord | None = None
    checked = 0
    for record in sorted(records, key=lambda r: r.seq):
        expected_seq = 1 if previous is None else previous.seq + 1
        if record.seq != expected_seq:
            missing = (f"record {expected_seq}" if record.seq == expected_seq + 1
                       else f"records {expected_seq}-{record.seq - 1}")
            return _broken(checked, expected_seq,
                           f"{missing} removed: the chain jumps from "
                           f"{expected_seq - 1} to {record.seq}")
        expected_prev = GENESIS if previous is None else previous.hash
        if record.prev_hash != expected_prev:
            return _broken(checked, record.seq,
                           f"record {record.seq} ({record.action} {record.subject}) does not "
                           f"link to record {record.seq - 1}: one of them was altered or "
                           "replaced")
        actual = record_hash(seq=record.seq, ts=record.ts, actor=record.actor,
                             action=record.action, subject=record.subject,
                             details=record.details, reasoning=record.reasoning,
                             prev_hash=record.prev_hash)
        if actual != record.hash:
            return _broken(checked, record.seq,
                           f"record {record.seq} ({record.action} {record.subject}) was "
                           "altered: its content no longer matches its hash")
        previous = record
        checked += 1
    return AuditVerification(ok=True, checked=checked, first_bad_seq=None,
                             message=f"audit chain intact: {checked} records verified")


def _broken(checked: int, seq: int, message: str) -> AuditVerification:
    return AuditVerification(ok=False, checked=checked, first_bad_seq=seq, message=message)
