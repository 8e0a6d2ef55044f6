"""The sidebar's search box and its hits; a hit's message flashed in the chat.

Snippets come from the services as plain text with the matched spans given apart
(shared.search): they are put in the page as text nodes and ``<mark>`` elements built
here, never as HTML.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Protocol

import js
from pyodide.ffi import create_once_callable

from shared.search import snippet_parts
from webapp.page.dom import Dom
from webapp.page.state.app import AppState

FLASH_MS = 3000
FLASH_CLASS = "search-flash"


class SearchActions(Protocol):
    async def open_hit(self, session_id: str, message_id: str) -> None: ...


async def _open_hit(actions: SearchActions, session_id: str, message_id: str, _event: Any) -> None:
    await actions.open_hit(session_id, message_id)


def render_hits(dom: Dom, state: AppState, actions: SearchActions) -> None:
    """Redraw the hits under the search box (nothing while the box is empty)."""
    listing = dom.by_testid("search-results")
    listing.innerHTML = ""
    search = state.search
    listing.hidden = not search.query.strip()
    if listing.hidden:
        return
    if not search.hits:
        listing.appendChild(dom.element("li", "No messages found", "empty", data_testid="search-empty"))
        return
    for hit in search.hits:
        item = dom.element(
            "li", None, "hit", data_testid="search-hit", data_session_id=hit.session_id, data_message_id=hit.message_id
        )
        item.appendChild(dom.element("span", hit.title, "title", title=hit.title))
        snippet = dom.element("span", None, "snippet")
        for text, matched in snippet_parts(hit):
            snippet.appendChild(dom.element("mark", text) if matched else dom.document.createTextNode(text))
        item.appendChild(snippet)
        dom.on(item, "click", partial(_open_hit, actions, hit.session_id, hit.message_id))
        listing.appendChild(item)


def clear_box(dom: Dom) -> None:
    dom.by_testid("search-input").value = ""


def focus_box(dom: Dom) -> None:
    box = dom.by_testid("search-input")
    box.focus()
    box.select()


def flash_message(dom: Dom, message_id: str) -> bool:
    """Scroll the message into view and mark it for a few seconds; False if it is not shown."""
    node = dom.document.querySelector(f'.messages > [data-message-id="{message_id}"]')
    if node is None:
        return False
    node.scrollIntoView(js.JSON.parse('{"block": "center"}'))
    node.classList.add(FLASH_CLASS)
    js.setTimeout(create_once_callable(lambda: node.classList.remove(FLASH_CLASS)), FLASH_MS)
    return True
