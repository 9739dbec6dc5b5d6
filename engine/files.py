"""Reading the message files people have: CSV/TSV, JSON Lines, Parquet, plain text, UCI.

Every command that reads a file of messages (``drift``, ``predict --file``, ``data import``,
``feedback import``, ``replay``) goes through this module, in two steps:

1. ``read_table(path)`` decodes and parses the file into a ``Table`` (all columns, as found):
   - **encoding** (``engine.encodings``): UTF-8 with or without BOM, UTF-16 with BOM,
     cp1252/latin-1 and other legacy encodings detected with charset-normalizer and reported;
   - **format**: Parquet (by suffix), JSON Lines (``.jsonl``/``.ndjson``/``.json``, or a first
     line that is a JSON object), UCI (every line ``ham|spam<TAB>text``), CSV/TSV (delimiter
     sniffed by ``csv.Sniffer`` among ``, TAB ; |``, parsed by pandas: quoted multi-line
     fields, CRLF, one-column files, trailing empty unnamed columns), else plain text with one
     message per line.
2. ``messages_of(table, ...)`` picks the text, label and timestamp columns (given, or found
   among common names, see ``TEXT_COLUMNS``), maps labels to ham/spam (``engine.labels``),
   drops blank texts and counts them, and returns ``Messages``.

Every problem is an ``InvalidInput`` with one line naming the file, the line (or row, or
column) and what to do. This module reads files and nothing else: it knows no model and
writes nothing.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from engine.bounded_read import read_file_bytes, require_regular_file
from engine.encodings import decode
from engine.errors import InvalidInput
from engine.labels import normalise_labels
from engine.timestamps import parse_timestamps

if TYPE_CHECKING:
    import pandas as pd

TEXT_COLUMNS = ("text", "message", "messages", "sms", "sms_text", "text_message",
                "message_text", "msg", "content", "body", "v2")
"""Column names taken as the message text, in this order of preference (case-insensitive)."""
LABEL_COLUMNS = ("label", "labels", "class", "category", "v1", "spam", "is_spam", "target",
                 "type", "y")
"""Column names taken as the true label, in this order of preference (case-insensitive)."""
TIMESTAMP_COLUMNS = ("timestamp", "ts", "time", "datetime", "date", "created_at",
                     "received_at", "sent_at")
"""Column names taken as the message time, in this order of preference (case-insensitive)."""
PARQUET_SUFFIXES = (".parquet", ".pq")
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
_DELIMITERS = ",\t;|"
_UCI_LINE = re.compile(r"^(?:ham|spam)\t", re.IGNORECASE)
_SNIFF_BYTES = 64 * 1024
_ONE_COLUMN_SEP = "\x1f"
"""Separator used to read a one-column file: never in text, so unquoted commas stay text."""


@dataclass(frozen=True)
class Table:
    """A parsed message file: every column as found, values as strings ('' when missing)."""

    path: Path
    format: str
    """``csv``, ``tsv``, ``jsonl``, ``parquet``, ``text`` or ``uci``."""
    encoding: str
    """How the bytes were decoded, e.g. ``utf-8``, ``utf-8 with BOM``, ``cp1252 (detected)``;
    ``parquet`` for Parquet files."""
    frame: pd.DataFrame
    delimiter: str | None = None
    _text: str | None = field(default=None, repr=False)
    _starts: list[int] | None = field(default=None, repr=False)

    @property
    def columns(self) -> list[str]:
        """Column names as in the file."""
        return [str(c) for c in self.frame.columns]

    def where(self, row: int) -> str:
        """``line N`` (file line where data row ``row``, 0-based, starts) or ``row N``."""
        if self._text is None or self.format == "parquet":
            return f"row {row + 1}"
        starts = self._line_starts()
        return f"line {starts[row]}" if row < len(starts) else f"row {row + 1}"

    def _line_starts(self) -> list[int]:
        if self._starts is not None:
            return self._starts
        assert self._text is not None
        starts: list[int] = []
        if self.format in ("csv", "tsv"):
            reader = csv.reader(io.StringIO(self._text), delimiter=self.delimiter or ",")
            previous = 0
            for _record in reader:
                starts.append(previous + 1)
                previous = reader.line_num
            starts = starts[1:]  # the header
        elif self.format == "text":  # every line is a row, blank ones too
            starts = list(range(1, len(self._text.splitlines()) + 1))
        else:
            starts = [n for n, line in enumerate(self._text.splitlines(), start=1)
                      if line.strip()]
        object.__setattr__(self, "_starts", starts)
        return starts

    def describe_columns(self) -> str:
        """The columns, for error messages."""
        return ", ".join(f"`{c}`" for c in self.columns) or "(none)"


@dataclass(frozen=True)
class Messages:
    """The messages of one file, normalised: what every command works on."""

    source: str
    format: str
    encoding: str
    text_column: str | None
    label_column: str | None
    timestamp_column: str | None
    texts: list[str]
    labels: list[str | None] | None
    """``ham``/``spam`` per message (None: unlabelled); None when the file has no labels."""
    timestamps: list[datetime] | None
    """Naive UTC per message; None when the file has no timestamp column."""
    rows: list[int]
    """Each message's 0-based data row in the file (for error messages)."""
    rows_read: int
    blank_dropped: int
    continued_rows: int = 0
    """Rows whose text ran on into unnamed trailing columns (joined back with the delimiter)."""
    label_counts: dict[str, int] = field(default_factory=dict)
    """Original label value -> count, for the summary (``Smishing`` -> 616, ...)."""

    def summary(self) -> str:
        """One line: what was read, how, and what was dropped."""
        used = [f"text column `{self.text_column}`"] if self.text_column else []
        if self.label_column:
            used.append(f"label column `{self.label_column}`")
        if self.timestamp_column:
            used.append(f"timestamp column `{self.timestamp_column}`")
        how = ", ".join([self.format, self.encoding, *used])
        line = f"read {len(self.texts):,} messages from {self.source} ({how})"
        notes = []
        if self.blank_dropped:
            notes.append(f"dropped {self.blank_dropped:,} blank texts")
        if self.continued_rows:
            notes.append(f"joined {self.continued_rows:,} texts that ran on into unnamed "
                         "columns")
        return line + ("; " + ", ".join(notes) if notes else "")


