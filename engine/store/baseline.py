"""The accepted drift baseline: windows each champion has handled (issue 13, item 3).

Owns the ``accepted_baseline`` table (migration 005): typed writes and reads, and the reset
that ``spamops baseline reset`` runs. It decides nothing: monitoring decides what is accepted.
"""

from __future__ import annotations

from engine.records import BaselineWindow
from engine.store.codec import row_of
from engine.store.connection import StoreBase


class BaselineMixin(StoreBase):
    """Accepted baseline windows per champion version."""

    def save_baseline_window(self, window: BaselineWindow) -> None:
        """Insert (or replace, by id) an accepted window."""
        self._upsert("accepted_baseline", row_of(window))

    def baseline_windows(self, champion_version: int | None = None, *,
                         include_reset: bool = False) -> list[BaselineWindow]:
        """Accepted windows, oldest first; of one champion when given; reset ones on request."""
        where, params = [], []
        if champion_version is not None:
            where.append("champion_version = ?")
            params.append(champion_version)
        if not include_reset:
            where.append("reset_at IS NULL")
        sql = "SELECT * FROM accepted_baseline"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self._records(sql + " ORDER BY accepted_at, id", params,
                             lambda row: BaselineWindow(**row))

    def reset_baseline(self, champion_version: int, *, actor: str) -> list[BaselineWindow]:
        """Mark every active accepted window of ``champion_version`` as reset; returns them."""
        active = self.baseline_windows(champion_version)
        if not active:
            return []
        now = self.clock.now()
        with self._transaction() as con:
            con.execute("UPDATE accepted_baseline SET reset_at = ?, reset_by = ? "
                        "WHERE champion_version = ? AND reset_at IS NULL",
                        [now, actor, champion_version])
        return active
