"""Answers that outlive their request: disconnects, reattach, explicit stop, saving as they grow."""

from __future__ import annotations

import uuid
from dataclasses import replace

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from engine.app import create_app, shutdown
from engine.chat.live import LiveAnswer, LiveAnswers
from engine.config import ServiceConfig
from engine.scheduling.jobs import Job
from engine.store.storage import STALE_AFTER, Store
from engine.store.tables import MessageRow
from shared.schemas import ChatMessage, Message
from tests.conftest import sse_events
from tests.fakes import FakeEngine
from tests.postgres import PostgresServer
from tests.support import wait_until
from tests.unit.test_app import assert_error, chat_body


def stored(client: FlaskClient, session_id: str) -> list[dict]:
    return client.get(f"/api/sessions/{session_id}").get_json()["messages"]


def start_and_leave(client: FlaskClient, body: dict, pieces: int = 3) -> str:
    """Start a chat answer, read ``pieces`` tokens, hang up; the answer's id."""
    response = client.post("/api/chat", json=body, buffered=False)
    received = ""
    for raw in response.response:
        received += raw if isinstance(raw, str) else raw.decode()
        if received.count('"content":"w') >= pieces:
            break
    response.close()  # what the WSGI server does when the socket goes away
    first = sse_events(received)[0]
    return first["ruschat"]["message_id"]


def text_of(events: list) -> str:
    return "".join(e["choices"][0]["delta"].get("content", "") for e in events if e != "[DONE]")


def test_a_client_that_hangs_up_does_not_stop_the_answer(client: FlaskClient, engine: FakeEngine):
    engine.pieces = [f"w{i} " for i in range(40)]
    engine.delay = 0.01
    body = chat_body()
    answer_id = start_and_leave(client, body)
    answer = wait_until(lambda: (m := stored(client, body["session_id"])[1])["finish_reason"] != "generating" and m)
    assert answer["id"] == answer_id
    assert (answer["finish_reason"], answer["content"]) == ("stop", "".join(engine.pieces))


def test_the_answer_is_stored_at_once_and_saved_as_it_grows(config: ServiceConfig):
    engine = FakeEngine(pieces=[f"w{i} " for i in range(300)], delay=0.01)
    app = create_app(config, engine=engine)
    client = app.test_client()
    try:
        body = chat_body()
        answer_id = start_and_leave(client, body)
        # Stored from the start, marked generating; its text reaches the database while it grows.
        first = stored(client, body["session_id"])[1]
        assert (first["id"], first["finish_reason"]) == (answer_id, "generating")
        grown = wait_until(lambda: len((m := stored(client, body["session_id"])[1])["content"].split()) >= 20 and m)
        assert grown["finish_reason"] == "generating"
        assert grown["content"].startswith("w0 w1 w2 ")
    finally:
        shutdown(app)
    # The service went away mid-answer: what it had is kept, marked interrupted.
    restarted = create_app(config, engine=FakeEngine())
    try:
        answer = stored(restarted.test_client(), body["session_id"])[1]
        assert answer["finish_reason"] == "interrupted"
        assert len(answer["content"].split()) >= 20
    finally:
        shutdown(restarted)


def age_heartbeat(store: Store, message_id: str, seconds: float) -> None:
    """Make an answer look as if its writer last saved it ``seconds`` ago."""
    with store.db.begin() as conn:
        conn.execute(
            update(MessageRow).where(MessageRow.id == message_id).values(saved_at=MessageRow.saved_at - seconds)
        )


def test_answers_left_generating_by_a_killed_process_are_interrupted_on_start(config: ServiceConfig, app: Flask):
    client = app.test_client()
    body = chat_body()
    client.post("/api/chat", json=body).get_data()
    answer_id = stored(client, body["session_id"])[1]["id"]
    store = app.extensions["ruschat"].store
    store.resume_answer(answer_id)  # as a process killed mid-answer leaves it...
    store.save_progress(answer_id, "Hello, wor")
    age_heartbeat(store, answer_id, STALE_AFTER + 1)  # ...a while ago
    other = create_app(config, engine=FakeEngine())
    try:
        answer = stored(other.test_client(), body["session_id"])[1]
        assert (answer["finish_reason"], answer["content"]) == ("interrupted", "Hello, wor")
    finally:
        shutdown(other)


