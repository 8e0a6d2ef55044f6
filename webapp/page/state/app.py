"""What the page knows, in one place: the services, the open chat, the history list, the
answers being written, the search.

Plain dataclasses, no DOM and no ``js``: the views draw from them, the actions change
them, and CPython can import and test them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.schemas import ChatSettings, Session
from shared.sidebar import Key, Listing
from webapp.page.state.answer_stats import AnswerStats
from webapp.page.state.chat import Chat
from webapp.page.state.generations import Generation
from webapp.page.state.search import Search
from webapp.page.state.service import Service
from webapp.page.state.settings import PAGE_DEFAULTS


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
