"""The history database's tables as SQLAlchemy ORM classes (the schema that the named
migrations of :mod:`engine.store.migrations` build; :mod:`engine.store.storage` reads and writes it)."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.schemas import ChatSettings, Message, Session, Summary


class Base(DeclarativeBase):
    pass


class SessionRow(Base):
    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    settings: Mapped[str | None] = mapped_column(Text, nullable=True)
    """ChatSettings as JSON."""
    settings_updated_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    title_source: Mapped[str] = mapped_column(String(8), default="opening")
    """Who titled the chat: ``opening``, ``model`` or ``user`` (shared.schemas.TITLE_SOURCES)."""


class MessageRow(Base):
    __tablename__ = "messages"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(36), ForeignKey("sessions.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    service: Mapped[str | None] = mapped_column(String(64), nullable=True)
    finish_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    parent_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    window_from: Mapped[str | None] = mapped_column(String(36), nullable=True)
    saved_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    """An answer being generated: the database's clock at its last save (its heartbeat)."""


class SummaryRow(Base):
    __tablename__ = "summaries"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(36), ForeignKey("sessions.id", ondelete="CASCADE"))
    through_id: Mapped[str] = mapped_column(String(36))
    content: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    service: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)


class TombstoneRow(Base):
    __tablename__ = "tombstones"
    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    deleted_at: Mapped[float] = mapped_column(Float)


def columns(row: Any) -> dict[str, Any]:
    """An ORM row's column values, for a Core INSERT."""
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


def opening_title(content: str, limit: int = 60) -> str:
    """A new chat's title: its first question's words, on one line."""
    line = " ".join(content.split())
    return (line[: limit - 1] + "…") if len(line) > limit else (line or "New chat")


@dataclass
class ImportCounts:
    """What an import stored: new chats, new messages, and ids already stored (skipped)."""

    sessions: int = 0
    messages: int = 0
    skipped: int = 0


def session_row(session: Session) -> SessionRow:
    return SessionRow(
        id=session.id,
        title=session.title[:200],
        created_at=session.created_at,
        updated_at=session.updated_at,
        settings=json.dumps(session.settings.to_dict()) if session.settings else None,
        settings_updated_at=session.settings_updated_at if session.settings else None,
        title_source=session.title_source,
    )


def to_message(row: MessageRow) -> Message:
    return Message(**{f.name: getattr(row, f.name) for f in fields(Message)})


def to_summary(row: SummaryRow) -> Summary:
    return Summary(**{f.name: getattr(row, f.name) for f in fields(Summary)})


def to_session(
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