def fresh_generating_answer(client: FlaskClient, store: Store) -> tuple[str, str]:
    """A chat whose answer another process is writing right now (its heartbeat is fresh)."""
    body = chat_body()
    client.post("/api/chat", json=body).get_data()
    answer_id = stored(client, body["session_id"])[1]["id"]
    store.resume_answer(answer_id)
    store.save_progress(answer_id, "Hello, wor")
    return body["session_id"], answer_id


def test_on_a_sqlite_file_every_generating_answer_is_interrupted_at_start(config: ServiceConfig, app: Flask):
    """Only this service writes its SQLite file: an answer still marked generating when it
    starts lost its writer, however fresh its last save (a kill -9 a moment ago)."""
    session_id, answer_id = fresh_generating_answer(app.test_client(), app.extensions["ruschat"].store)
    restarted = create_app(config, engine=FakeEngine())
    try:
        answer = stored(restarted.test_client(), session_id)[1]
        assert (answer["id"], answer["finish_reason"], answer["content"]) == (answer_id, "interrupted", "Hello, wor")
    finally:
        shutdown(restarted)


def test_a_second_process_on_postgresql_leaves_the_running_answers_of_the_first_alone(
    config: ServiceConfig, postgres: PostgresServer
):
    """Two processes on one shared database: the second one's start and its periodic sweeps
    take only answers whose heartbeat stopped."""
    config = replace(config, database_url=postgres.create_database())
    app = create_app(config, engine=FakeEngine())
    try:
        store = app.extensions["ruschat"].store
        session_id, answer_id = fresh_generating_answer(app.test_client(), store)
        other = create_app(config, engine=FakeEngine())
        try:
            live = other.extensions["ruschat"].live
            assert stored(other.test_client(), session_id)[1]["finish_reason"] == "generating"
            assert live.sweep() == 0
            store.touch_answers([answer_id])  # the writer's heartbeat, while its text does not grow
            age_heartbeat(store, answer_id, STALE_AFTER - 2)
            assert live.sweep() == 0
            age_heartbeat(store, answer_id, 3)  # then the writer died
            assert live.sweep() == 1
            answer = stored(other.test_client(), session_id)[1]
            assert (answer["finish_reason"], answer["content"]) == ("interrupted", "Hello, wor")
        finally:
            shutdown(other)
    finally:
        shutdown(app)


def test_the_saver_keeps_a_waiting_answers_heartbeat_and_sweeps_dead_ones(config: ServiceConfig):
    store = Store(config.database_url)
    live = LiveAnswers(store, save_every=0.05, sweep_every=0.1)
    try:
        sid = str(uuid.uuid4())
        question = store.add_user_message(sid, ChatMessage(str(uuid.uuid4()), "user", "hi"))
        ours, dead = (
            Message(str(uuid.uuid4()), sid, "assistant", "", 1.0, finish_reason="generating", parent_id=question.id)
            for _ in range(2)
        )
        store.add_answer(ours)
        store.add_answer(dead)
        job = Job(prompt=None, params=None, on_finish=lambda _: None)  # type: ignore[arg-type]
        live.add(LiveAnswer(sid, ours.id, job))
        age_heartbeat(store, ours.id, STALE_AFTER + 1)  # a slow save: ours still is not swept
        age_heartbeat(store, dead.id, STALE_AFTER + 1)
        wait_until(lambda: store.get_message(sid, dead.id).finish_reason == "interrupted", 5, "the sweep")  # type: ignore[union-attr]
        assert store.get_message(sid, ours.id).finish_reason == "generating"  # type: ignore[union-attr]
    finally:
        live.close()
        store.close()