# Reading ---------------------------------------------------------------------------------
def read_table(path: Path, *, encoding: str | None = None) -> Table:
    """Decode and parse one file (see the module docstring for the formats).

    Raises:
        InvalidInput: missing, a directory, undecodable, malformed or empty.
    """
    if not path.exists():
        raise InvalidInput(f"file not found: {path}")
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory, expected a file of messages")
    require_regular_file(path)  # /dev/zero, a FIFO: refused, never read
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path)
    if suffix in (".xlsx", ".xls", ".ods"):
        raise InvalidInput(f"{path} is a spreadsheet; save it as CSV (UTF-8) and pass that")
    data = read_file_bytes(path)  # bounded chunks, a line at most MAX_LINE_BYTES
    if data[:4] == b"PAR1":
        return _read_parquet(path)
    text, how = decode(data, path, encoding)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InvalidInput(f"{path} has no messages")
    if suffix in JSON_SUFFIXES or lines[0].lstrip().startswith("{"):
        return Table(path, "jsonl", how, _read_json(text, path), _text=text)
    if all(_UCI_LINE.match(line) for line in lines):
        import pandas as pd

        parts = [line.split("\t", 1) for line in lines]
        frame = pd.DataFrame({"label": [p[0] for p in parts], "text": [p[1] for p in parts]})
        return Table(path, "uci", how, frame, _text=text)
    delimiter = _csv_delimiter(text, lines[0], suffix)
    if delimiter is None:
        import pandas as pd

        every = text.splitlines()
        while every and not every[-1].strip():
            every.pop()
        return Table(path, "text", how, pd.DataFrame({"text": every}), _text=text)
    frame = _read_csv(text, path, delimiter)
    kind = "tsv" if delimiter == "\t" else "csv"
    return Table(path, kind, how, frame, delimiter=delimiter, _text=text)


def _read_parquet(path: Path) -> Table:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for damaged files
        raise InvalidInput(f"{path} is not a readable Parquet file: "
                           f"{str(exc).splitlines()[0]}") from None
    return Table(path, "parquet", "parquet", frame)


