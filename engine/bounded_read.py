"""Reading a message file or standard input in bounded chunks, refusing what never ends.

``engine.files`` (every command that reads a file of messages: ``predict --file``, ``drift``,
``data import``, ``feedback import``, ``replay``) reads its bytes through ``read_file_bytes``,
and ``predict --file -`` reads stdin through ``read_stream_bytes``. A path that is not a
regular file (``/dev/zero``, a named pipe, a socket, a device) is refused before it is
opened, from ``stat(2)`` (a symbolic link is followed: one to a regular file is read), so
nothing reads forever or blocks on a FIFO. The bytes are read ``CHUNK_BYTES`` at a time and
a physical line longer than ``MAX_LINE_BYTES`` stops the read at once with one line naming
the file and the line number, so a file (or stdin) without newlines cannot fill memory.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from engine.errors import InvalidInput

MAX_LINE_BYTES = 1 << 20
"""Longest physical line read (1 MiB): a message is at most 5000 characters
(``engine.services.results.MAX_TEXT_CHARS``, at most 20 000 bytes of UTF-8), so a CSV or
JSON Lines row with room for many other columns still fits, and nothing real is refused."""

CHUNK_BYTES = 1 << 20
"""Bytes read at a time."""

_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISDIR, "a directory"),
          (stat.S_ISLNK, "a symbolic link"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def file_kind(mode: int) -> str:
    """What a non-regular file is, for a one-line refusal: ``st_mode`` (from stat(2),
    lstat(2) or fstat(2)) -> "a named pipe (FIFO)", "a directory", ..."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def require_regular_file(path: Path) -> None:
    """Refuse ``path`` unless it is a regular file (symbolic links followed).

    Raises:
        InvalidInput: missing, or a FIFO, directory, device or socket (one line naming it).
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InvalidInput(f"file not found: {path}") from None
    except OSError as exc:
        raise InvalidInput(f"could not read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise InvalidInput(f"{path} is {file_kind(mode)}, not a regular file of messages")


def read_stream_bytes(stream: BinaryIO, name: str) -> bytes:
    """All bytes of ``stream``, read ``CHUNK_BYTES`` at a time.

    Raises:
        InvalidInput: a line is longer than ``MAX_LINE_BYTES`` (names ``name`` and the line).
    """
    parts: list[bytes] = []
    line, current = 1, 0  # the line being read and its bytes so far
    while chunk := stream.read(CHUNK_BYTES):
        pieces = chunk.split(b"\n")
        for i, piece in enumerate(pieces):
            current += len(piece)
            if current > MAX_LINE_BYTES:
                raise InvalidInput(f"{name}: line {line + i} is longer than {MAX_LINE_BYTES} "
                                   "bytes; is it a file of messages, one per line?")
            if i < len(pieces) - 1:
                current = 0
        line += len(pieces) - 1
        parts.append(chunk)
    return b"".join(parts)


def read_file_bytes(path: Path) -> bytes:
    """The bytes of a regular file, read in bounded chunks (``read_stream_bytes``).

    Raises:
        InvalidInput: not a regular file, unreadable, or a line too long (one line each).
    """
    require_regular_file(path)
    try:
        # O_NONBLOCK: had the name been swapped for a FIFO since the stat, open must not
        # block; fstat then checks what was really opened (open(2), fstat(2)).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidInput(f"could not read {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InvalidInput(f"{path} is not a regular file of messages")
        try:
            return read_stream_bytes(stream, str(path))
        except OSError as exc:
            raise InvalidInput(f"could not read {path}: {exc.strerror or exc}") from None
