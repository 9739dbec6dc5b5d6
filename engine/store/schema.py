"""Schema and migrations: the numbered ``engine/sql/NNN_*.sql`` files, run in order.

Owns ``schema_version`` and applying migrations (each in its own transaction with its version
row; idempotent). A released migration is never edited: a change is a new file. PostgreSQL
runs the same numbered list, where ``engine/sql/postgres/NNN_*.sql`` replaces the file of the
same number whose SQL only DuckDB understands (types, ``arg_max``, integer division); the
schema version and the ``v_*`` views are the same on both.
"""

from __future__ import annotations

import logging
import re
from importlib import resources
from typing import Any

from engine.errors import StoreError
from engine.store.connection import Connection, StoreBase

logger = logging.getLogger("spamops.store")


def migrations(dialect: str = "duckdb") -> list[tuple[int, str, str]]:
    """The numbered migration files shipped in ``engine/sql``: (version, name, sql); for
    ``postgresql``, a file of ``engine/sql/postgres`` replaces the one with its number."""
    found = _numbered(resources.files("engine").joinpath("sql"))
    if dialect == "postgresql":
        found.update(_numbered(resources.files("engine").joinpath("sql", "postgres")))
    return sorted((version, name, sql) for version, (name, sql) in found.items())


def _numbered(directory: Any) -> dict[int, tuple[str, str]]:
    found = {}
    for entry in directory.iterdir():
        match = re.fullmatch(r"(\d{3})_(\w+)\.sql", entry.name)
        if match:
            found[int(match.group(1))] = (entry.name, entry.read_text(encoding="utf-8"))
    return found


SCHEMA_VERSION = max(version for version, _, _ in migrations())
"""The schema version this code expects (the highest migration shipped)."""


class SchemaMixin(StoreBase):
    """Create or upgrade the schema; report its version."""

    # Schema --------------------------------------------------------------------------------
    def migrate(self) -> int:
        """Create or upgrade the schema (idempotent), recover orphan spool segments.

        Returns:
            The schema version now in place.
        """
        if self.read_only:
            raise StoreError("a read-only store cannot migrate: run `spamops setup-database`")
        if self._pg is not None:
            current = self._migrate_postgres()
            self.ensure_audit_key()
            self.recover_spool()
            return current
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with self._connection(write=True, create=True) as con:
            con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY "
                        "KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)")
            # Every shipped migration not applied yet runs, not only those above the highest
            # applied: branches take numbers in parallel, so a file numbered below one already
            # applied (005 landing after 011) must still run.
            applied = {int(r[0]) for r in con.execute("SELECT version FROM schema_version")
                       .fetchall()}
            current = max(applied, default=0)
            for version, name, sql in migrations():
                if version in applied:
                    continue
                con.execute("BEGIN TRANSACTION")
                try:
                    con.execute(sql)
                    con.execute("INSERT INTO schema_version VALUES (?, ?, ?)",
                                [version, name, self.clock.now()])
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
                logger.info("applied migration %s", name)
                current = max(current, version)
        self.ensure_audit_key()
        self.recover_spool()
        return current

    def _migrate_postgres(self) -> int:
        """Every pending migration in one transaction (PostgreSQL's DDL is transactional:
        all or nothing), under an advisory lock so hosts starting together migrate once."""
        with self._transaction() as con:
            return self._apply_postgres_migrations(con)

    def _apply_postgres_migrations(self, con: Connection) -> int:
        """The pending PostgreSQL migrations on ``con``, inside the caller's transaction."""
        self._serialise(con, "migrate")
        con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY "
                    "KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)")
        applied = {int(r[0]) for r in con.execute("SELECT version FROM schema_version")
                   .fetchall()}
        current = max(applied, default=0)
        for version, name, sql in migrations("postgresql"):
            if version in applied:
                continue
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?, ?)",
                        [version, name, self.clock.now()])
            logger.info("applied migration %s (postgresql)", name)
            current = max(current, version)
        return current

    def schema_version(self) -> int:
        """The schema version of the database file (0 before the first migration)."""
        with self._connection(write=False) as con:
            exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE "
                                 "table_name = 'schema_version' AND "
                                 "table_schema = current_schema()").fetchone()
            if not exists or not exists[0]:
                return 0
            row = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        return int(row[0]) if row else 0

