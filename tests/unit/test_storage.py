from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.store.migrations import MIGRATIONS
from engine.store.storage import ConflictError, Store
from shared.schemas import ChatMessage, Message


def applied(store: Store) -> list[str]:
    with store.db.connect() as conn:
        return list(conn.scalars(text("select name from migrations order by name")))


def test_migrations_apply_once_and_are_recorded(db_url: str):
    Store(db_url).close()
    store = Store(db_url)
    assert applied(store) == [m.__name__ for m in MIGRATIONS]
    store.close()


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


def test_user_message_is_idempotent_and_ids_cannot_move(store: Store):
    sid, message = str(uuid.uuid4()), ChatMessage(str(uuid.uuid4()), "user", "hi")
    store.add_user_message(sid, message)
    store.add_user_message(sid, message)
    assert store.list_sessions()[0].message_count == 1
    with pytest.raises(ConflictError):
        store.add_user_message(str(uuid.uuid4()), message)


def test_rename_and_delete(store: Store):
    sid = str(uuid.uuid4())
    store.add_user_message(sid, ChatMessage(str(uuid.uuid4()), "user", "hi"))
    renamed = store.update_session(sid, title="Greetings")
    assert renamed is not None and renamed.title == "Greetings"
    assert store.update_session(str(uuid.uuid4()), title="x") is None
    assert store.delete_session(sid) is True
    assert store.delete_session(sid) is False
    assert store.get_session(sid) is None and store.list_sessions() == []


def previous_release_database(path: Path) -> dict[str, list[str]]:
    """A history as the previous release wrote it (migrations m001, m002: no parents),
    with two linear chats; returns each chat's message ids in conversation order."""
    from sqlalchemy import create_engine

    from engine.store.migrations import m001_initial, m002_sessions_updated_index

    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        m001_initial(conn)
        m002_sessions_updated_index(conn)
    engine.dispose()
    db = sqlite3.connect(path)
    db.execute("create table migrations (name varchar(100) primary key, applied_at float not null)")
    db.executemany("insert into migrations values (?, 1.0)", [("m001_initial",), ("m002_sessions_updated_index",)])
    chats: dict[str, list[str]] = {}
    for sid, turns in ((str(uuid.uuid4()), 3), (str(uuid.uuid4()), 1)):
        db.execute("insert into sessions values (?, 'Chat', 1.0, 9.0)", (sid,))
        chats[sid] = []
        for turn in range(turns):
            at = 10.0 + turn
            for role in ("assistant", "user"):  # inserted answer first, same timestamp: the question still leads
                mid = str(uuid.uuid4())
                db.execute(
                    "insert into messages (id, session_id, role, content, created_at) values (?, ?, ?, ?, ?)",
                    (mid, sid, role, f"{role} {turn}", at),
                )
                chats[sid].append(mid)
            chats[sid][-2:] = chats[sid][-1:] + chats[sid][-2:-1]  # question, then answer
    db.commit()
    db.close()
    return chats


def test_m003_turns_existing_chats_into_chains_and_loses_nothing(tmp_path: Path):
    path = tmp_path / "previous.sqlite3"
    chats = previous_release_database(path)
    store = Store(f"sqlite:///{path}")
    for sid, ids in chats.items():
        session = store.get_session(sid)
        assert session is not None
        assert [m.id for m in session.messages] == ids
        assert [m.parent_id for m in session.messages] == [None, *ids[:-1]]
        assert [m.content for m in session.messages][:2] == ["user 0", "assistant 0"]
        assert session.settings is None  # chats of the previous release have none yet
    store.close()
    applied = sqlite3.connect(path).execute("select name from migrations order by name").fetchall()
    assert [name for (name,) in applied] == [m.__name__ for m in MIGRATIONS]


def test_a_question_id_is_reused_only_for_the_same_question(store: Store):
    sid, question = str(uuid.uuid4()), ChatMessage(str(uuid.uuid4()), "user", "hi")
    store.add_user_message(sid, question)
    assert store.add_user_message(sid, question).content == "hi"  # regenerating its answer
    with pytest.raises(ConflictError):
        store.add_user_message(sid, ChatMessage(question.id, "user", "something else"))
    with pytest.raises(ConflictError):
        store.add_user_message(sid, ChatMessage(question.id, "assistant", "hi"))
    assert [m.content for m in store.get_session(sid).messages] == ["hi"]  # type: ignore[union-attr]


def test_m005_adds_summaries_and_context_columns_to_a_database_of_the_previous_release(tmp_path: Path):
    from engine.store.migrations import m005_context_window
    from shared.schemas import Summary
    from tests.support import database_before

    path = tmp_path / "m004.sqlite3"
    db = database_before(path, m005_context_window)
    sid, qid, aid = (str(uuid.uuid4()) for _ in range(3))
    db.execute("insert into sessions (id, title, created_at, updated_at) values (?, 'Old', 1.0, 2.0)", (sid,))
    db.execute(
        "insert into messages (id, session_id, role, content, created_at) values (?, ?, 'user', 'hi', 1.0)", (qid, sid)
    )
    db.execute(
        "insert into messages (id, session_id, role, content, created_at, parent_id)"
        " values (?, ?, 'assistant', 'yo', 1.5, ?)",
        (aid, sid, qid),
    )
    db.commit()
    db.close()

    store = Store(f"sqlite:///{path}")
    session = store.get_session(sid)
    assert session is not None and [m.content for m in session.messages] == ["hi", "yo"]
    assert all(m.prompt_tokens is None and m.window_from is None for m in session.messages)
    assert session.summaries == ()
    summary = Summary(str(uuid.uuid4()), sid, qid, "They said hi.", 3.0, "M", "tinyllama")
    store.add_summary(summary)
    assert store.find_summary(sid, qid) == summary and store.find_summary(sid, aid) is None
    assert store.get_session(sid).summaries == (summary,)  # type: ignore[union-attr]
    assert store.delete_session(sid) and store.list_summaries(sid) == []
    store.close()
    applied = sqlite3.connect(path).execute("select name from migrations order by name").fetchall()
    assert [name for (name,) in applied] == [m.__name__ for m in MIGRATIONS]
