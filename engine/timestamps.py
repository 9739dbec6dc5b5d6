"""Reading a message file's time column: ISO 8601 (offsets converted to UTC) or Unix epoch.

Owns ``parse_timestamps`` for ``engine.files`` (``replay`` orders a file's traffic by it).
Pure apart from pandas; a value that is not a time is one ``InvalidInput`` naming its line.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from engine.errors import InvalidInput

if TYPE_CHECKING:
    from engine.files import Table


def parse_timestamps(table: Table, column: str, rows: list[int]) -> list[datetime]:
    """The values of ``column`` at ``rows`` as naive UTC datetimes.

    ISO 8601 (with or without offset; offsets are converted to UTC) and Unix epoch seconds or
    milliseconds are read (pandas ``to_datetime``).

    Raises:
        InvalidInput: a value is blank or not a time, naming its line.
    """
    import pandas as pd

    raw = table.frame[column].iloc[rows]
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = pd.to_datetime(raw, utc=True)
    else:
        values = raw.astype(str).str.strip()
        numeric = pd.to_numeric(values, errors="coerce")
        if len(values) and numeric.notna().all():
            unit: Literal["ms", "s"] = "ms" if float(numeric.abs().max()) > 1e11 else "s"
            parsed = pd.to_datetime(numeric, unit=unit, utc=True)
        else:
            parsed = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    bad = parsed.isna().to_numpy().nonzero()[0]
    if len(bad):
        position = int(bad[0])
        value = str(table.frame[column].iloc[rows[position]])
        raise InvalidInput(
            f"{table.path} {table.where(rows[position])}: `{column}` value {value!r} is not a "
            "time (use ISO 8601 like 2024-05-01T13:45:00Z, or epoch seconds)")
    naive = parsed.dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("us")
    return [t.to_pydatetime() for t in naive]
