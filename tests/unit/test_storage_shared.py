"""One database, several writers: what two service processes on one PostgreSQL (or two
stores on one SQLite file) do at the same time must neither fail nor lose a row."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text

from engine.store.dialects import engine_url
from engine.store.migrations import MIGRATIONS, m008_title_source, m010_shared_database
from engine.store.storage import Store
from shared.schemas import GENERATING, ChatMessage, Message, Session
from tests.postgres import PostgresServer
from tests.support import engine_before


@pytest.fixture
def two(db_url: str) -> Iterator[tuple[Store, Store]]:
    """Two stores on one database, each with its own connections: two processes."""
    first, second = Store(db_url), Store(db_url)
    yield first, second
    first.close()
    second.close()


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; their results (re-raising any error)."""
    start, results, errors = threading.Barrier(len(calls)), [None] * len(calls), []

    def run(i: int, call: Callable[[], Any]) -> None:
        start.wait()
        try:
            results[i] = call()
        except BaseException as error:  # reported to the test below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if errors:
        raise errors[0]
    return results


def answer(session_id: str, parent_id: str, content: str, finish: str = "stop", at: float = 2.0) -> Message:
    return Message(str(uuid.uuid4()), session_id, "assistant", content, at, "M", "qwen", finish, parent_id=parent_id)


def test_postgresql_urls_mean_psycopg_3():
    assert engine_url("postgresql://me@db.example/chat") == "postgresql+psycopg://me@db.example/chat"
    assert engine_url("postgres://me@host/chat") == "postgresql+psycopg://me@host/chat"
    assert engine_url("postgresql+psycopg://me@host/chat") == "postgresql+psycopg://me@host/chat"
    assert engine_url("sqlite:///x.sqlite3") == "sqlite:///x.sqlite3"


def test_a_plain_postgresql_url_works_and_processes_starting_at_once_migrate_once(postgres: PostgresServer):
    url = postgres.create_database().replace("postgresql+psycopg://", "postgresql://")
    stores = at_once(*(lambda: Store(url) for _ in range(4)))
    with stores[0].db.connect() as conn:
        names = list(conn.scalars(text("select name from migrations order by name")))
    assert names == [m.__name__ for m in MIGRATIONS]
    for store in stores:
        store.close()


def test_two_writers_on_one_chat_and_on_their_own_chats_lose_nothing(two: tuple[Store, Store]):
    shared = str(uuid.uuid4())

    def write(store: Store, turns: int = 15) -> list[str]:
        ids, own = [], str(uuid.uuid4())
        for turn in range(turns):
            for session_id in (shared, own):
                question = store.add_user_message(session_id, ChatMessage(str(uuid.uuid4()), "user", f"q{turn}"))
                reply = answer(session_id, question.id, f"a{turn}")
                store.add_answer(reply)
                ids += [question.id, reply.id]
        return ids

    written = at_once(*(lambda s=store: write(s) for store in two * 2))
    sessions = two[0].list_sessions()
    assert len(sessions) == 1 + 4
    stored = {m.id for s in sessions for m in two[1].get_session(s.id).messages}  # type: ignore[union-attr]
    assert stored == {i for ids in written for i in ids}
    assert next(s for s in sessions if s.id == shared).message_count == 4 * 15 * 2


def test_the_same_file_imported_twice_at_once_is_stored_once(two: tuple[Store, Store]):
    sessions = []
    for n in range(20):
        sid, qid = str(uuid.uuid4()), str(uuid.uuid4())
        messages = (
            Message(qid, sid, "user", f"question {n}", 1.0 + n),
            answer(sid, qid, f"answer {n}", finish=GENERATING, at=1.5 + n),
        )
        sessions.append(Session(sid, f"Chat {n}", 1.0, 2.0 + n, len(messages), messages))
    at_once(*(lambda s=store: s.import_sessions(sessions) for store in two))
    again = two[0].import_sessions(sessions)
    assert (again.sessions, again.messages) == (0, 0)
    exported = {s.id: s for s in two[1].export_sessions()}
    assert set(exported) == {s.id for s in sessions}
    for session in sessions:
        assert [m.id for m in exported[session.id].messages] == [m.id for m in session.messages]
        assert exported[session.id].messages[1].finish_reason == "interrupted"


def test_a_chat_deleted_twice_at_once_leaves_one_tombstone(two: tuple[Store, Store]):
    sid = str(uuid.uuid4())
    two[0].add_user_message(sid, ChatMessage(str(uuid.uuid4()), "user", "hi"))
    assert True in at_once(*(lambda s=store: s.delete_session(sid) for store in two))
    assert [t.session_id for t in two[1].list_tombstones()] == [sid]
    assert two[0].get_session(sid) is None