def _read_json(text: str, path: Path) -> pd.DataFrame:
    import pandas as pd

    stripped = text.lstrip()
    if stripped.startswith("["):  # a JSON array of objects
        try:
            records = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path} line {exc.lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise InvalidInput(f"{path}: a JSON file must hold objects, one per message")
        return pd.DataFrame.from_records(records)
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path} line {number}: not valid JSON ({exc.msg}); JSON Lines "
                               "files hold one object per line") from None
        if not isinstance(row, dict):
            raise InvalidInput(f"{path} line {number}: expected a JSON object like "
                               '{"text": "..."}')
        rows.append(row)
    return pd.DataFrame.from_records(rows)


def _known(name: str) -> bool:
    key = name.strip().strip('"').strip().lower()
    return key in TEXT_COLUMNS or key in LABEL_COLUMNS


def _csv_delimiter(text: str, header: str, suffix: str) -> str | None:
    """The CSV delimiter, or None when the file is plain text (one message per line).

    A file is read as CSV when its suffix is ``.csv``/``.tsv``/``.tab`` or its header names a
    known column; a header with a single known name is a one-column file.
    """
    sample = text[:_SNIFF_BYTES]
    try:
        delimiter: str | None = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        delimiter = None
    counts = {d: header.count(d) for d in _DELIMITERS}
    if delimiter is None or counts.get(delimiter, 0) == 0:
        best = max(counts, key=lambda d: counts[d])
        delimiter = best if counts[best] else None
    if suffix in (".tsv", ".tab") and "\t" in header:
        delimiter = "\t"
    fields = next(csv.reader([header], delimiter=delimiter or ",")) if delimiter else [header]
    recognised = any(_known(f) for f in fields)
    if len(fields) == 1 or delimiter is None:
        one = header.strip().strip('"').strip()
        if _known(one) or suffix in (".csv", ".tsv", ".tab"):
            return _ONE_COLUMN_SEP
        return None
    if recognised or suffix in (".csv", ".tsv", ".tab"):
        return delimiter
    return None


_FIELDS_ERROR = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _read_csv(text: str, path: Path, delimiter: str) -> pd.DataFrame:
    import pandas as pd

    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                            skip_blank_lines=False, engine="c")
    except pd.errors.ParserError as exc:
        found = _FIELDS_ERROR.search(str(exc))
        if found:
            expected, line, saw = found.groups()
            shown = "TAB" if delimiter == "\t" else delimiter
            raise InvalidInput(
                f"{path} line {line}: {saw} fields where the header has {expected}; quote "
                f"texts that contain '{shown}' or pass the right --delimiter") from None
        raise InvalidInput(f"{path} is not valid CSV: {str(exc).splitlines()[-1]}") from None
    except pd.errors.EmptyDataError:
        raise InvalidInput(f"{path} has no messages") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


# Selecting -------------------------------------------------------------------------------
def find_column(table: Table, given: str | None, candidates: tuple[str, ...], role: str,
                option: str, *, required: bool) -> str | None:
    """The column named ``given``, else the first of ``candidates`` present (any case).

    Raises:
        InvalidInput: ``given`` is not a column, or none was found and ``required``.
    """
    by_key = {c.strip().lower(): c for c in reversed(table.columns)}
    if given is not None:
        if given in table.columns:
            return given
        if given.strip().lower() in by_key:
            return by_key[given.strip().lower()]
        raise InvalidInput(f"{table.path} has no column `{given}` (given by {option}); its "
                           f"columns are {table.describe_columns()}")
    for name in candidates:
        if name in by_key:
            return by_key[name]
    if required:
        raise InvalidInput(
            f"{table.path} has no {role} column (looked for {', '.join(candidates[:6])}, ...); "
            f"its columns are {table.describe_columns()}: pass {option} NAME")
    return None


def _strings(table: Table, column: str) -> list[str]:
    values = table.frame[column]
    return ["" if v is None or (isinstance(v, float) and v != v) else str(v)
            for v in values.tolist()]


