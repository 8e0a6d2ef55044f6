"""What the page knows: the services, the open chat, the history list, the running answer.

Plain dataclasses, no DOM and no ``js``: the views draw from them, the actions change
them, and CPython can import and test them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from answer_stats import AnswerStats
from chat_settings import PAGE_DEFAULTS
from shared.chunks import ContextInfo
from shared.history import branch, children, path_to
from shared.responses import ServiceInfo
from shared.schemas import GENERATING, ChatMessage, ChatRequest, ChatSettings, Message, Session, Summary, new_id
from shared.search import SearchHit, merge_hits
from shared.sidebar import Key, Listing


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
        """``idle`` or ``busy`` as the service says, ``degraded`` when its upstream engine
        cannot be reached, ``offline`` when the service itself cannot."""
        if not self.online or self.info is None:
            return "offline"
        return "degraded" if self.info.degraded else self.info.state


@dataclass
class Chat:
    """The open chat: its id, its messages (a tree), which branch is shown, and its
    system prompt and sampling."""

    session_id: str = field(default_factory=new_id)
    messages: list[Message] = field(default_factory=list)
    """Every message of the chat, from both services: a tree by ``parent_id``."""
    settings: ChatSettings = PAGE_DEFAULTS
    chosen: dict[str, str] = field(default_factory=dict)
    """The child shown at each fork, by parent id ("" for the chat's first messages)."""
    pending: str | None = None
    """While an answer to this message streams in, the branch shown ends at it."""
    compare: str | None = None
    """A question whose answers are shown side by side (after Ask both)."""
    summaries: list[Summary] = field(default_factory=list)
    """Summaries of older messages the services sent in their place (``context: summary``)."""
    contexts: dict[str, ContextInfo] = field(default_factory=dict)
    """What the model saw for the answers streamed since the chat was opened, by answer id."""

    def shown(self) -> list[Message]:
        """The branch on screen: at each fork the chosen child, else the newest."""
        path = branch(self.messages, {(parent or None): child for parent, child in self.chosen.items()})
        ids = [m.id for m in path]
        if self.pending in ids:
            path = path[: ids.index(self.pending) + 1]
        return path

    def siblings(self, message: Message) -> list[Message]:
        """The alternatives at ``message``'s place in the tree, oldest first (itself included)."""
        return children(self.messages).get(message.parent_id, [message])

    def answers_to(self, message_id: str) -> list[Message]:
        return children(self.messages).get(message_id, [])

    def choose(self, message: Message) -> None:
        self.chosen[message.parent_id or ""] = message.id

    def path_to(self, message_id: str) -> list[Message]:
        return path_to(self.messages, message_id)

    def reveal(self, message_id: str) -> bool:
        """Show the branch that holds ``message_id`` (choose it at every fork); False if unknown."""
        path = self.path_to(message_id)
        if not path or path[-1].id != message_id:
            return False
        for message in path:
            self.choose(message)
        return True

    def add(self, message: Message) -> None:
        """Add a message, or replace the one with its id (a continued answer)."""
        for index, known in enumerate(self.messages):
            if known.id == message.id:
                self.messages[index] = message
                return
        self.messages.append(message)

    def being_written(self) -> list[Message]:
        """The answers that their services are still writing (as last heard)."""
        return [m for m in self.messages if m.role == "assistant" and m.finish_reason == GENERATING]

    def question(self, text: str, now: float, parent_id: str | None) -> Message:
        return Message(
            id=new_id(), session_id=self.session_id, role="user", content=text, created_at=now, parent_id=parent_id
        )

    def request(self, path: list[Message], continue_answer: bool = False) -> ChatRequest:
        """The request for an answer to the last message of ``path`` (root first), or, with
        ``continue_answer``, for more of that answer; with the chat's settings."""
        return ChatRequest(
            session_id=self.session_id,
            messages=tuple(ChatMessage(m.id, m.role, m.content) for m in path),
            params=self.settings.params,
            system=self.settings.system or None,
            continue_answer=continue_answer,
            context=self.settings.context,
        )


@dataclass(eq=False)
class Generation:
    """An answer that ``service`` is writing, followed by the page (asked for here, or
    reattached after a reload or on opening its chat). It runs on the service whether or
    not its chat is on screen."""

    service: Service
    controller: Any
    """What ends the page's reading of the stream (a JS AbortController); the service
    goes on writing: stopping is a request of its own."""
    session_id: str
    parent_id: str | None = None
    """The question it answers."""
    text: str = ""
    """The answer so far (for a continued answer: its earlier text too)."""
    message_id: str | None = None
    """The answer's id, once the service has named it."""
    finish_reason: str | None = None
    """Why it ended; None while it runs."""
    created_at: float = 0.0
    stop_requested: bool = False
    """Stop was pressed, maybe before the service named the answer."""

    def answer(self, session_id: str, now: float, error: str | None = None) -> Message:
        """The answer as a message of the chat (while it runs: marked generating)."""
        return Message(
            id=self.message_id or new_id(),
            session_id=session_id,
            role="assistant",
            content=self.text,
            created_at=self.created_at or now,
            model=self.service.model,
            service=self.service.id,
            finish_reason=self.finish_reason or GENERATING,
            error=error,
            parent_id=self.parent_id,
        )


@dataclass
class Search:
    """The sidebar's search: the query, the merged hits, and which answer is still awaited."""

    query: str = ""
    hits: list[SearchHit] = field(default_factory=list)
    asked: int = 0
    """Counts the queries sent: answers to an older one are dropped (typing outruns the services)."""

    def ask(self, query: str) -> int | None:
        """Start a search for ``query``: its ticket, or None when there is nothing to ask."""
        self.query = query
        self.asked += 1
        if not query.strip():
            self.hits = []
            return None
        return self.asked

    def answered(self, ticket: int, lists: list[list[SearchHit]]) -> bool:
        """Take the services' hits for ``ticket``, merged; False (and nothing kept) if it is stale."""
        if ticket != self.asked:
            return False
        self.hits = merge_hits(*lists)
        return True

    def clear(self) -> None:
        self.ask("")


@dataclass
class AppState:
    """Everything the page shows, in one place."""

    services: dict[str, Service]
    """By id, in the order of the page config (the dropdown's order)."""
    selected: str
    """The id of the service the next answer comes from."""
    defaults: ChatSettings = PAGE_DEFAULTS
    """What a new chat starts with: the user's saved defaults (localStorage)."""
    chat: Chat = field(default_factory=Chat)
    sessions: list[Session] = field(default_factory=list)
    """The sidebar: both services' chats, merged, newest first (as far as loaded: see listings)."""
    listings: dict[str, Listing] = field(default_factory=dict)
    """Each online service's chats as far as loaded (pages), by service id."""
    has_more: bool = False
    """Whether a service has chats not loaded yet (the list's end loads them)."""
    shown_edge: Key | None = None
    """The frontier ``sessions`` was worked out at: a page loaded later adds what is below it."""
    generations: list[Generation] = field(default_factory=list)
    """Answers streaming in now, in any chat (two after Ask both)."""
    renaming: str | None = None
    """The chat whose title is being edited: the sidebar holds still meanwhile."""
    answer_stats: dict[str, AnswerStats] = field(default_factory=dict)
    """How the answers streamed since the page loaded were made, by message id."""
    search: Search = field(default_factory=Search)

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], saved_choice: str | None = None, defaults: ChatSettings = PAGE_DEFAULTS
    ) -> AppState:
        """State for the page config (the ``ruschat-config`` block), the remembered model and defaults."""
        services = {s["id"]: Service(s["id"], s["label"], s["url"]) for s in config["services"]}
        selected = saved_choice if saved_choice is not None and saved_choice in services else next(iter(services))
        return cls(services=services, selected=selected, defaults=defaults, chat=Chat(settings=defaults))

    @property
    def busy(self) -> bool:
        """Whether an answer is being written in the open chat (other chats may go on)."""
        return any(g.session_id == self.chat.session_id for g in self.generations)

    def open_generations(self) -> list[Generation]:
        """The answers being written in the open chat."""
        return [g for g in self.generations if g.session_id == self.chat.session_id]

    def generation_for(self, message_id: str) -> Generation | None:
        return next((g for g in self.generations if g.message_id == message_id), None)

    def chat_of(self, generation: Generation) -> Chat | None:
        """The generation's chat, if it is the one open."""
        return self.chat if self.chat.session_id == generation.session_id else None

    def running_sessions(self) -> set[str]:
        return {g.session_id for g in self.generations}

    @property
    def selected_service(self) -> Service:
        return self.services[self.selected]

    def online_services(self) -> list[Service]:
        return [s for s in self.services.values() if s.online]

    def is_stored(self, session_id: str) -> bool:
        """Whether the services may hold this chat (it has messages or is in the history)."""
        return bool(self.chat.messages and self.chat.session_id == session_id) or any(
            s.id == session_id for s in self.sessions
        )

    def session_title(self, session_id: str) -> str:
        return next((s.title for s in self.sessions if s.id == session_id), "")
