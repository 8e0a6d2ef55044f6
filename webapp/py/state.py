"""What the page knows: the services, the open chat, the history list, the running answer.

Plain dataclasses, no DOM and no ``js``: the views draw from them, the actions change
them, and CPython can import and test them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from answer_stats import AnswerStats
from shared.schemas import ChatMessage, ChatRequest, GenerationParams, Message, ServiceInfo, Session, new_id


@dataclass
class Service:
    """One inference service and what the page last heard from it."""

    id: str
    label: str
    url: str
    info: ServiceInfo | None = None
    online: bool = False
    socket: Any = None
    """Its status WebSocket (a JS object in the page), None before the first connect."""

    @property
    def model(self) -> str:
        return self.info.model if self.info else self.label

    @property
    def state(self) -> str:
        """``idle`` or ``busy`` as the service says, ``offline`` when it cannot be reached."""
        return self.info.state if self.online and self.info else "offline"


@dataclass
class Chat:
    """The open chat: its id and its messages in order."""

    session_id: str = field(default_factory=new_id)
    messages: list[Message] = field(default_factory=list)

    def question(self, text: str, now: float) -> Message:
        return Message(id=new_id(), session_id=self.session_id, role="user", content=text, created_at=now)

    def request(self, question: Message, max_tokens: int) -> ChatRequest:
        """The request for an answer to ``question``: the whole chat so far, then the question."""
        history = [ChatMessage(m.id or new_id(), m.role, m.content) for m in self.messages if m.content]
        return ChatRequest(
            session_id=self.session_id,
            messages=(*history, ChatMessage(question.id, "user", question.content)),
            params=GenerationParams(max_tokens=max_tokens),
        )


@dataclass
class Generation:
    """An answer being streamed from ``service``."""

    service: Service
    controller: Any
    """What stops the stream (the page's JS AbortController)."""
    text: str = ""
    message_id: str | None = None
    """The answer's id, once the service has named it."""
    finish_reason: str | None = None
    """Why it ended; None while it runs."""

    def answer(self, session_id: str, now: float, error: str | None = None) -> Message:
        """The finished answer as a message of the chat."""
        return Message(
            id=self.message_id or "",
            session_id=session_id,
            role="assistant",
            content=self.text,
            created_at=now,
            model=self.service.model,
            service=self.service.id,
            finish_reason=self.finish_reason,
            error=error,
        )


@dataclass(frozen=True)
class Settings:
    """How the page asks for answers."""

    max_tokens: int = 1024


@dataclass
class AppState:
    """Everything the page shows, in one place."""

    services: dict[str, Service]
    """By id, in the order of the page config (the dropdown's order)."""
    selected: str
    """The id of the service the next answer comes from."""
    settings: Settings = field(default_factory=Settings)
    chat: Chat = field(default_factory=Chat)
    sessions: list[Session] = field(default_factory=list)
    """The sidebar: both services' chats, merged, newest first."""
    generation: Generation | None = None
    renaming: str | None = None
    """The chat whose title is being edited: the sidebar holds still meanwhile."""
    answer_stats: dict[str, AnswerStats] = field(default_factory=dict)
    """How the answers streamed since the page loaded were made, by message id."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any], saved_choice: str | None = None) -> AppState:
        """State for the page config (the ``ruschat-config`` block) and the remembered model."""
        services = {s["id"]: Service(s["id"], s["label"], s["url"]) for s in config["services"]}
        selected = saved_choice if saved_choice is not None and saved_choice in services else next(iter(services))
        return cls(services=services, selected=selected)

    @property
    def selected_service(self) -> Service:
        return self.services[self.selected]

    def online_services(self) -> list[Service]:
        return [s for s in self.services.values() if s.online]

    def session_title(self, session_id: str) -> str:
        return next((s.title for s in self.sessions if s.id == session_id), "")
