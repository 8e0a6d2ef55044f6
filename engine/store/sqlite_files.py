"""What the SQLite files need beyond SQL: connection pragmas, and wiping deleted rows.

A deleted chat must be in no file of ours afterwards: not in the database's free pages,
not in the full-text index's older segments, not in the write-ahead log.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

WIPE_ATTEMPTS = 5
"""Checkpoints tried after a delete while readers hold the WAL."""


def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Set on every new connection (a SQLAlchemy ``connect`` event)."""
    cursor = dbapi_connection.cursor()
    # WAL: readers never wait for the writer, and a kill -9 mid-write leaves a
    # readable database. NORMAL sync is crash-safe in WAL mode.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted rows' bytes are overwritten with zeros, not left in free pages and free space
    # inside pages (where a deleted chat's words would stay readable in the file).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def wipe_deleted(db: Engine, fts: bool) -> None:
    """Leave no copy of deleted rows in the SQLite files (PostgreSQL: see README, Privacy).

    secure_delete zeroed their bytes in the database's pages, but FTS5 keeps deleted
    terms in its older index segments until they merge ('optimize' merges them all,
    leaving the deleted terms out), and the WAL keeps the pages as they were before
    the deletion until a checkpoint: TRUNCATE copies the pages into the database and
    empties the WAL file. A checkpoint that readers hold off is tried again."""
    with db.connect() as conn:
        if fts:
            conn.exec_driver_sql("INSERT INTO message_search(message_search) VALUES ('optimize')")
            conn.commit()
        for attempt in range(WIPE_ATTEMPTS):
            busy, *_ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            conn.commit()
            if not busy:
                return
            time.sleep(0.05 * (attempt + 1))
    log.warning("a checkpoint after a delete was held off by readers: the WAL empties at the next one")
