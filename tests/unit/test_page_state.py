"""The page's state, run under CPython (the browser runs the same file); the page's module list."""

from __future__ import annotations

from shared.responses import ServiceInfo
from shared.schemas import Message, Session, new_id
from webapp.page.state.app import AppState
from webapp.page.state.chat import Chat
from webapp.page.state.generations import Generation
from webapp.page.state.service import Service

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
    assert state.generations == [] and not state.busy and state.renaming is None and state.sessions == []


def test_an_unknown_or_missing_remembered_model_falls_back_to_the_first():
    assert AppState.from_config(CONFIG, saved_choice="gone").selected == "tinyllama"
    assert AppState.from_config(CONFIG).selected == "tinyllama"


def test_a_service_whose_upstream_engine_is_unreachable_is_degraded():
    service = Service("qwen", "Capable", "http://127.0.0.1:8001", online=True)
    service.info = ServiceInfo.from_dict({**info("busy").to_dict(), "degraded": "gpu:8000 is unreachable"})
    assert service.state == "degraded"
    service.info = ServiceInfo.from_dict({**info("busy").to_dict(), "engine": "remote", "degraded": None})
    assert service.state == "busy" and service.info.engine == "remote"


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


def answer_to(chat: Chat, question: Message, text: str, at: float, finish: str = "stop") -> Message:
    return Message(new_id(), chat.session_id, "assistant", text, at, finish_reason=finish, parent_id=question.id)


def test_the_branch_shown_and_the_request_for_a_new_question():
    chat = Chat()
    first = chat.question("Hi", 1.0, None)
    chat.add(first)
    hello = answer_to(chat, first, "Hello!", 2.0)
    chat.add(hello)
    again = answer_to(chat, first, "Hi there!", 3.0, "cancelled")  # regenerated
    chat.add(again)
    assert chat.shown() == [first, again]  # the newest answer, until one is chosen
    assert chat.siblings(hello) == [hello, again]
    chat.choose(hello)
    assert chat.shown() == [first, hello]

    question = chat.question("How are you?", 4.0, hello.id)
    request = chat.request([*chat.shown(), question])
    assert request.session_id == chat.session_id
    assert [(m.id, m.role, m.content) for m in request.messages] == [
        (first.id, "user", "Hi"),
        (hello.id, "assistant", "Hello!"),
        (question.id, "user", "How are you?"),
    ]
    assert request.params == chat.settings.params and request.system is None  # no system prompt: none sent
    assert not request.continue_answer
    assert question not in chat.messages  # asking does not change the chat


def test_an_edited_question_is_a_sibling_and_pending_cuts_the_branch_while_it_is_answered():
    chat = Chat()
    first = chat.question("Hi", 1.0, None)
    chat.add(first)
    chat.add(answer_to(chat, first, "Hello!", 2.0))
    edited = chat.question("Hey", 3.0, None)
    chat.add(edited)
    chat.choose(edited)
    chat.pending = edited.id
    assert chat.shown() == [edited]
    assert chat.siblings(edited) == [first, edited]
    chat.pending = None
    chat.choose(first)
    assert [m.content for m in chat.shown()] == ["Hi", "Hello!"]


def test_a_continued_answer_replaces_its_earlier_text():
    chat = Chat()
    first = chat.question("Count", 1.0, None)
    chat.add(first)
    cut = answer_to(chat, first, "One, two", 2.0, "length")
    chat.add(cut)
    request = chat.request(chat.path_to(cut.id), continue_answer=True)
    assert request.continue_answer and request.messages[-1].id == cut.id
    chat.add(Message(cut.id, chat.session_id, "assistant", "One, two, three.", 2.0, finish_reason="stop"))
    assert [m.content for m in chat.messages] == ["Count", "One, two, three."]


def test_a_generation_becomes_an_answer_of_its_service():
    service = Service("qwen", "Capable", "http://127.0.0.1:8001", info=info(), online=True)
    generation = Generation(service=service, controller=None, session_id="s", text="Hi there")
    generation.message_id = new_id()
    running = generation.answer("s", 5.0)
    assert (running.id, running.finish_reason) == (generation.message_id, "generating")
    generation.finish_reason = "cancelled"
    answer = generation.answer("s", 5.0, error=None)
    assert (answer.id, answer.role, answer.content) == (generation.message_id, "assistant", "Hi there")
    assert (answer.model, answer.service, answer.finish_reason) == ("SmolLM2", "qwen", "cancelled")
    unnamed = Generation(service=service, controller=None, session_id="s").answer("s", 5.0, error="boom")
    assert unnamed.id and unnamed.error == "boom"


def test_answers_run_on_in_other_chats_and_only_the_open_chat_is_busy():
    service = Service("qwen", "Capable", "http://127.0.0.1:8001", info=info(), online=True)
    state = AppState(services={"qwen": service}, selected="qwen")
    elsewhere = Generation(service=service, controller=None, session_id=new_id(), message_id=new_id())
    state.generations.append(elsewhere)
    assert not state.busy and state.open_generations() == [] and state.chat_of(elsewhere) is None
    assert state.running_sessions() == {elsewhere.session_id}
    here = Generation(service=service, controller=None, session_id=state.chat.session_id)
    state.generations.append(here)
    assert state.busy and state.open_generations() == [here] and state.chat_of(here) is state.chat
    assert state.generation_for(elsewhere.message_id) is elsewhere
    question = state.chat.question("Hi", 1.0, None)
    state.chat.add(question)
    writing = Message(new_id(), state.chat.session_id, "assistant", "Hel", 2.0, finish_reason="generating")
    state.chat.add(writing)
    assert state.chat.being_written() == [writing]
