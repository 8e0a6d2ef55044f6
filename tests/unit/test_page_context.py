"""The page's context gauge and window marks, run under CPython."""

from __future__ import annotations

from shared.chunks import ContextInfo
from shared.responses import ServiceInfo
from shared.schemas import Message, Summary, new_id
from webapp.page.state.app import AppState
from webapp.page.state.chat import Chat
from webapp.page.state.context import current_context, gauge_text, outside_window, share, summary_shown

CONFIG = {"services": [{"id": "qwen", "label": "Capable", "url": "http://127.0.0.1:8001"}]}
INFO = ServiceInfo("qwen", "Capable", "M", "m.gguf", 4096, "idle", 0, 8)


def chain(n: int, session_id: str) -> list[Message]:
    messages: list[Message] = []
    for i in range(n):
        role = "user" if i % 2 == 0 else "assistant"
        messages.append(
            Message(
                new_id(),
                session_id,
                role,
                f"m{i}",
                float(i),
                service="qwen" if role == "assistant" else None,
                parent_id=messages[-1].id if messages else None,
            )
        )
    return messages


def state_with(messages: list[Message], chat: Chat) -> AppState:
    state = AppState.from_config(CONFIG)
    state.services["qwen"].info = INFO
    chat.messages = messages
    state.chat = chat
    return state


def test_a_stored_chat_shows_its_last_answers_numbers_and_marks_what_the_model_missed():
    chat = Chat()
    messages = chain(6, chat.session_id)
    messages[-1] = Message(**{**messages[-1].to_dict(), "prompt_tokens": 1234, "window_from": messages[2].id})
    state = state_with(messages, chat)
    context = current_context(state)
    assert context == ContextInfo(used=1234, size=4096, policy="window", visible_from=messages[2].id)
    assert gauge_text(context) == "1,234 of 4,096 tokens" and 0.3 < share(context) < 0.31
    hidden = outside_window(chat.shown(), context)
    assert hidden == [messages[0].id, messages[1].id]
    assert summary_shown([], hidden, context) is None
    summary = Summary(new_id(), chat.session_id, messages[1].id, "Earlier: m0, m1.", 1.0)
    assert summary_shown([summary], hidden, context) == summary


def test_a_streamed_answers_context_wins_and_unknown_numbers_show_no_gauge():
    chat = Chat()
    messages = chain(4, chat.session_id)
    state = state_with(messages, chat)
    assert current_context(state) is None  # stored before this release: nothing known
    live = ContextInfo(used=10, size=512, policy="summary", visible_from=None)
    chat.contexts[messages[-1].id] = live
    assert current_context(state) == live
    assert outside_window(chat.shown(), live) == []
