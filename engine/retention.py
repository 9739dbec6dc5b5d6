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
- **Evaluation-set messages** (``evaluation_messages``, recent labels held out of retrains
  and scored in later comparisons): deleted once labelled more than ``text_days`` ago.
- **The key**: a sub-key (``retention text``) of the data home key ``<home>/spamops.key``
  (``engine.datakey``, mode 0600, backups include it). With it an operator can tell whether a
  given message was seen; without it a short text cannot be guessed from its hash.

``prune`` is run by ``spamops prune`` and daily by the scheduler (job ``prune``); every prune
is audited by the caller (``Services.prune``). This module reads no clock: ``now`` is
passed in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.registry import Registry
    from engine.store import Store

logger = logging.getLogger("spamops.retention")

KEY_PURPOSE = "retention text"
"""What the data home key's sub-key for text hashes is derived for (``DataKey.derive``)."""


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
    evaluation_texts_dropped: int
    """Evaluation-set messages labelled before the cutoff, deleted (would be)."""
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
                                         or self.caches_dropped
                                         or self.evaluation_texts_dropped)


def text_key(store: Store) -> bytes:
    """The HMAC key of pruned texts: the data home key's ``retention text`` sub-key (the key
    file is created, and the audit chain marks it, if the home has none yet)."""
    return store.ensure_audit_key().derive(KEY_PURPOSE)


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
        evaluation = store.evaluation_texts_older_than(cutoff)
    else:
        texts = store.prune_texts(cutoff, text_key(store))
        evaluation = store.drop_evaluation_texts(cutoff)
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
                       texts_pruned_before=before, evaluation_texts_dropped=evaluation,
                       references_kept=tuple(sorted(kept)),
                       references_dropped=tuple(sorted(dropped)), caches_dropped=caches)
