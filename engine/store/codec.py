"""Rows to records and back: JSON fields, decoders, small value conversions.

Owns how the frozen records of ``engine.records`` map onto table rows (dict and tuple fields as
JSON text) and back, and the label check shared by every write. Pure: no connection.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from engine.errors import InvalidInput
from engine.records import (
    Approval,
    AuditRecord,
    Decision,
    DriftSnapshot,
    JobRun,
    PatternCount,
    RetrainingEvent,
)

LABELS = ("ham", "spam")
"""The only labels a prediction or a feedback may carry."""


# Row mapping -------------------------------------------------------------------------------
def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def row_of(record: Any, json_fields: Sequence[str] = ()) -> dict[str, Any]:
    row = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    for name in json_fields:
        value = row[name]
        if value is not None:
            row[name] = dumps(plain(value))
    return row


def plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


def decode_snapshot(row: dict[str, Any]) -> DriftSnapshot:
    row["new_patterns"] = tuple(PatternCount(**p) for p in json.loads(row["new_patterns"]))
    row["drift_components"] = tuple(json.loads(row.get("drift_components") or "[]"))
    return DriftSnapshot(**row)


def decode_decision(row: dict[str, Any]) -> Decision:
    row["reasons"] = tuple(json.loads(row["reasons"]))
    row["thresholds"] = json.loads(row["thresholds"])
    return Decision(**row)


def decode_retraining(row: dict[str, Any]) -> RetrainingEvent:
    row["comparison"] = None if row["comparison"] is None else json.loads(row["comparison"])
    row["lineage"] = json.loads(row["lineage"])
    return RetrainingEvent(**row)


def decode_approval(row: dict[str, Any]) -> Approval:
    row["comparison"] = json.loads(row["comparison"])
    return Approval(**row)


def decode_job_run(row: dict[str, Any]) -> JobRun:
    return JobRun(**row)


def decode_audit(row: dict[str, Any]) -> AuditRecord:
    row["details"] = json.loads(row["details"])
    return AuditRecord(**row)


def quote_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def as_date(value: Any) -> date:
    """A DuckDB DATE as it comes out of a pandas frame (Timestamp or date)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"not a date: {value!r}")


def float_or_none(value: Any) -> float | None:
    """A nullable DOUBLE from a pandas frame (NaN/NA mean NULL)."""
    if value is None or value != value:  # NaN is not equal to itself
        return None
    try:
        return float(value)
    except TypeError:  # pandas.NA
        return None


def check_label(label: str) -> str:
    if label not in LABELS:
        raise InvalidInput(f"label must be ham or spam, not {label!r}")
    return label
