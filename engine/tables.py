"""The history database's tables as SQLAlchemy ORM classes (the schema that the named
migrations of :mod:`engine.migrations` build; :mod:`engine.storage` reads and writes it)."""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


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