def test_m010_gives_the_previous_release_s_answers_a_heartbeat(db_url: str):
    """A database the previous release wrote: its answer left generating (saved_at NULL)
    counts as stale; its messages are found by search (PostgreSQL: the new index)."""
    engine = engine_before(db_url, m010_shared_database)
    sid, qid, aid = (str(uuid.uuid4()) for _ in range(3))
    with engine.begin() as conn:
        conn.execute(
            text("insert into sessions (id, title, created_at, updated_at) values (:s, 'Old', 1.0, 2.0)"), {"s": sid}
        )
        insert = text(
            "insert into messages (id, session_id, role, content, created_at, finish_reason, parent_id)"
            " values (:id, :s, :role, :content, 1.0, :finish, :parent)"
        )
        conn.execute(
            insert, {"id": qid, "s": sid, "role": "user", "content": "Which fjord?", "finish": None, "parent": None}
        )
        conn.execute(
            insert,
            {"id": aid, "s": sid, "role": "assistant", "content": "The Sogne", "finish": GENERATING, "parent": qid},
        )
    engine.dispose()

    store = Store(db_url)
    try:
        assert [m.id for m in store.get_session(sid).messages] == [qid, aid]  # type: ignore[union-attr]
        assert store.mark_interrupted() == 1
        assert store.get_message(sid, aid).finish_reason == "interrupted"  # type: ignore[union-attr]
        assert [h.message_id for h in store.search("fjord", 10)] == [qid]
    finally:
        store.close()


def test_m008_titles_the_previous_release_s_chats_by_their_opening_words(db_url: str):
    """The release before m008 had m009 and m010 too: m008 comes last to its databases."""
    engine = engine_before(db_url, m008_title_source)
    sid = str(uuid.uuid4())
    with engine.begin() as conn:
        for later in MIGRATIONS[MIGRATIONS.index(m008_title_source) + 1 :]:
            later(conn)
            conn.execute(text("insert into migrations values (:name, 1.0)"), {"name": later.__name__})
        conn.execute(
            text("insert into sessions (id, title, created_at, updated_at) values (:s, 'Old', 1.0, 2.0)"), {"s": sid}
        )
    engine.dispose()

    store = Store(db_url)
    try:
        session = store.get_session(sid)
        assert session is not None and (session.title, session.title_source) == ("Old", "opening")
        assert store.set_model_title(sid, "Model's title") and not store.set_model_title(sid, "Another")
        store.update_session(sid, title="Mine")
        assert (store.title_source(sid), store.get_session(sid).title) == ("user", "Mine")  # type: ignore[union-attr]
        new = str(uuid.uuid4())
        store.add_user_message(new, ChatMessage(str(uuid.uuid4()), "user", "Hello"))
        assert store.title_source(new) == "opening"
    finally:
        store.close()


def test_postgresql_search_is_served_by_its_index(postgres: PostgresServer):
    store = Store(postgres.create_database())
    try:
        sid = str(uuid.uuid4())
        store.add_user_message(sid, ChatMessage(str(uuid.uuid4()), "user", "Oslo in winter"))
        with store.db.connect() as conn:
            conn.execute(text("set enable_seqscan = off"))
            plan = conn.execute(
                text(
                    "explain select id from messages"
                    " where to_tsvector('simple'::regconfig, left(content, 100000)) @@ to_tsquery('simple', 'oslo')"
                )
            ).all()
        assert "ix_messages_search" in " ".join(row[0] for row in plan)
    finally:
        store.close()


def test_an_answer_s_whole_life_and_the_chat_s_settings_and_summaries(db_url: str):
    """Every write the service makes, on each database."""
    from shared.schemas import ChatSettings, Summary

    store = Store(db_url)
    try:
        sid = str(uuid.uuid4())
        settings = ChatSettings.from_dict({"system": "Be brief."})
        question = store.add_user_message(sid, ChatMessage(str(uuid.uuid4()), "user", "Hi"), settings=settings)
        reply = answer(sid, question.id, "", finish=GENERATING, at=question.created_at + 1)
        store.add_answer(reply)
        store.save_progress(reply.id, "Hel")
        store.touch_answers([reply.id])
        store.finish_answer(reply.id, "Hello", "cancelled", None)
        store.save_progress(reply.id, "never over an ended answer")
        assert store.resume_answer(reply.id) == "Hello"
        store.finish_answer(reply.id, "Hello there", "stop", None)
        store.add_summary(Summary(str(uuid.uuid4()), sid, question.id, "A greeting.", 3.0, "M", "qwen"))
        renamed = store.update_session(sid, title="Greeting", settings=ChatSettings.from_dict({"system": "Be kind."}))
        assert renamed is not None and renamed.settings is not None and renamed.settings.system == "Be kind."
        [exported] = store.export_sessions()
        assert [(m.content, m.finish_reason) for m in exported.messages] == [("Hi", None), ("Hello there", "stop")]
        assert [x.content for x in exported.summaries] == ["A greeting."] and exported.title == "Greeting"
        assert store.mark_interrupted(stale_after=0) == 0  # nothing is generating
    finally:
        store.close()
