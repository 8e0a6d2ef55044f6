"""Chat history in SQL (SQLite by default) through SQLAlchemy 2.

The HTTP layer talks to :class:`Store`; nothing outside this module writes SQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import (
    case,
    create_engine,
    delete,
    event,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import sessionmaker

from engine.store import dialects, search, sqlite_files
from engine.store.migrations import migrate
from engine.store.tables import (
    ImportCounts,
    MessageRow,
    SessionRow,
    SummaryRow,
    TombstoneRow,
    columns,
    opening_title,
    session_row,
    to_message,
    to_session,
    to_summary,
)
from shared.history import Tombstone
from shared.schemas import GENERATING, INTERRUPTED, ChatMessage, ChatSettings, Message, Session, Summary
from shared.search import SearchHit

_QUESTION_FIRST = case((MessageRow.role == "user", 0), else_=1)
"""Sorts a question before its answer when a coarse clock gave both one timestamp."""

STALE_AFTER = 5.0
"""Seconds without a save after which an answer still marked generating has lost its
writer (a process saves its running answers every half second)."""


def _later(now: float) -> Any:
    """``updated_at`` moved to ``now`` unless a concurrent writer already moved it further."""
    return case((SessionRow.updated_at < now, now), else_=SessionRow.updated_at)


class ConflictError(Exception):
    """A message id is taken: by another session, or by another message of this one."""


class Store:
    """Sessions and messages of one service."""

    def __init__(self, url: str) -> None:
        url = dialects.engine_url(url)
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        if url.startswith("sqlite"):
            self.db = create_engine(url, connect_args={"timeout": 15})
            event.listen(self.db, "connect", sqlite_files.set_pragmas)
        else:  # a server: a connection may have gone away between two requests
            self.db = create_engine(url, pool_pre_ping=True)
        self.dialect = self.db.dialect.name
        self.exclusive = self.dialect == "sqlite"
        """Only this process writes the database (a SQLite file the service holds), so at
        start every answer still marked generating lost its writer; a server's database
        (PostgreSQL) may have other services writing it beside this one."""
        if self.dialect not in dialects.DIALECTS:
            raise ValueError(f"the history database must be SQLite or PostgreSQL, not {self.dialect}")
        migrate(self.db)
        self._fts = self.dialect == "sqlite" and search.has_index(self.db)
        self._session = sessionmaker(self.db, expire_on_commit=False)

    def _insert(self, table: Any) -> Any:
        return dialects.insert(self.dialect, table)

    def close(self) -> None:
        self.db.dispose()

    def search(self, query: str, limit: int, *, fts: bool | None = None) -> list[SearchHit]:
        """The best ``limit`` messages and titles for ``query`` (engine.store.search)."""
        return search.search(self.db, query, limit, fts=fts)

    def add_user_message(
        self,
        session_id: str,
        message: ChatMessage,
        first_question: str | None = None,
        parent_id: str | None = None,
        settings: ChatSettings | None = None,
    ) -> Message:
        """Store the new user message under ``parent_id``, creating its session on first use.

        Storing the same question again is a no-op (an answer is being regenerated); the
        same id with other text or another role is a conflict. A new session is titled
        after ``first_question``, the chat's opening message: a service that joins a chat
        midway (model switch) titles it as the other did, and keeps ``settings`` (those the
        chat was asked with) as the chat's own.
        """
        now = time.time()
        # INSERT .. ON CONFLICT DO NOTHING, not look-then-insert: another process may be
        # storing the same chat or the same message at this very moment.
        session = SessionRow(id=session_id, title=opening_title(first_question or message.content))
        session.title_source = "opening"
        session.created_at = session.updated_at = now
        if settings is not None:
            session.settings, session.settings_updated_at = json.dumps(settings.to_dict()), now
        row = MessageRow(
            id=message.id,
            session_id=session_id,
            role=message.role,
            content=message.content,
            created_at=now,
            parent_id=parent_id,
        )
        with self._session.begin() as db:
            db.execute(self._insert(SessionRow).values(columns(session)).on_conflict_do_nothing())
            new = self._insert(MessageRow).values(columns(row)).on_conflict_do_nothing().returning(MessageRow.id)
            if db.execute(new).first() is None:
                existing = db.get(MessageRow, message.id)
                if existing is None:  # deleted with its chat by another process just now
                    raise ConflictError(f"message {message.id} was deleted while being stored")
                if existing.session_id != session_id:
                    raise ConflictError(f"message {message.id} belongs to another session")
                if existing.role != message.role or existing.content != message.content:
                    raise ConflictError(f"message {message.id} is stored with other content")
                return to_message(existing)
            db.execute(update(SessionRow).where(SessionRow.id == session_id).values(updated_at=_later(now)))
        return to_message(row)

    def add_answer(self, message: Message) -> None:
        """Store an answer: one that has ended, or (finish reason ``generating``) one that
        starts now and grows through :meth:`save_progress` until :meth:`finish_answer`."""
        saved_at = dialects.clock(self.dialect) if message.finish_reason == GENERATING else None
        with self._session.begin() as db:
            db.execute(self._insert(MessageRow).values(**asdict(message), saved_at=saved_at))
            db.execute(
                update(SessionRow).where(SessionRow.id == message.session_id).values(updated_at=_later(time.time()))
            )

    def get_message(self, session_id: str, message_id: str) -> Message | None:
        with self._session() as db:
            row = db.get(MessageRow, message_id)
            return to_message(row) if row is not None and row.session_id == session_id else None

    def resume_answer(self, message_id: str) -> str | None:
        """Mark a stored answer as generating again (it is being continued); its text, or
        None if it is gone."""
        with self._session.begin() as db:
            row = db.get(MessageRow, message_id)
            if row is None:
                return None
            row.finish_reason, row.error, row.saved_at = GENERATING, None, dialects.clock(self.dialect)
            return row.content

    def save_progress(self, message_id: str, content: str) -> None:
        """Write the text of an answer that is still generating (never over an ended one)."""
        with self._session.begin() as db:
            db.execute(
                update(MessageRow)
                .where(MessageRow.id == message_id, MessageRow.finish_reason == GENERATING)
                .values(content=content, saved_at=dialects.clock(self.dialect))
            )

    def touch_answers(self, message_ids: Collection[str]) -> None:
        """Renew the heartbeat of answers still generating whose text has not grown (a long
        prompt is being read, or the answer waits in the queue)."""
        if not message_ids:
            return
        with self._session.begin() as db:
            db.execute(
                update(MessageRow)
                .where(MessageRow.id.in_(list(message_ids)), MessageRow.finish_reason == GENERATING)
                .values(saved_at=dialects.clock(self.dialect))
            )

    def finish_answer(self, message_id: str, content: str, finish_reason: str, error: str | None) -> None:
        """Record an answer's whole text and how it ended (nothing if its chat was deleted)."""
        with self._session.begin() as db:
            row = db.get(MessageRow, message_id)
            if row is None:
                return
            row.content, row.finish_reason, row.error = content, finish_reason, error
            db.execute(update(SessionRow).where(SessionRow.id == row.session_id).values(updated_at=_later(time.time())))

    def mark_interrupted(self, stale_after: float | None = STALE_AFTER, keep: Collection[str] = ()) -> int:
        """Answers still marked generating but not saved for ``stale_after`` seconds lost
        their writer (a process that died): mark them ``interrupted``, their text being what
        was last saved. Answers that another process beside this one is writing keep their
        heartbeat fresh and are left alone; ``keep``: this process's own. ``stale_after``
        None: every answer not kept, whatever its heartbeat (no other process writes here)."""
        query = update(MessageRow).where(MessageRow.finish_reason == GENERATING)
        if stale_after is not None:
            clock = dialects.clock(self.dialect)
            query = query.where(or_(MessageRow.saved_at.is_(None), MessageRow.saved_at < clock - stale_after))
        if keep:
            query = query.where(MessageRow.id.not_in(list(keep)))
        with self._session.begin() as db:
            result = db.execute(query.values(finish_reason=INTERRUPTED))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def add_summary(self, summary: Summary) -> None:
        with self._session.begin() as db:
            db.add(SummaryRow(**asdict(summary)))

    def find_summary(self, session_id: str, through_id: str) -> Summary | None:
        """The newest summary of ``session_id``'s messages up to ``through_id``, if any."""
        with self._session() as db:
            row = db.scalars(
                select(SummaryRow)
                .where(SummaryRow.session_id == session_id, SummaryRow.through_id == through_id)
                .order_by(SummaryRow.created_at.desc())
                .limit(1)
            ).first()
            return to_summary(row) if row is not None else None

    def list_summaries(self, session_id: str) -> list[Summary]:
        with self._session() as db:
            rows = db.scalars(
                select(SummaryRow).where(SummaryRow.session_id == session_id).order_by(SummaryRow.created_at)
            )
            return [to_summary(row) for row in rows]

    def list_sessions(self, limit: int | None = None, before: tuple[float, str] | None = None) -> list[Session]:
        """Chats newest first by (updated_at, id): at most ``limit``, only those past ``before``.

        Walks the (updated_at, id) index (m009) and counts only the listed chats' messages."""
        count = (
            select(func.count()).where(MessageRow.session_id == SessionRow.id).correlate(SessionRow).scalar_subquery()
        )
        query = select(SessionRow, count).order_by(SessionRow.updated_at.desc(), SessionRow.id.desc())
        if before is not None:
            query = query.where(tuple_(SessionRow.updated_at, SessionRow.id) < tuple_(*before))
        if limit is not None:
            query = query.limit(limit)
        with self._session() as db:
            return [to_session(row, count) for row, count in db.execute(query)]

    def get_session(self, session_id: str) -> Session | None:
        with self._session() as db:
            row = db.get(SessionRow, session_id)
            if row is None:
                return None
            messages = db.scalars(
                select(MessageRow)
                .where(MessageRow.session_id == session_id)
                .order_by(MessageRow.created_at, _QUESTION_FIRST, MessageRow.id)
            ).all()
            summaries = db.scalars(
                select(SummaryRow).where(SummaryRow.session_id == session_id).order_by(SummaryRow.created_at)
            ).all()
            return to_session(
                row, len(messages), tuple(to_message(m) for m in messages), tuple(to_summary(s) for s in summaries)
            )

    def update_session(
        self, session_id: str, title: str | None = None, settings: ChatSettings | None = None
    ) -> Session | None:
        """Rename a chat and/or replace its settings; None if there is no such chat."""
        now = time.time()
        with self._session.begin() as db:
            row = db.get(SessionRow, session_id)
            if row is None:
                return None
            if title is not None:
                row.title, row.title_source = title, "user"
            if settings is not None:
                row.settings, row.settings_updated_at = json.dumps(settings.to_dict()), now
            row.updated_at = now
        return self.get_session(session_id)

    def set_model_title(self, session_id: str, title: str) -> bool:
        """Title a chat with the model's proposal, unless it has a better title by now (the
        user's, or another model title): one conditional UPDATE, so that a rename racing it
        wins. The chat keeps its place in the history (``updated_at`` stays)."""
        with self._session.begin() as db:
            result = db.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id, SessionRow.title_source == "opening")
                .values(title=title, title_source="model")
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def title_source(self, session_id: str) -> str | None:
        """Who titled the chat (None: no such chat)."""
        with self._session() as db:
            return db.scalar(select(SessionRow.title_source).where(SessionRow.id == session_id))

    def export_sessions(self, session_id: str | None = None) -> list[Session]:
        """Every chat whole (messages, settings, summaries), newest first; or only ``session_id``."""
        if session_id is not None:
            session = self.get_session(session_id)
            return [session] if session is not None else []
        # Three queries in all, not two per chat: an export of 10,000 chats stays quick.
        with self._session() as db:
            rows = db.scalars(select(SessionRow).order_by(SessionRow.updated_at.desc())).all()
            messages: dict[str, list[Message]] = {}
            for m in db.scalars(select(MessageRow).order_by(MessageRow.created_at, _QUESTION_FIRST, MessageRow.id)):
                messages.setdefault(m.session_id, []).append(to_message(m))
            summaries: dict[str, list[Summary]] = {}
            for x in db.scalars(select(SummaryRow).order_by(SummaryRow.created_at)):
                summaries.setdefault(x.session_id, []).append(to_summary(x))
        return [
            to_session(
                row, len(messages.get(row.id, ())), tuple(messages.get(row.id, ())), tuple(summaries.get(row.id, ()))
            )
            for row in rows
        ]

    def import_sessions(self, sessions: Sequence[Session]) -> ImportCounts:
        """Store imported chats in one transaction, skipping every id already stored: a
        chat already here keeps its title and settings and gains only the messages and
        summaries it lacks; a message id stored in another chat is skipped. Answers marked
        ``generating`` are stored as ``interrupted`` (nothing here is writing them)."""
        message_ids = [m.id for s in sessions for m in s.messages]
        summary_ids = [x.id for s in sessions for x in s.summaries]
        counts = ImportCounts()
        # Every insert is ON CONFLICT DO NOTHING: the same file imported twice at once
        # (another process, another tab) stores each row once and fails neither import.
        with self._session.begin() as db:
            known_sessions = _existing(db, SessionRow.id, [s.id for s in sessions])
            known_messages = _existing(db, MessageRow.id, message_ids)
            known_summaries = _existing(db, SummaryRow.id, summary_ids)
            new_sessions, new_messages, new_summaries = [], [], []
            for session in sessions:
                messages = [m for m in session.messages if m.id not in known_messages]
                if session.id in known_sessions:
                    counts.skipped += 1
                    if messages:
                        latest = max(m.created_at for m in messages)
                        db.execute(
                            update(SessionRow).where(SessionRow.id == session.id).values(updated_at=_later(latest))
                        )
                else:
                    counts.sessions += 1
                    new_sessions.append(columns(session_row(session)))
                for message in messages:
                    finish = INTERRUPTED if message.finish_reason == GENERATING else message.finish_reason
                    new_messages.append({**asdict(message), "finish_reason": finish, "saved_at": None})
                new_summaries += [asdict(x) for x in session.summaries if x.id not in known_summaries]
                counts.messages += len(messages)
                counts.skipped += len(session.messages) - len(messages)
            # Sessions first: messages and summaries reference them.
            for table, rows in ((SessionRow, new_sessions), (MessageRow, new_messages), (SummaryRow, new_summaries)):
                if rows:
                    db.execute(self._insert(table).on_conflict_do_nothing(), rows)
        # Imported after a deletion here: the import wins (the page asks the other services
        # to forget theirs too, POST /api/tombstones/forget).
        self.forget_tombstones([s.id for s in sessions])
        return counts

    def delete_session(self, session_id: str) -> bool:
        with self._session.begin() as db:
            if db.get(SessionRow, session_id) is None:
                return False
            db.execute(delete(SummaryRow).where(SummaryRow.session_id == session_id))
            db.execute(delete(MessageRow).where(MessageRow.session_id == session_id))
            db.execute(delete(SessionRow).where(SessionRow.id == session_id))
            now = time.time()
            tombstone = self._insert(TombstoneRow).values(session_id=session_id, deleted_at=now)
            db.execute(tombstone.on_conflict_do_update(index_elements=["session_id"], set_={"deleted_at": now}))
        if self.dialect == "sqlite":
            sqlite_files.wipe_deleted(self.db, self._fts)
        return True

    def forget_tombstones(self, session_ids: Sequence[str]) -> int:
        """Let these chats live here again (they were imported after their deletion)."""
        forgotten = 0
        with self._session.begin() as db:
            for start in range(0, len(session_ids), 500):
                chunk = list(session_ids[start : start + 500])
                result = db.execute(delete(TombstoneRow).where(TombstoneRow.session_id.in_(chunk)))
                forgotten += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return forgotten

    def list_tombstones(self) -> list[Tombstone]:
        """The chats deleted here, newest deletion first."""
        with self._session() as db:
            rows = db.scalars(select(TombstoneRow).order_by(TombstoneRow.deleted_at.desc())).all()
            return [Tombstone(row.session_id, row.deleted_at) for row in rows]


def _existing(db: Any, column: Any, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` are stored (asked in chunks: SQL bounds a statement's parameters)."""
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        found.update(db.scalars(select(column).where(column.in_(ids[start : start + 500]))))
    return found
