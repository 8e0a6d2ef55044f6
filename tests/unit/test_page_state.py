"""The page's state, run under CPython (the browser runs the same file); the page's module list."""

from __future__ import annotations

import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "webapp" / "py"
sys.path.insert(0, str(PAGE))

from shared.schemas import Message, ServiceInfo, Session, new_id  # noqa: E402
from state import AppState, Chat, Generation, Service  # noqa: E402
from webapp.server import PAGE_FILES  # noqa: E402

CONFIG = {
    "services": [
        {"id": "tinyllama", "label": "Fast", "url": "http://127.0.0.1:8000"},
        {"id": "qwen", "label": "Capable", "url": "http://127.0.0.1:8001"},
    ]
}


def info(state: str = "idle", model: str = "SmolLM2") -> ServiceInfo:
    return ServiceInfo("qwen", "Capable", model, "m.gguf", 2048, state, 0, 8)


def test_state_from_config_keeps_the_order_and_the_remembered_model():
    state = AppState.from_config(CONFIG, saved_choice="qwen")
    assert list(state.services) == ["tinyllama", "qwen"]
    assert state.selected_service.label == "Capable"
    assert state.generation is None and state.renaming is None and state.sessions == []


def test_an_unknown_or_missing_remembered_model_falls_back_to_the_first():
    assert AppState.from_config(CONFIG, saved_choice="gone").selected == "tinyllama"
    assert AppState.from_config(CONFIG).selected == "tinyllama"


def test_a_service_is_offline_until_it_answers_and_names_its_model_once_it_has():
    service = Service("qwen", "Capable", "http://127.0.0.1:8001")
    assert (service.state, service.model) == ("offline", "Capable")
    service.info = info("busy")
    assert service.state == "offline"  # what it said last, but it is not reachable now
    service.online = True
    assert (service.state, service.model) == ("busy", "SmolLM2")


def test_online_services_and_session_titles():
    state = AppState.from_config(CONFIG)
    state.services["qwen"].online = True
    assert [s.id for s in state.online_services()] == ["qwen"]
    session = Session(id=new_id(), title="Hello", created_at=1.0, updated_at=2.0)
    state.sessions = [session]
    assert state.session_title(session.id) == "Hello"
    assert state.session_title(new_id()) == ""


def test_a_request_carries_the_whole_chat_then_the_question():
    chat = Chat()
    first = chat.question("Hi", 1.0)
    chat.messages += [
        first,
        Message("", chat.session_id, "assistant", "Hello!", 2.0, finish_reason="error"),
        Message(new_id(), chat.session_id, "assistant", "", 3.0, finish_reason="cancelled"),
    ]
    question = chat.question("How are you?", 4.0)
    request = chat.request(question)
    assert request.session_id == chat.session_id
    assert [(m.role, m.content) for m in request.messages] == [
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("user", "How are you?"),
    ]  # an empty answer is left out
    assert request.messages[0].id == first.id and request.messages[-1].id == question.id
    assert request.messages[1].id  # an answer that never got an id gets one
    assert request.params == chat.settings.params and request.system is None  # no system prompt: none sent
    assert question not in chat.messages  # asking does not change the chat


def test_a_finished_generation_becomes_an_answer_of_its_service():
    service = Service("qwen", "Capable", "http://127.0.0.1:8001", info=info(), online=True)
    generation = Generation(service=service, controller=None, text="Hi there")
    generation.message_id, generation.finish_reason = new_id(), "cancelled"
    answer = generation.answer("s", 5.0, error=None)
    assert (answer.id, answer.role, answer.content) == (generation.message_id, "assistant", "Hi there")
    assert (answer.model, answer.service, answer.finish_reason) == ("SmolLM2", "qwen", "cancelled")
    unnamed = Generation(service=service, controller=None).answer("s", 5.0, error="boom")
    assert (unnamed.id, unnamed.error) == ("", "boom")


def test_the_server_serves_every_page_module_and_only_those():
    assert sorted(PAGE_FILES) == sorted(p.name for p in PAGE.glob("*.py"))
