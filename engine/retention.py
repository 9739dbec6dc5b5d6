"""Retention of personal data: prediction texts, drift references, and the key that hashes.

What is kept, for how long, and where (the README's "Retention and privacy" says the same for
operators):

- **Prediction texts** (``predictions.text`` in ``<home>/spamops.duckdb``): for
  ``retention.text_days`` days (default 90). Then ``prune`` replaces each by HMAC-SHA256 with
  the home's key and its length (``engine.store.retention``). Times, labels, probabilities,
  versions and true labels stay, so daily traffic/accuracy, drift windows and decisions are
  unchanged.
- **Drift references** (``reference_texts.parquet`` of each MLflow run, and the detectors
  built from them under ``<home>/cache/drift``): only the champion's, and a challenger's while
  it waits for approval. Older versions' are deleted; if one of them becomes champion again
  (rollback), its drift reference falls back to the persisted training split.
- **The key** (``<home>/retention.key``, 32 random bytes as hex, mode 0600): created on the
  first prune and kept with the home (backups include it). With it an operator can tell
  whether a given message was seen; without it a short text cannot be guessed from its hash.

``prune`` is run by ``spamops prune`` and daily by the scheduler (job ``prune``); every prune
that changes something is audited by the caller. This module reads no clock: ``now`` is
passed in.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import SpamopsError

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.registry import Registry
    from engine.store import Store

logger = logging.getLogger("spamops.retention")

KEY_FILE = "retention.key"
"""The HMAC key's file name inside the data home."""


@dataclass(frozen=True)
class PruneReport:
    """What one prune did (or, with ``dry_run``, would do)."""

    cutoff: datetime
    """Texts of predictions older than this (naive UTC) are pruned."""
    text_days: int
    dry_run: bool
    texts_pruned: int
    """Prediction texts replaced by their hash in this run (would be, with ``dry_run``)."""
    texts_pruned_before: int
    """Predictions whose text had already been pruned."""
    references_kept: tuple[int, ...]
    """Versions whose drift reference stays: the champion (and a pending challenger)."""
    references_dropped: tuple[int, ...]
    """Versions whose drift reference was (would be) deleted."""
    caches_dropped: int
    """Cached drift detectors of those versions deleted (would be)."""

    @property
    def changed(self) -> bool:
        """Whether the prune removed anything."""
        return not self.dry_run and bool(self.texts_pruned or self.references_dropped
                                         or self.caches_dropped)


def retention_key(home: Path, *, create: bool) -> bytes | None:
    """The home's HMAC key; created (0600, never overwritten) when ``create`` and missing.

    Raises:
        SpamopsError: the key file exists but cannot be read or is not a key.
    """
    path = home / KEY_FILE
    if not path.exists():
        if not create:
            return None
        home.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it a moment ago
            return retention_key(home, create=False)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise SpamopsError(f"{path} is not a retention key (64 hex characters): {exc}") from None
    if len(key) < 16:
        raise SpamopsError(f"{path} is too short to be a retention key")
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
        logger.warning("%s was readable by others; its mode is now 0600", path)
    return key


def _cache_versions(cache_dir: Path) -> dict[int, list[Path]]:
    found: dict[int, list[Path]] = {}
    if cache_dir.is_dir():
        for path in cache_dir.glob("v*-*.joblib"):
            head = path.name.split("-", 1)[0][1:]
            if head.isdigit():
                found.setdefault(int(head), []).append(path)
    return found


def prune(*, settings: Settings, store: Store, registry: Registry | None, now: datetime,
          dry_run: bool = False) -> PruneReport:
    """Apply the retention policy of ``settings`` at ``now`` (naive UTC).

    Args:
        registry: the home's registry, or None when it has none yet (nothing to drop there).
        dry_run: count what would be pruned, change nothing (no key is created).
    """
    from engine.registry import CHALLENGER, CHAMPION

    days = settings.retention.text_days
    cutoff = now - timedelta(days=days)
    before = store.pruned_texts()
    if dry_run:
        texts = store.texts_older_than(cutoff)
    else:
        key = retention_key(settings.home, create=True)
        assert key is not None
        texts = store.prune_texts(cutoff, key)
    kept: set[int] = set()
    dropped: list[int] = []
    if registry is not None:
        versions = registry.versions()
        kept = {v.version for v in versions if CHAMPION in v.aliases or CHALLENGER in v.aliases}
        if kept:  # with no champion, nothing is in service to keep a reference for
            for info in versions:
                if info.version not in kept and registry.drop_reference_texts(
                        info.version, dry_run=dry_run):
                    dropped.append(info.version)
    caches = 0
    if kept:
        for version, paths in _cache_versions(settings.home / "cache" / "drift").items():
            if version in kept:
                continue
            for path in paths:
                caches += 1
                if not dry_run:
                    path.unlink(missing_ok=True)
    return PruneReport(cutoff=cutoff, text_days=days, dry_run=dry_run, texts_pruned=texts,
                       texts_pruned_before=before, references_kept=tuple(sorted(kept)),
                       references_dropped=tuple(sorted(dropped)), caches_dropped=caches)
