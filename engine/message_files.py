"""Reading message files given on the command line: one message per line, CSV/TSV, UCI.

Owns the file formats of ``spamops drift`` (and any command that takes message files):

- a text file with one message per line;
- a CSV or TSV file whose header has a ``text`` column;
- the UCI format, ``label<TAB>text`` with label ``ham`` or ``spam``;
- a directory, as a window source: every ``*.txt`` file in it, sorted by name.

Empty or unreadable input raises ``InvalidInput`` with a one-line message. This module reads
files and nothing else: it knows no model and writes nothing.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from engine.errors import InvalidInput

_UCI_LABELS = ("ham\t", "spam\t")


def _read_text(path: Path) -> str:
    if not path.exists():
        raise InvalidInput(f"file not found: {path}")
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory, expected a file of messages")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise InvalidInput(f"could not read {path}: {exc.strerror or exc}") from None


def _delimiter(header: str, path: Path) -> str | None:
    """The delimiter of a CSV/TSV header naming a ``text`` column, else None."""
    candidates = ["\t", ","] if path.suffix.lower() != ".csv" else [",", "\t"]
    for delimiter in candidates:
        columns = [c.strip().strip('"').lower() for c in header.split(delimiter)]
        if len(columns) > 1 and "text" in columns:
            return delimiter
    if path.suffix.lower() in (".csv", ".tsv"):
        raise InvalidInput(f"{path} has no `text` column in its header")
    return None


def parse_messages(raw: str, path: Path) -> list[str]:
    """The messages of one file's content (see the module docstring for the formats)."""
    lines = [line for line in raw.splitlines() if line.strip()]
    if not lines:
        raise InvalidInput(f"{path} has no messages")
    delimiter = _delimiter(lines[0], path)
    if delimiter is not None:
        reader = csv.DictReader(io.StringIO(raw), delimiter=delimiter)
        key = next(k for k in (reader.fieldnames or []) if k.strip().strip('"').lower() == "text")
        try:
            texts = [(row.get(key) or "").strip() for row in reader]
        except csv.Error as exc:
            raise InvalidInput(f"{path} is not valid CSV: {exc}") from None
    elif all(line.startswith(_UCI_LABELS) for line in lines):
        texts = [line.split("\t", 1)[1].strip() for line in lines]
    else:
        texts = [line.strip() for line in lines]
    texts = [t for t in texts if t]
    if not texts:
        raise InvalidInput(f"{path} has no messages")
    return texts


def read_messages(path: Path) -> list[str]:
    """The messages of one file; raises ``InvalidInput`` when missing, unreadable or empty."""
    return parse_messages(_read_text(path), path)


def read_windows(path: Path) -> list[tuple[str, list[str]]]:
    """``(source, messages)`` for a file, or for every ``*.txt`` of a directory (sorted)."""
    if path.is_dir():
        files = sorted(p for p in path.glob("*.txt") if p.is_file())
        if not files:
            raise InvalidInput(f"directory {path} has no *.txt window files")
        return [(str(f), read_messages(f)) for f in files]
    return [(str(path), read_messages(path))]
