"""What differs between the databases the store runs on (SQLite, PostgreSQL), in one place."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Float, literal_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def engine_url(url: str) -> str:
    """The URL SQLAlchemy is given: ``postgresql://`` (and ``postgres://``) means psycopg 3,
    the driver we ship, where SQLAlchemy would pick psycopg2."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url.removeprefix(plain)
    return url


DIALECTS = ("sqlite", "postgresql")
"""The databases the history store runs on (Store refuses others when it opens)."""


def insert(dialect: str, table: Any) -> Any:
    """An INSERT that can say ``on_conflict_do_nothing()`` / ``on_conflict_do_update()``
    (both SQLite and PostgreSQL spell the clause ``ON CONFLICT``)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"the history database must be one of {', '.join(DIALECTS)}, not {dialect}")


def clock(dialect: str) -> ColumnElement[float]:
    """The database's own clock in Unix seconds: processes on several hosts writing one
    database agree on it even when their clocks do not."""
    if dialect == "postgresql":
        return literal_column("extract(epoch from clock_timestamp())::float8", Float)
    return literal_column("((julianday('now') - 2440587.5) * 86400.0)", Float)  # SQLite (DIALECTS)


MIGRATION_LOCK = 0x5275_5363  # "RuSc"
"""The PostgreSQL advisory lock that makes processes starting at once migrate one by one."""


def lock_for_migrations(conn: Connection) -> None:
    """Hold off other processes' migrations until this transaction ends (PostgreSQL; a
    SQLite file has one service)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
