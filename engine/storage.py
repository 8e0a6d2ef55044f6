"""Chat history in SQL (SQLite by default) through SQLAlchemy 2.

The HTTP layer talks to :class:`Store`; nothing outside this module writes SQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlalchemy import (
    case,
    create_engine,
    delete,
    event,
    func,
    select,
    update,
)
from sqlalchemy.orm import sessionmaker

from engine.migrations import migrate
from engine.tables import MessageRow, SessionRow, SummaryRow, TombstoneRow
from shared.history import Tombstone
from shared.schemas import GENERATING, INTERRUPTED, ChatMessage, ChatSettings, Message, Session, Summary

_QUESTION_FIRST = case((MessageRow.role == "user", 0), else_=1)
"""Sorts a question before its answer when a coarse clock gave both one timestamp."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never wait for the writer, and a kill -9 mid-write leaves a
    # readable database. NORMAL sync is crash-safe in WAL mode.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class ConflictError(Exception):
    """A message id is taken: by another session, or by another message of this one."""


def _title_from(content: str, limit: int = 60) -> str:
    line = " ".join(content.split())
    return (line[: limit - 1] + "…") if len(line) > limit else (line or "New chat")


class Store:
    """Sessions and messages of one service."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, connect_args={"timeout": 15} if url.startswith("sqlite") else {})
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        migrate(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

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
        with self._session.begin() as db:
            session = db.get(SessionRow, session_id)
            if session is None:
                title = _title_from(first_question or message.content)
                session = SessionRow(id=session_id, title=title, created_at=now, updated_at=now)
                if settings is not None:
                    session.settings, session.settings_updated_at = json.dumps(settings.to_dict()), now
                db.add(session)
            existing = db.get(MessageRow, message.id)
            if existing is not None:
                if existing.session_id != session_id:
                    raise ConflictError(f"message {message.id} belongs to another session")
                if existing.role != message.role or existing.content != message.content:
                    raise ConflictError(f"message {message.id} is stored with other content")
                return _message(existing)
            row = MessageRow(
                id=message.id,
                session_id=session_id,
                role=message.role,
                content=message.content,
                created_at=now,
                parent_id=parent_id,
            )
            db.add(row)
            session.updated_at = now
        return _message(row)

    def add_answer(self, message: Message) -> None:
        """Store an answer: one that has ended, or (finish reason ``generating``) one that
        starts now and grows through :meth:`save_progress` until :meth:`finish_answer`."""
        with self._session.begin() as db:
            db.add(MessageRow(**asdict(message)))
            db.execute(update(SessionRow).where(SessionRow.id == message.session_id).values(updated_at=time.time()))

    def get_message(self, session_id: str, message_id: str) -> Message | None:
        with self._session() as db:
            row = db.get(MessageRow, message_id)
            return _message(row) if row is not None and row.session_id == session_id else None

    def resume_answer(self, message_id: str) -> str | None:
        """Mark a stored answer as generating again (it is being continued); its text, or
        None if it is gone."""
        with self._session.begin() as db:
            row = db.get(MessageRow, message_id)
            if row is None:
                return None
            row.finish_reason, row.error = GENERATING, None
            return row.content

    def save_progress(self, message_id: str, content: str) -> None:
        """Write the text of an answer that is still generating (never over an ended one)."""
        with self._session.begin() as db:
            db.execute(
                update(MessageRow)
                .where(MessageRow.id == message_id, MessageRow.finish_reason == GENERATING)
                .values(content=content)
            )

    def finish_answer(self, message_id: str, content: str, finish_reason: str, error: str | None) -> None:
        """Record an answer's whole text and how it ended (nothing if its chat was deleted)."""
        with self._session.begin() as db:
            row = db.get(MessageRow, message_id)
            if row is None:
                return
            row.content, row.finish_reason, row.error = content, finish_reason, error
            db.execute(update(SessionRow).where(SessionRow.id == row.session_id).values(updated_at=time.time()))

    def mark_interrupted(self, service: str) -> int:
        """At start: this service's answers still marked generating died with an earlier
        process; mark them ``interrupted`` (their text is what was last saved)."""
        with self._session.begin() as db:
            result = db.execute(
                update(MessageRow)
                .where(MessageRow.finish_reason == GENERATING, MessageRow.service == service)
                .values(finish_reason=INTERRUPTED)
            )
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
            return _summary(row) if row is not None else None

    def list_summaries(self, session_id: str) -> list[Summary]:
        with self._session() as db:
            rows = db.scalars(
                select(SummaryRow).where(SummaryRow.session_id == session_id).order_by(SummaryRow.created_at)
            )
            return [_summary(row) for row in rows]

    def list_sessions(self) -> list[Session]:
        counts = select(MessageRow.session_id, func.count().label("n")).group_by(MessageRow.session_id).subquery()
        query = (
            select(SessionRow, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.session_id == SessionRow.id)
            .order_by(SessionRow.updated_at.desc())
        )
        with self._session() as db:
            return [_session(row, count) for row, count in db.execute(query)]

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
            return _session(
                row, len(messages), tuple(_message(m) for m in messages), tuple(_summary(s) for s in summaries)
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
                messages.setdefault(m.session_id, []).append(_message(m))
            summaries: dict[str, list[Summary]] = {}
            for x in db.scalars(select(SummaryRow).order_by(SummaryRow.created_at)):
                summaries.setdefault(x.session_id, []).append(_summary(x))
        return [
            _session(
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
        with self._session.begin() as db:
            known_sessions = _existing(db, SessionRow.id, [s.id for s in sessions])
            known_messages = _existing(db, MessageRow.id, message_ids)
            known_summaries = _existing(db, SummaryRow.id, summary_ids)
            for session in sessions:
                new_messages = [m for m in session.messages if m.id not in known_messages]
                if session.id in known_sessions:
                    counts.skipped += 1
                    row = db.get(SessionRow, session.id)
                    if row is not None and new_messages:
                        row.updated_at = max(row.updated_at, *(m.created_at for m in new_messages))
                else:
                    counts.sessions += 1
                    db.add(_session_row(session))
                db.flush()  # the session row first: messages reference it
                for message in new_messages:
                    finish = INTERRUPTED if message.finish_reason == GENERATING else message.finish_reason
                    db.add(MessageRow(**{**asdict(message), "finish_reason": finish}))
                db.add_all(SummaryRow(**asdict(x)) for x in session.summaries if x.id not in known_summaries)
                counts.messages += len(new_messages)
                counts.skipped += len(session.messages) - len(new_messages)
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
            db.merge(TombstoneRow(session_id=session_id, deleted_at=time.time()))
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


@dataclass
class ImportCounts:
    """What an import stored: new chats, new messages, and ids already stored (skipped)."""

    sessions: int = 0
    messages: int = 0
    skipped: int = 0


def _existing(db: Any, column: Any, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` are stored (asked in chunks: SQL bounds a statement's parameters)."""
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        found.update(db.scalars(select(column).where(column.in_(ids[start : start + 500]))))
    return found


def _session_row(session: Session) -> SessionRow:
    return SessionRow(
        id=session.id,
        title=session.title[:200],
        created_at=session.created_at,
        updated_at=session.updated_at,
        settings=json.dumps(session.settings.to_dict()) if session.settings else None,
        settings_updated_at=session.settings_updated_at if session.settings else None,
        title_source=session.title_source,
    )


def _message(row: MessageRow) -> Message:
    return Message(**{f.name: getattr(row, f.name) for f in fields(Message)})


def _summary(row: SummaryRow) -> Summary:
    return Summary(**{f.name: getattr(row, f.name) for f in fields(Summary)})


def _session(
    row: SessionRow, count: int, messages: tuple[Message, ...] = (), summaries: tuple[Summary, ...] = ()
) -> Session:
    return Session(
        id=row.id,
        title=row.title,
        created_at=row.created_at,
        updated_at=row.updated_at,
        message_count=count,
        messages=messages,
        settings=ChatSettings.from_dict(json.loads(row.settings)) if row.settings else None,
        settings_updated_at=row.settings_updated_at or 0.0,
        summaries=summaries,
        title_source=row.title_source,
    )
