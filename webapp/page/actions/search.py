"""The search box's handlers: ask every online service, merge their hits, open one.

Typing sends a query per change; an answer to an older query is dropped (state.Search).
Opening a hit opens its chat with the branch holding the message chosen, then scrolls
the message into view and flashes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.search import DEFAULT_LIMIT
from webapp.page import a11y
from webapp.page.actions.branches import save_branches
from webapp.page.api import endpoints
from webapp.page.dom import Dom
from webapp.page.state.app import AppState
from webapp.page.views import messages as view_messages
from webapp.page.views import search as view_search

if TYPE_CHECKING:
    from webapp.page.actions.chat import Actions


class SearchActions:
    """Handlers of the search box and its hits, over the page's AppState."""

    def __init__(self, state: AppState, dom: Dom, actions: Actions) -> None:
        self.state = state
        self.dom = dom
        self.actions = actions
        """The page's handlers: they open a chat and draw its messages."""

    async def on_input(self, event: Any) -> None:
        ticket = self.state.search.ask(str(event.target.value))
        if ticket is None:
            view_search.render_hits(self.dom, self.state, self)
            return
        query = self.state.search.query
        lists = await self.actions.services.from_all(lambda s: endpoints.search(s, query, DEFAULT_LIMIT))
        if self.state.search.answered(ticket, lists):
            view_search.render_hits(self.dom, self.state, self)

    def on_key(self, event: Any) -> None:
        """Escape in the box clears the search (and stops there: no answer is stopped); Down goes to the hits."""
        if event.key == "Escape" and not (event.shiftKey or event.ctrlKey or event.metaKey or event.altKey):
            event.preventDefault()
            event.stopPropagation()
            self.clear()
        elif event.key == "ArrowDown" and a11y.focus_first(self.dom, "search-results"):
            event.preventDefault()  # down from the box into the hits

    def clear(self) -> None:
        self.state.search.clear()
        view_search.clear_box(self.dom)
        view_search.render_hits(self.dom, self.state, self)

    def focus(self) -> None:
        view_search.focus_box(self.dom)

    async def open_hit(self, session_id: str, message_id: str) -> None:
        await self.actions.open_session(session_id)
        chat = self.state.chat
        if chat.session_id == session_id and chat.reveal(message_id):
            save_branches(chat)
            view_messages.render_chat(self.dom, self.state, self.actions)
            view_search.flash_message(self.dom, message_id)
