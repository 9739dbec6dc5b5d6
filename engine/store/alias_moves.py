"""Champion changes as intents: the ``alias_moves`` table (migration 008).

Owns writing an intended alias move before the registry is touched, marking it finished, and
listing the ones left pending. It must not touch the registry or decide how a pending move
ends: ``engine.champion_switch`` does.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from engine.records import AliasMoveRecord
from engine.store.codec import row_of
from engine.store.connection import StoreBase


def _decode(row: dict[str, Any]) -> AliasMoveRecord:
    row["aliases_before"] = {k: int(v) for k, v in json.loads(row["aliases_before"]).items()}
    row["aliases_after"] = {k: int(v) for k, v in json.loads(row["aliases_after"]).items()}
    return AliasMoveRecord(**row)


class AliasMovesMixin(StoreBase):
    """Record, finish and list intended alias moves."""

    def begin_alias_move(self, move: AliasMoveRecord) -> None:
        """Record ``move`` (status ``pending``) before any alias is written."""
        self._upsert("alias_moves", row_of(move, ("aliases_before", "aliases_after")))

    def finish_alias_move(self, move: AliasMoveRecord, status: str,
                          finished_at: datetime) -> AliasMoveRecord:
        """Mark ``move`` ``done``, ``recovered`` or ``undone``; returns the stored record."""
        finished = dataclasses.replace(move, status=status, finished_at=finished_at)
        self._upsert("alias_moves", row_of(finished, ("aliases_before", "aliases_after")))
        return finished

    def pending_alias_moves(self) -> list[AliasMoveRecord]:
        """Moves whose process has not marked them finished, oldest first."""
        return self._records("SELECT * FROM alias_moves WHERE status = 'pending' "
                             "ORDER BY created_at, id", [], _decode)

    def alias_moves(self, limit: int = 50) -> list[AliasMoveRecord]:
        """Recorded moves, newest first."""
        return self._records(f"SELECT * FROM alias_moves ORDER BY created_at DESC, id "
                             f"LIMIT {int(limit)}", [], _decode)