def _run_on(table: Table, text_column: str, texts: list[str]) -> tuple[list[str], int]:
    """Join text that ran on into unnamed trailing columns (``v1,v2,,,`` files), counted."""
    columns = table.columns
    after = columns[columns.index(text_column) + 1:]
    unnamed = [c for c in after if c.startswith("Unnamed:") or not c]
    if not unnamed or len(unnamed) != len(after) or table.delimiter in (None, _ONE_COLUMN_SEP):
        return texts, 0
    extra = [_strings(table, c) for c in unnamed]
    joined, continued = [], 0
    for i, text in enumerate(texts):
        parts = [e[i] for e in extra if e[i].strip()]
        if parts:
            continued += 1
            text = str(table.delimiter).join([text, *parts])
        joined.append(text)
    return joined, continued


def messages_of(table: Table, *, text_column: str | None = None,
                label_column: str | None = None, timestamp_column: str | None = None,
                labels: str = "optional", label_map: dict[str, str] | None = None,
                allow_unlabelled: bool = False, timestamps: str = "optional") -> Messages:
    """The messages of ``table``, normalised (see the module docstring).

    Args:
        labels: ``required`` (a label column must exist), ``optional`` or ``ignore``.
        allow_unlabelled: blank labels mean "not labelled" (replay) instead of an error.
        timestamps: ``required``, ``optional`` or ``ignore``.

    Raises:
        InvalidInput: a column is missing, a label cannot be mapped, a timestamp cannot be
            read, or the file has no non-blank text.
    """
    text_col = find_column(table, text_column, TEXT_COLUMNS, "text", "--text-column",
                           required=table.format not in ("text", "uci"))
    if text_col is None:
        text_col = table.columns[0]
    label_col = None
    if labels != "ignore":
        label_col = find_column(table, label_column, LABEL_COLUMNS, "label", "--label-column",
                                required=labels == "required")
        if label_col == text_col:
            label_col = None
    ts_col = None
    if timestamps != "ignore":
        ts_col = find_column(table, timestamp_column, TIMESTAMP_COLUMNS, "timestamp",
                             "--timestamp-column", required=timestamps == "required")
    raw_texts, continued = _run_on(table, text_col, _strings(table, text_col))
    rows = [i for i, t in enumerate(raw_texts) if t.strip()]
    texts = [raw_texts[i].strip() for i in rows]
    if not texts:
        raise InvalidInput(f"{table.path} has no messages (column `{text_col}` is blank)")
    mapped: list[str | None] | None = None
    counts: dict[str, int] = {}
    if label_col is not None:
        values = _strings(table, label_col)
        mapped, counts = normalise_labels(
            [values[i] for i in rows], rows, table.where, f"{table.path} column `{label_col}`",
            label_map or {}, allow_blank=allow_unlabelled)
    stamps = None
    if ts_col is not None:
        stamps = parse_timestamps(table, ts_col, rows)
    return Messages(
        source=str(table.path), format=table.format, encoding=table.encoding,
        text_column=text_col if table.format not in ("text",) else None,
        label_column=label_col, timestamp_column=ts_col, texts=texts, labels=mapped,
        timestamps=stamps, rows=rows, rows_read=len(raw_texts),
        blank_dropped=len(raw_texts) - len(texts), continued_rows=continued,
        label_counts=counts)


def read_messages(path: Path, *, encoding: str | None = None,
                  text_column: str | None = None) -> list[str]:
    """The texts of one file (labels ignored); raises ``InvalidInput`` when unusable."""
    table = read_table(path, encoding=encoding)
    return messages_of(table, text_column=text_column, labels="ignore",
                       timestamps="ignore").texts


def read_windows(path: Path, *, encoding: str | None = None,
                 text_column: str | None = None) -> list[tuple[str, list[str]]]:
    """``(source, messages)`` for a file, or for every ``*.txt`` of a directory (sorted)."""
    if path.is_dir():
        files = sorted(p for p in path.glob("*.txt") if p.is_file())
        if not files:
            raise InvalidInput(f"directory {path} has no *.txt window files")
        return [(str(f), read_messages(f, encoding=encoding, text_column=text_column))
                for f in files]
    return [(str(path), read_messages(path, encoding=encoding, text_column=text_column))]


def read_stdin_lines(raw: str) -> list[str]:
    """Messages from standard input: one per non-blank line."""
    texts = [line.strip() for line in raw.splitlines() if line.strip()]
    if not texts:
        raise InvalidInput("standard input has no messages")
    return texts
