"""The data home's secret key: a file outside the database, readable only by its owner.

Owns ``<home>/spamops.key`` (JSON: ``scheme``, ``key`` as hex, ``keyed_from``, ``created_at``),
created once with permissions 0600 by ``spamops setup-database`` (or the first writer). The
audit chain is an HMAC under a key derived from it (``engine.audit``), and spool segments
carry a tag under another derived key (``engine.store.spool``), so whoever can write the
database or drop files in ``spool/`` but cannot read this file cannot forge either.
``keyed_from`` is the first audit ``seq`` chained with the key: records before it are the
plain sha256 chain written before keys existed. It lives here, not in the database, so that
rewriting the database cannot move the switch point.

It must not know the database; it only reads and creates the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.errors import StoreError

KEY_FILE = "spamops.key"
"""Name of the key file inside the data home (beside, never inside, ``spamops.duckdb``)."""
SCHEME = "hmac-sha256"


@dataclass(frozen=True)
class DataKey:
    """The secret of one data home and where the keyed audit chain starts."""

    secret: bytes
    keyed_from: int = 1
    """First audit ``seq`` chained with HMAC; earlier records use plain sha256."""

    def derive(self, purpose: str) -> bytes:
        """A sub-key for one purpose (``audit``, ``spool``): HMAC-SHA256(secret, purpose)."""
        return hmac.new(self.secret, f"spamops {purpose}".encode(), hashlib.sha256).digest()


def load_key(path: Path) -> DataKey | None:
    """The key in ``path``, or ``None`` when there is none yet.

    Raises:
        StoreError: the file exists but is not a valid key file.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("scheme") != SCHEME:
            raise ValueError(f"unknown scheme {raw.get('scheme')!r}")
        return DataKey(bytes.fromhex(raw["key"]), int(raw["keyed_from"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"the key file {path} is not valid ({exc}); restore it from a "
                         "backup") from None


def load_or_create_key(path: Path, keyed_from: int) -> tuple[DataKey, bool]:
    """The key in ``path``, creating it (0600) with ``keyed_from`` if missing.

    Creation is atomic (written under a private name, then hard-linked into place, which
    fails if another process got there first), so two processes never end up with two keys.

    Returns:
        The key, and whether this call created it.
    """
    found = load_key(path)
    if found is not None:
        return found, False
    path.parent.mkdir(parents=True, exist_ok=True)
    key = DataKey(secrets.token_bytes(32), keyed_from)
    payload = json.dumps({"scheme": SCHEME, "key": key.secret.hex(), "keyed_from": keyed_from,
                          "created_at": datetime.now(UTC).isoformat(timespec="seconds")})
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, payload.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temporary, path)
        created = True
    except FileExistsError:
        created = False
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    if not created:
        existing = load_key(path)
        assert existing is not None
        return existing, False
    return key, True
