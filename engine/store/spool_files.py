"""Opening a file found in the spool directory without ever blocking or following a link.

Anyone who can write the data home can leave something other than a segment under a
segment's name: a named pipe (``open`` for reading blocks until a writer appears, so the
flush thread would hang for good), a directory, a symbolic link (to ``/dev/zero``, to a file
elsewhere), a device or a socket. Every scan of the spool opens its candidates through
``open_segment_file``: ``lstat`` first (a non-regular file is never opened), then
``O_RDONLY | O_NONBLOCK | O_NOFOLLOW`` and ``fstat`` on the descriptor (the name may have been
swapped in between), so the caller either gets a descriptor of a regular file or
``NotASegmentFile`` naming what it found, at once.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from engine.bounded_read import file_kind


class NotASegmentFile(Exception):
    """The spool entry is not a regular file; ``str()`` says what it is instead."""


def open_segment_file(path: Path) -> int:
    """A read-only descriptor of ``path``, which must be a regular file (the caller closes it).

    Never blocks (``O_NONBLOCK``) and never follows a symbolic link (``O_NOFOLLOW``); see
    open(2) and fstat(2).

    Raises:
        FileNotFoundError: it is gone (ingested or moved by another process meanwhile).
        NotASegmentFile: it is a FIFO, a directory, a symbolic link, a device or a socket.
    """
    mode = os.lstat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotASegmentFile(f"it is {file_kind(mode)}, not a regular file")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # swapped for a link after the lstat
            raise NotASegmentFile("it is a symbolic link, not a regular file") from None
        if exc.errno == errno.ENXIO:  # a socket
            raise NotASegmentFile("it is a socket, not a regular file") from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotASegmentFile(f"it is {file_kind(mode)}, not a regular file")
    return fd


def read_all(fd: int) -> bytes:
    """Every byte of the regular file open on ``fd``, from its start."""
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)

