"""Chats on the wire between the services and their clients: messages, sessions, their
settings and the chat request. (Errors and ``/api/info``: ``shared/responses.py``; stream
chunks: ``shared/chunks.py``; the OpenAI request: ``shared/openai_schemas.py``.)

Standard library only: the backends import this file under CPython and the web app
imports the very same file under Pyodide. Every ``from_dict`` validates its input and
raises :class:`SchemaError` (a ``ValueError``) naming the offending field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# SchemaError and the id helpers are part of this module's contract (every from_dict raises
# SchemaError); they live with the field readers.
from shared.fields import SchemaError as SchemaError
from shared.fields import check_uuid as check_uuid
from shared.fields import choice, integer, json_object, number, optional_uuid, text
from shared.fields import new_id as new_id

ROLES = ("system", "user", "assistant")
MAX_STOPS = 4
"""At most this many stop strings per request (OpenAI's limit)."""
MAX_STOP_CHARS = 200
"""The longest stop string."""
MAX_TOKENS_ASKED = 2**31 - 1
"""``max_tokens`` beyond the context is capped to the room left; beyond this it is refused."""
GENERATING = "generating"
"""The finish reason of an answer still being written (its text grows as it is saved)."""
INTERRUPTED = "interrupted"
"""The finish reason of an answer whose service stopped or died while writing it."""
TITLE_SOURCES = ("opening", "model", "user")
"""Who titled a chat: its first question's words, the fast model, or the user (a rename).
Later ones win over earlier ones: a model's title never replaces the user's."""
FINISH_REASONS = ("stop", "length", "cancelled", "error", GENERATING, INTERRUPTED)
CONTEXT_POLICIES = ("window", "summary", "strict")
"""What a chat does when it outgrows the model's context: keep the newest messages that
fit; the same, with the older ones summarised by the fast model; refuse (422)."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what one chat request may carry."""

    max_messages: int = 200
    max_message_chars: int = 32_000
    max_tokens: int = 2048
    """The most a chat's settings offer (the page); a request may ask more, capped by the context."""
    max_title_chars: int = 200


DEFAULT_LIMITS = Limits()


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class ChatMessage:
    """One turn of a conversation as a client sends it."""

    id: str
    role: str
    content: str

    @classmethod
    def from_dict(cls, data: Any, limits: Limits = DEFAULT_LIMITS, where: str = "message") -> ChatMessage:
        data = json_object(data, where)
        role = text(data, "role")
        if role not in ROLES:
            raise SchemaError(f"'role' must be one of {', '.join(ROLES)}", field="role")
        content = text(data, "content", max_chars=limits.max_message_chars)
        raw_id = data.get("id")
        message_id = new_id() if raw_id is None else check_uuid(raw_id, "id")
        return cls(id=message_id, role=role, content=content or "")


@dataclass(frozen=True)
class Message:
    """A stored message, as the history endpoints return it."""

    id: str
    session_id: str
    role: str
    content: str
    created_at: float
    model: str | None = None
    service: str | None = None
    finish_reason: str | None = None
    error: str | None = None
    parent_id: str | None = None
    """The message this one follows (an answer: its question); None for a chat's first.
    A chat is a tree: regenerated answers and edited questions are siblings."""
    prompt_tokens: int | None = None
    """An answer's prompt length in tokens (what the context gauge shows); None if unknown."""
    window_from: str | None = None
    """An answer's first branch message the model saw; None when it saw the whole branch."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Message:
        data = json_object(data, "message")
        role = text(data, "role")
        if role not in ROLES:
            raise SchemaError(f"'role' must be one of {', '.join(ROLES)}", field="role")
        finish = text(data, "finish_reason", optional=True)
        if finish is not None and finish not in FINISH_REASONS:
            raise SchemaError("'finish_reason' is not a known reason", field="finish_reason")
        return cls(
            id=check_uuid(data.get("id"), "id"),
            session_id=check_uuid(data.get("session_id"), "session_id"),
            role=role,
            content=text(data, "content") or "",
            created_at=number(data, "created_at", math.nan, 0, math.inf),
            model=text(data, "model", optional=True),
            service=text(data, "service", optional=True),
            finish_reason=finish,
            error=text(data, "error", optional=True),
            parent_id=optional_uuid(data, "parent_id"),
            prompt_tokens=None if data.get("prompt_tokens") is None else integer(data, "prompt_tokens", 0, 0, 10**7),
            window_from=optional_uuid(data, "window_from"),
        )


@dataclass(frozen=True)
class Summary:
    """The fast model's summary of a chat's messages up to ``through_id`` (the last it
    covers), sent to the model in their place once they leave its window."""

    id: str
    session_id: str
    through_id: str
    content: str
    created_at: float
    model: str | None = None
    service: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Summary:
        data = json_object(data, "summary")
        return cls(
            id=check_uuid(data.get("id"), "id"),
            session_id=check_uuid(data.get("session_id"), "session_id"),
            through_id=check_uuid(data.get("through_id"), "through_id"),
            content=text(data, "content") or "",
            created_at=number(data, "created_at", 0.0, 0, math.inf),
            model=text(data, "model", optional=True),
            service=text(data, "service", optional=True),
        )


@dataclass(frozen=True)
class Session:
    """A chat. ``messages`` is empty in listings and filled by ``GET /api/sessions/<id>``."""

    id: str
    title: str
    created_at: float
    updated_at: float
    message_count: int = 0
    messages: tuple[Message, ...] = ()
    settings: ChatSettings | None = None
    """None until the chat has some (a chat of an earlier release)."""
    settings_updated_at: float = 0.0
    """When the settings last changed: the newest copy wins in a merge."""
    summaries: tuple[Summary, ...] = ()
    """Summaries of the chat's older messages (``context: summary``), oldest first."""
    title_source: str = "opening"
    """Who titled the chat (one of TITLE_SOURCES)."""

    def to_dict(self, with_messages: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "title_source": self.title_source,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "message_count": self.message_count,
            "settings": self.settings.to_dict() if self.settings else None,
            "settings_updated_at": self.settings_updated_at,
        }
        if with_messages:
            data["messages"] = [m.to_dict() for m in self.messages]
            data["summaries"] = [s.to_dict() for s in self.summaries]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Session:
        data = json_object(data, "session")
        messages = data.get("messages") or []
        if not isinstance(messages, list):
            raise SchemaError("'messages' must be a list", field="messages")
        parsed = tuple(Message.from_dict(m) for m in messages)
        summaries = data.get("summaries") or []
        if not isinstance(summaries, list):
            raise SchemaError("'summaries' must be a list", field="summaries")
        return cls(
            id=check_uuid(data.get("id"), "id"),
            title=text(data, "title") or "",
            created_at=number(data, "created_at", 0.0, 0, math.inf),
            updated_at=number(data, "updated_at", 0.0, 0, math.inf),
            message_count=integer(data, "message_count", len(parsed), 0, 10**9),
            messages=parsed,
            settings=None if data.get("settings") is None else ChatSettings.from_dict(data["settings"]),
            settings_updated_at=number(data, "settings_updated_at", 0.0, 0, math.inf),
            summaries=tuple(Summary.from_dict(s) for s in summaries),
            title_source=choice(data, "title_source", TITLE_SOURCES) or "opening",
        )


@dataclass(frozen=True)
class SessionPatch:
    """Body of ``PATCH /api/sessions/<id>``: a new title, new settings, or both."""

    title: str | None = None
    settings: ChatSettings | None = None

    @classmethod
    def from_dict(cls, data: Any, limits: Limits = DEFAULT_LIMITS) -> SessionPatch:
        data = json_object(data, "body")
        title = text(data, "title", optional=True, max_chars=limits.max_title_chars)
        if title is not None and not title.strip():
            raise SchemaError("'title' must not be empty", field="title")
        settings = None if data.get("settings") is None else ChatSettings.from_dict(data["settings"], limits)
        if title is None and settings is None:
            raise SchemaError("give a 'title' or 'settings' to change", field="title")
        return cls(title=title.strip() if title is not None else None, settings=settings)


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 512
    """Asked for; an answer also ends where the context is full (``finish_reason: length``)."""
    temperature: float = 0.7
    top_p: float = 0.95
    min_p: float = 0.05
    """Drop tokens less likely than this share of the likeliest one (llama.cpp's default)."""
    repeat_penalty: float = 1.0
    """Above 1: tokens of the answer's last 64 become less likely (1 = off)."""
    stop: tuple[str, ...] = ()
    """The answer ends where one of these appears (left out of it), ``finish_reason: stop``."""
    seed: int | None = None
    """Same seed, same parameters, same prompt: the same answer. None: a random one."""
    presence_penalty: float = 0.0
    """OpenAI's: subtracted from the logit of every token already in the answer (-2..2)."""
    frequency_penalty: float = 0.0
    """OpenAI's: subtracted once per earlier occurrence in the answer (-2..2)."""
    grammar: str | None = None
    """A GBNF grammar the answer must follow (``response_format`` of /v1); None: free text."""
    top_logprobs: int | None = None
    """Report each answer token's log-probability and this many alternatives; None: don't."""

    CHAT_FIELDS = (
        "max_tokens",
        "temperature",
        "top_p",
        "min_p",
        "repeat_penalty",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
    )
    """What a chat's settings keep (``grammar`` and ``top_logprobs`` are per /v1 request)."""

    def to_dict(self) -> dict[str, Any]:
        return {name: list(self.stop) if name == "stop" else getattr(self, name) for name in self.CHAT_FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> GenerationParams:
        # OpenAI renamed max_tokens to max_completion_tokens; accept both. A large value
        # is not refused (clients send 4096 by default): the context caps the answer.
        key = "max_completion_tokens" if data.get("max_completion_tokens") is not None else "max_tokens"
        return cls(
            max_tokens=integer(data, key, min(cls.max_tokens, limits.max_tokens), 1, MAX_TOKENS_ASKED),
            temperature=number(data, "temperature", cls.temperature, 0.0, 2.0),
            top_p=number(data, "top_p", cls.top_p, 0.0, 1.0),
            min_p=number(data, "min_p", cls.min_p, 0.0, 1.0),
            repeat_penalty=number(data, "repeat_penalty", cls.repeat_penalty, 0.5, 2.0),
            stop=_stops(data),
            seed=None if data.get("seed") is None else integer(data, "seed", 0, -(2**63), 2**64 - 1),
            presence_penalty=number(data, "presence_penalty", 0.0, -2.0, 2.0),
            frequency_penalty=number(data, "frequency_penalty", 0.0, -2.0, 2.0),
        )


def _stops(data: Mapping[str, Any]) -> tuple[str, ...]:
    raw = data.get("stop")
    if raw is None:
        return ()
    stops = [raw] if isinstance(raw, str) else raw
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise SchemaError("'stop' must be a string or a list of strings", field="stop")
    if len(stops) > MAX_STOPS:
        raise SchemaError(f"'stop' holds at most {MAX_STOPS} strings", field="stop")
    if any(len(s) > MAX_STOP_CHARS for s in stops):
        raise SchemaError(f"a 'stop' string is longer than {MAX_STOP_CHARS} characters", field="stop")
    return tuple(dict.fromkeys(s for s in stops if s))  # empty ones stop nothing


@dataclass(frozen=True)
class ChatSettings:
    """A chat's own system prompt and sampling, stored with its session on the services."""

    system: str = ""
    params: GenerationParams = field(default_factory=GenerationParams)
    context: str = "window"
    """One of CONTEXT_POLICIES: what happens when the chat outgrows the model's context."""

    def to_dict(self) -> dict[str, Any]:
        return {"system": self.system, **self.params.to_dict(), "context": self.context}

    @classmethod
    def from_dict(cls, data: Any, limits: Limits = DEFAULT_LIMITS) -> ChatSettings:
        data = json_object(data, "settings")
        return cls(
            system=text(data, "system", optional=True, max_chars=limits.max_message_chars) or "",
            params=GenerationParams.from_dict(data, limits),
            context=choice(data, "context", CONTEXT_POLICIES) or "window",
        )


def _messages(data: Mapping[str, Any], limits: Limits) -> tuple[ChatMessage, ...]:
    raw = data.get("messages")
    if not isinstance(raw, list) or not raw:
        raise SchemaError("'messages' must be a non-empty list", field="messages")
    if len(raw) > limits.max_messages:
        raise SchemaError(
            f"at most {limits.max_messages} messages per request", field="messages", code="too_large", status=413
        )
    return tuple(ChatMessage.from_dict(m, limits, f"messages[{i}]") for i, m in enumerate(raw))


@dataclass(frozen=True)
class ChatRequest:
    """Body of ``POST /api/chat``: the branch of the chat being answered, root first.

    Each message follows the one before it. The last is the question to answer: a new
    one, or one already stored (the answer is regenerated, as a sibling of the earlier
    ones). With ``"continue": true`` the last is a stored answer to resume instead."""

    session_id: str
    messages: tuple[ChatMessage, ...]
    params: GenerationParams = field(default_factory=GenerationParams)
    system: str | None = None
    continue_answer: bool = False
    context: str | None = None
    """The chat's context policy (CONTEXT_POLICIES); None: ``window``."""

    @property
    def parent_id(self) -> str | None:
        """The parent of the last message: the one before it in the branch."""
        return self.messages[-2].id if len(self.messages) > 1 else None

    @classmethod
    def from_dict(cls, data: Any, limits: Limits = DEFAULT_LIMITS) -> ChatRequest:
        data = json_object(data, "body")
        messages = _messages(data, limits)
        continue_answer = data.get("continue", False)
        if not isinstance(continue_answer, bool):
            raise SchemaError("'continue' must be a boolean", field="continue")
        wanted = "assistant" if continue_answer else "user"
        if messages[-1].role != wanted:
            raise SchemaError(f"the last message must have role '{wanted}'", field="messages")
        ids = [m.id for m in messages]
        if len(set(ids)) != len(ids):
            raise SchemaError("message ids must be unique", field="messages")
        return cls(
            session_id=check_uuid(data.get("session_id"), "session_id"),
            messages=messages,
            params=GenerationParams.from_dict(data, limits),
            system=text(data, "system", optional=True, max_chars=limits.max_message_chars),
            continue_answer=continue_answer,
            context=choice(data, "context", CONTEXT_POLICIES),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "session_id": self.session_id,
            "messages": [asdict(m) for m in self.messages],
            **self.params.to_dict(),
        }
        if self.system is not None:
            data["system"] = self.system
        if self.continue_answer:
            data["continue"] = True
        if self.context is not None:
            data["context"] = self.context
        return data
