from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from engine.storage import MIGRATIONS, ConflictError, Store
from shared.schemas import ChatMessage, Message


def test_migrations_apply_once_and_are_recorded(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    Store(url).close()
    Store(url).close()
    rows = sqlite3.connect(tmp_path / "h.sqlite3").execute("select name from migrations order by name").fetchall()
    assert [r[0] for r in rows] == [m.__name__ for m in MIGRATIONS]


def test_wal_mode_and_history_survives_reopening(tmp_path: Path):
    path = tmp_path / "h.sqlite3"
    store = Store(f"sqlite:///{path}")
    sid, question = str(uuid.uuid4()), ChatMessage(str(uuid.uuid4()), "user", "Where is Oslo?")
    store.add_user_message(sid, question)
    answer = Message(
        id=str(uuid.uuid4()),
        session_id=sid,
        role="assistant",
        content="In Norw",
        created_at=9e9,
        model="M",
        service="qwen",
        finish_reason="cancelled",
    )
    store.add_answer(answer)
    store.close()
    assert sqlite3.connect(path).execute("pragma journal_mode").fetchone()[0] == "wal"

    reopened = Store(f"sqlite:///{path}")
    session = reopened.get_session(sid)
    assert session is not None and session.title == "Where is Oslo?"
    assert [(m.role, m.content, m.finish_reason) for m in session.messages] == [
        ("user", "Where is Oslo?", None),
        ("assistant", "In Norw", "cancelled"),
    ]
    assert reopened.list_sessions()[0].message_count == 2


def test_user_message_is_idempotent_and_ids_cannot_move(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    sid, message = str(uuid.uuid4()), ChatMessage(str(uuid.uuid4()), "user", "hi")
    store.add_user_message(sid, message)
    store.add_user_message(sid, message)
    assert store.list_sessions()[0].message_count == 1
    with pytest.raises(ConflictError):
        store.add_user_message(str(uuid.uuid4()), message)


def test_rename_and_delete(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    sid = str(uuid.uuid4())
    store.add_user_message(sid, ChatMessage(str(uuid.uuid4()), "user", "hi"))
    renamed = store.rename_session(sid, "Greetings")
    assert renamed is not None and renamed.title == "Greetings"
    assert store.rename_session(str(uuid.uuid4()), "x") is None
    assert store.delete_session(sid) is True
    assert store.delete_session(sid) is False
    assert store.get_session(sid) is None and store.list_sessions() == []
