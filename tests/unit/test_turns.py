"""A chat turn's steps (engine.chat.turns), driven without HTTP: what is stored when."""

from __future__ import annotations

import threading
import uuid

import pytest
from flask import Flask

from engine.chat import turns
from engine.inference.protocol import PromptTooLong
from engine.scheduling.status import QueueFull
from engine.service import Service
from shared.schemas import GENERATING, ChatRequest
from tests.fakes import FakeEngine
from tests.support import wait_until


def request_for(text: str = "Hello there", answer: str | None = None, **extra) -> ChatRequest:
    """A request asking ``text``; with ``answer``, continuing that answer (an id of its own)."""
    messages = [{"id": str(uuid.uuid4()), "role": "user", "content": text}]
    if answer is not None:
        messages.append({"id": str(uuid.uuid4()), "role": "assistant", "content": answer})
        extra["continue"] = True
    return ChatRequest.from_dict({"session_id": str(uuid.uuid4()), "messages": messages, **extra})


@pytest.fixture
def engine() -> FakeEngine:
    """Slow enough that a turn can be caught while it is written (0.4 s)."""
    return FakeEngine(pieces=["a"] * 20, delay=0.02)


@pytest.fixture
def service(app: Flask) -> Service:
    return app.extensions["ruschat"]


def test_a_turn_stores_the_question_and_a_generating_answer_before_it_starts(service: Service, monkeypatch):
    seen = []
    start = service.engine.start

    def record(key, prompt, params, keep=True, chat=None):
        seen.append(service.store.get_session(chat_request.session_id))
        return start(key, prompt, params, keep, chat)

    monkeypatch.setattr(service.engine, "start", record)
    chat_request = request_for(text="What is a fjord?")
    turn = turns.start(service, chat_request)
    assert turn.job.wait_finished(timeout=10)
    [session] = seen
    assert session is not None
    question, answer = session.messages
    assert (question.role, question.content) == ("user", "What is a fjord?")
    assert (answer.id, answer.parent_id, answer.finish_reason) == (turn.answer_id, question.id, GENERATING)


def test_a_turn_ends_with_the_answer_stored_and_the_live_answer_gone(service: Service):
    chat_request = request_for()
    turn = turns.start(service, chat_request)
    assert turn.job.wait_finished(timeout=10)
    answer = service.store.get_message(chat_request.session_id, turn.answer_id)
    assert answer is not None and (answer.content, answer.finish_reason) == ("a" * 20, "stop")
    assert service.live.get(chat_request.session_id, turn.answer_id) is None
    assert turn.context.used > 0 and turn.context.size == service.engine.context_size


def test_the_database_writes_of_a_turn_do_not_hold_the_schedulers_lock(service: Service, monkeypatch):
    """While the question is being stored, the scheduler answers others (status, other submits)."""
    writing, release = threading.Event(), threading.Event()
    add_user_message = service.store.add_user_message

    def slow_write(*args, **kwargs):
        writing.set()
        assert release.wait(10)
        return add_user_message(*args, **kwargs)

    monkeypatch.setattr(service.store, "add_user_message", slow_write)
    thread = threading.Thread(target=turns.start, args=(service, request_for()))
    thread.start()
    assert writing.wait(10)
    status = []
    probe = threading.Thread(target=lambda: status.append(service.scheduler.status()))
    probe.start()
    probe.join(2)
    held = probe.is_alive()
    release.set()
    thread.join(10)
    assert not held, "scheduler.status() waited for a database write"
    assert status and status[0].state in ("idle", "busy")


def test_a_place_held_for_a_turn_being_stored_counts_against_the_queue(app: Flask, config, monkeypatch):
    """max_queue=2 and one slot: with three turns being stored, a fourth is refused."""
    service: Service = app.extensions["ruschat"]
    service.scheduler.stop()
    release = threading.Event()
    add_user_message = service.store.add_user_message
    monkeypatch.setattr(
        service.store, "add_user_message", lambda *a, **k: (release.wait(10), add_user_message(*a, **k))[1]
    )
    threads = [threading.Thread(target=turns.start, args=(service, request_for())) for _ in range(3)]
    for thread in threads:
        thread.start()
    wait_until(lambda: sum(service.scheduler._accepting.values()) == 3)
    with pytest.raises(QueueFull):
        turns.start(service, request_for())
    release.set()
    for thread in threads:
        thread.join(10)


def test_a_failed_write_queues_nothing_and_frees_the_place(service: Service, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(service.store, "add_user_message", broken)
    with pytest.raises(RuntimeError):
        turns.start(service, request_for())
    assert service.scheduler.status().queue_depth == 0
    assert service.scheduler._accepting == {False: 0, True: 0}


def test_domain_errors_come_out_as_exceptions_not_http(service: Service):
    with pytest.raises(turns.AnswerNotFound):
        turns.resume(service, request_for(answer="Half an"))
    with pytest.raises(turns.AnswerNotFound):
        turns.stop(service, str(uuid.uuid4()), str(uuid.uuid4()))
    long = request_for(text="word " * 2000, context="strict")
    with pytest.raises(PromptTooLong):
        turns.start(service, long)


def test_continue_refuses_an_answer_still_being_written(service: Service):
    chat_request = request_for()
    turn = turns.start(service, chat_request)
    wait_until(lambda: service.live.get(chat_request.session_id, turn.answer_id) is not None)
    body = {
        "session_id": chat_request.session_id,
        "messages": [
            {"id": chat_request.messages[0].id, "role": "user", "content": "Hello there"},
            {"id": turn.answer_id, "role": "assistant", "content": ""},
        ],
        "continue": True,
    }
    with pytest.raises(turns.AnswerBusy):
        turns.resume(service, ChatRequest.from_dict(body))
    stopped = turns.stop(service, chat_request.session_id, turn.answer_id)
    assert stopped.finish_reason == "cancelled"


def test_the_summarizer_is_built_once_at_start(service: Service):
    assert service.summarizer is not None  # config: summarizer "self"
    first = service.summarizer
    turns.start(service, request_for()).job.wait_finished(timeout=10)
    assert service.summarizer is first