def test_reattach_gives_the_text_so_far_then_the_rest(client: FlaskClient, engine: FakeEngine):
    engine.pieces = [f"w{i} " for i in range(60)]
    engine.delay = 0.01
    body = chat_body()
    answer_id = start_and_leave(client, body, pieces=5)
    url = f"/api/sessions/{body['session_id']}/messages/{answer_id}/stream"
    events = sse_events(client.get(url).get_data(as_text=True))
    assert events[-1] == "[DONE]"
    assert events[0]["ruschat"] == {"message_id": answer_id, "session_id": body["session_id"]}
    # The first content chunk holds everything generated before the reader came.
    assert len(events[1]["choices"][0]["delta"]["content"].split()) >= 5
    assert text_of(events) == "".join(engine.pieces)
    assert events[-2]["ruschat"]["finish_reason"] == "stop"
    # An answer that has ended comes back whole, in the same format.
    again = sse_events(client.get(url).get_data(as_text=True))
    assert text_of(again) == "".join(engine.pieces)
    assert again[-2]["ruschat"]["finish_reason"] == "stop" and again[-1] == "[DONE]"


def test_stop_ends_the_answer_stores_it_cancelled_and_frees_the_model(client: FlaskClient, engine: FakeEngine):
    engine.pieces = [f"w{i} " for i in range(500)]
    engine.delay = 0.01
    body = chat_body()
    answer_id = start_and_leave(client, body)
    response = client.post(f"/api/sessions/{body['session_id']}/messages/{answer_id}/stop")
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["finish_reason"] == "cancelled"
    assert answer["content"].startswith("w0 w1 w2") and len(answer["content"].split()) < 500
    assert stored(client, body["session_id"])[1] == answer
    assert client.get("/api/info").get_json()["state"] == "idle"
    # Stopping again changes nothing.
    assert client.post(f"/api/sessions/{body['session_id']}/messages/{answer_id}/stop").get_json() == answer


def test_stop_and_reattach_of_unknown_answers_are_404(client: FlaskClient):
    body = chat_body()
    client.post("/api/chat", json=body).get_data()
    question_id = body["messages"][0]["id"]
    sid = body["session_id"]
    for url in (
        f"/api/sessions/{sid}/messages/{uuid.uuid4()}/stream",
        f"/api/sessions/{sid}/messages/not-an-id/stream",
        f"/api/sessions/{uuid.uuid4()}/messages/{question_id}/stream",
        f"/api/sessions/{sid}/messages/{question_id}/stream",  # a question is no answer
    ):
        assert_error(client.get(url), 404, "message_not_found")
    assert_error(client.post(f"/api/sessions/{sid}/messages/{uuid.uuid4()}/stop"), 404, "message_not_found")


def test_an_answer_being_written_cannot_be_continued_meanwhile(client: FlaskClient, engine: FakeEngine):
    engine.pieces = [f"w{i} " for i in range(500)]
    engine.delay = 0.01
    body = chat_body()
    answer_id = start_and_leave(client, body)
    request = {
        "session_id": body["session_id"],
        "messages": [*body["messages"], {"id": answer_id, "role": "assistant", "content": ""}],
        "continue": True,
    }
    assert_error(client.post("/api/chat", json=request), 409, "answer_generating")
    client.post(f"/api/sessions/{body['session_id']}/messages/{answer_id}/stop")


def test_openai_streams_still_cancel_when_the_client_hangs_up(client: FlaskClient, engine: FakeEngine):
    engine.pieces = [f"w{i} " for i in range(500)]
    engine.delay = 0.01
    body = {"messages": [{"role": "user", "content": "hi"}], "stream": True}
    response = client.post("/v1/chat/completions", json=body, buffered=False)
    received = ""
    for raw in response.response:
        received += raw if isinstance(raw, str) else raw.decode()
        if received.count('"content":"w') >= 3:
            break
    response.close()
    wait_until(lambda: client.get("/api/info").get_json()["state"] == "idle", 5)


def test_deleting_a_chat_stops_its_answer(client: FlaskClient, engine: FakeEngine):
    engine.pieces = [f"w{i} " for i in range(500)]
    engine.delay = 0.01
    body = chat_body()
    start_and_leave(client, body)
    assert client.delete(f"/api/sessions/{body['session_id']}").status_code == 204
    wait_until(lambda: client.get("/api/info").get_json()["state"] == "idle", 5)
    assert client.get(f"/api/sessions/{body['session_id']}").status_code == 404
