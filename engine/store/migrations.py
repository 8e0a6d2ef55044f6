"""The history database's schema changes: named, ordered, applied once and recorded.

Each migration spells out its own tables, so that later changes to the ORM classes of
:mod:`engine.store.storage` never rewrite history (the pattern of simonw/llm's migrations).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import (
    Column,
    Engine,
    Float,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    case,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection

from engine.store.dialects import lock_for_migrations


def m001_initial(conn: Connection) -> None:
    meta = MetaData()
    Table(
        "sessions",
        meta,
        Column("id", String(36), primary_key=True),
        Column("title", String(200), nullable=False),
        Column("created_at", Float, nullable=False),
        Column("updated_at", Float, nullable=False),
    )
    Table(
        "messages",
        meta,
        Column("id", String(36), primary_key=True),
        Column("session_id", String(36), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
        Column("role", String(16), nullable=False),
        Column("content", Text, nullable=False),
        Column("created_at", Float, nullable=False),
        Column("model", String(200)),
        Column("service", String(64)),
        Column("finish_reason", String(16)),
        Column("error", Text),
        Index("ix_messages_session_created", "session_id", "created_at"),
    )
    meta.create_all(conn)


def m002_sessions_updated_index(conn: Connection) -> None:
    Index("ix_sessions_updated", Table("sessions", MetaData(), autoload_with=conn).c.updated_at).create(conn)


def m003_message_tree(conn: Connection) -> None:
    """Chats become trees: each message names its parent; existing chats become chains
    (each message follows the one before it, a question before its answer)."""
    conn.execute(text("ALTER TABLE messages ADD COLUMN parent_id VARCHAR(36)"))
    messages = Table("messages", MetaData(), autoload_with=conn)
    Index("ix_messages_parent", messages.c.parent_id).create(conn)
    ordered = conn.execute(
        select(messages.c.id, messages.c.session_id).order_by(
            messages.c.session_id,
            messages.c.created_at,
            case((messages.c.role == "user", 0), else_=1),
            messages.c.id,
        )
    )
    links, previous = [], (None, None)
    for message_id, session_id in ordered:
        if previous[1] == session_id:
            links.append({"mid": message_id, "pid": previous[0]})
        previous = (message_id, session_id)
    if links:
        conn.execute(
            update(messages).where(messages.c.id == bindparam("mid")).values(parent_id=bindparam("pid")), links
        )


def m004_session_settings(conn: Connection) -> None:
    """Each chat keeps its own system prompt and sampling settings."""
    conn.execute(text("ALTER TABLE sessions ADD COLUMN settings TEXT"))
    conn.execute(text("ALTER TABLE sessions ADD COLUMN settings_updated_at FLOAT"))


def m005_context_window(conn: Connection) -> None:
    """Long chats: summaries of the messages that left the model's window, and on each
    answer how long its prompt was and where the model's view of the branch began."""
    conn.execute(text("ALTER TABLE messages ADD COLUMN prompt_tokens INTEGER"))
    conn.execute(text("ALTER TABLE messages ADD COLUMN window_from VARCHAR(36)"))
    meta = MetaData()
    Table("sessions", meta, autoload_with=conn)
    Table(
        "summaries",
        meta,
        Column("id", String(36), primary_key=True),
        Column("session_id", String(36), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
        Column("through_id", String(36), nullable=False),
        Column("content", Text, nullable=False),
        Column("model", String(200)),
        Column("service", String(64)),
        Column("created_at", Float, nullable=False),
        Index("ix_summaries_session_through", "session_id", "through_id"),
    )
    meta.tables["summaries"].create(conn)


def fts5_available(conn: Connection) -> bool:
    """Whether this SQLite build has FTS5 (the one in Python's own builds does)."""
    return bool(conn.execute(text("SELECT sqlite_compileoption_used('ENABLE_FTS5')")).scalar())


def m006_message_search(conn: Connection) -> None:
    """Full-text search over the messages' text: an FTS5 index that reads the text from
    ``messages`` (external content, keyed on its rowid), kept in step by triggers and
    filled with the messages already stored. Nothing on other databases or on a SQLite
    built without FTS5: search then falls back to LIKE (engine.store.search).

    ``messages`` has no INTEGER PRIMARY KEY, so a VACUUM may renumber its rowids; the
    store never runs one. After a manual VACUUM, rebuild the index:
    ``INSERT INTO message_search(message_search) VALUES ('rebuild')``."""
    if conn.dialect.name != "sqlite" or not fts5_available(conn):
        return
    conn.execute(
        text(
            "CREATE VIRTUAL TABLE message_search USING fts5(content, content='messages', content_rowid='rowid',"
            " tokenize='unicode61 remove_diacritics 2')"
        )
    )
    conn.execute(
        text(
            "CREATE TRIGGER message_search_insert AFTER INSERT ON messages BEGIN"
            " INSERT INTO message_search(rowid, content) VALUES (new.rowid, new.content); END"
        )
    )
    conn.execute(
        text(
            "CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN"
            " INSERT INTO message_search(message_search, rowid, content) VALUES ('delete', old.rowid, old.content);"
            " END"
        )
    )
    conn.execute(
        text(
            "CREATE TRIGGER message_search_update AFTER UPDATE OF content ON messages BEGIN"
            " INSERT INTO message_search(message_search, rowid, content) VALUES ('delete', old.rowid, old.content);"
            " INSERT INTO message_search(rowid, content) VALUES (new.rowid, new.content); END"
        )
    )
    conn.execute(text("INSERT INTO message_search(message_search) VALUES ('rebuild')"))


def m007_tombstones(conn: Connection) -> None:
    """Deleted chats leave a tombstone, so that a copy on a service that was down goes too."""
    Table(
        "tombstones",
        MetaData(),
        Column("session_id", String(36), primary_key=True),
        Column("deleted_at", Float, nullable=False),
    ).create(conn)


def m008_title_source(conn: Connection) -> None:
    """Who titled each chat: ``opening`` (its first question's words, what every chat of
    an earlier release has), ``model`` (written by the fast model) or ``user`` (a rename,
    which a model's title never replaces)."""
    conn.execute(text("ALTER TABLE sessions ADD COLUMN title_source VARCHAR(8) NOT NULL DEFAULT 'opening'"))


def m009_sessions_page_index(conn: Connection) -> None:
    """The chat list is read in pages ordered by (updated_at, id): one index serves both
    the order and the cursor's range, and replaces the one on updated_at alone."""
    conn.execute(text("DROP INDEX IF EXISTS ix_sessions_updated"))
    conn.execute(text("CREATE INDEX ix_sessions_updated_id ON sessions (updated_at, id)"))


SEARCHED_CHARS = 100_000
"""PostgreSQL indexes the first this many characters of a message for search (a tsvector
holds at most 1 MB: a longer text could not be stored at all)."""


def m010_shared_database(conn: Connection) -> None:
    """Several processes may write one database (PostgreSQL): an answer being written
    carries a heartbeat, ``saved_at`` (the database's clock at its last save), so that a
    process takes over only the answers whose writer is gone, not those of a process
    beside it. On PostgreSQL, its own full-text index over the messages' text."""
    conn.execute(text("ALTER TABLE messages ADD COLUMN saved_at FLOAT"))
    messages = Table("messages", MetaData(), autoload_with=conn)
    generating = messages.c.finish_reason == "generating"
    Index("ix_messages_generating", messages.c.saved_at, sqlite_where=generating, postgresql_where=generating).create(
        conn
    )
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(
                "CREATE INDEX ix_messages_search ON messages"
                f" USING gin (to_tsvector('simple'::regconfig, left(content, {SEARCHED_CHARS})))"
            )
        )


MIGRATIONS: list[Callable[[Connection], None]] = [
    m001_initial,
    m002_sessions_updated_index,
    m003_message_tree,
    m004_session_settings,
    m005_context_window,
    m006_message_search,
    m007_tombstones,
    m008_title_source,
    m009_sessions_page_index,
    m010_shared_database,
]

_migrations_table = Table(
    "migrations", MetaData(), Column("name", String(100), primary_key=True), Column("applied_at", Float, nullable=False)
)


def migrate(engine: Engine) -> list[str]:
    """Apply the migrations not yet recorded; return the names applied now."""
    applied_now = []
    with engine.begin() as conn:
        lock_for_migrations(conn)
        _migrations_table.create(conn, checkfirst=True)
        done = set(conn.scalars(select(_migrations_table.c.name)))
        for migration in MIGRATIONS:
            if migration.__name__ in done:
                continue
            migration(conn)
            conn.execute(_migrations_table.insert().values(name=migration.__name__, applied_at=time.time()))
            applied_now.append(migration.__name__)
    return applied_now
