"""The sidebar: the merged list of chats under date headings, each with rename and delete.

One click handler on the list serves every item (found by ``closest``), so a redraw makes
no new event proxies; an IntersectionObserver on the element after the list asks for the
next page when it comes near the view.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import js
from pyodide.ffi import create_proxy, to_js

from shared.sidebar import date_groups
from webapp.page.dom import Dom
from webapp.page.state.app import AppState

NEAR_END_PX = 300
"""How close the list's end must come to the view to load the next page."""


class SidebarActions(Protocol):
    """What a click in the sidebar asks for."""

    async def open_session(self, session_id: str) -> None: ...

    def start_rename(self, event: Any, session_id: str) -> None: ...

    async def delete_session(self, event: Any, session_id: str) -> None: ...

    async def load_more(self) -> None: ...


def local_offset(when: float) -> float:
    """Seconds east of UTC in the browser's time zone at ``when`` (daylight saving included)."""
    return -float(js.Date.new(when * 1000).getTimezoneOffset()) * 60


def install(dom: Dom, actions: SidebarActions) -> None:
    """Route clicks in the list to the actions; load more when the list's end comes near."""

    def click(event: Any) -> Any:
        target = event.target
        if not hasattr(target, "closest") or target.closest("input"):
            return None  # the rename field
        item = target.closest('[data-testid="session-item"]')
        if not item:  # null (JsNull): a click between the chats
            return None
        session_id = str(item.getAttribute("data-session-id"))
        if target.closest('[data-testid="rename-session"]'):
            return actions.start_rename(event, session_id)
        if target.closest('[data-testid="delete-session"]'):
            return actions.delete_session(event, session_id)
        return actions.open_session(session_id)

    dom.on(dom.by_testid("session-list"), "click", click)

    def seen(entries: Any, _observer: Any) -> None:
        if any(entry.isIntersecting for entry in entries):
            asyncio.ensure_future(actions.load_more())

    options = {"root": dom.by_testid("session-list"), "rootMargin": f"0px 0px {NEAR_END_PX}px 0px"}
    observer = js.IntersectionObserver.new(create_proxy(seen), to_js(options, dict_converter=js.Object.fromEntries))
    observer.observe(dom.by_testid("session-list-end"))


def end_in_view(dom: Dom) -> bool:
    """Whether the list's end is (nearly) in view, so the next page should load now."""
    listing = dom.by_testid("session-list").getBoundingClientRect()
    end = dom.by_testid("session-list-end").getBoundingClientRect()
    return bool(listing.height > 0 and end.top <= listing.bottom + NEAR_END_PX)


class Sidebar:
    """The list of chats under date headings. Each chat's item is kept and built again only
    when what it shows changed: the list is drawn again after every answer, rename and
    loaded page, and building every item again through the FFI took ~75 ms a redraw at
    1,000 chats listed (~40 ms with the items kept; bench --only history)."""

    def __init__(self, dom: Dom) -> None:
        self.dom = dom
        self._items: dict[str, tuple[tuple[str, bool], Any]] = {}
        """Chat id -> (what its item shows: title, being written; the item)."""

    def render(self, state: AppState) -> None:
        """Draw the list, the open chat marked active; not while a title is being edited."""
        if state.renaming is not None:
            return
        dom = self.dom
        running = state.running_sessions()
        items: dict[str, tuple[tuple[str, bool], Any]] = {}
        fragment = dom.document.createDocumentFragment()
        for index, (label, sessions) in enumerate(date_groups(state.sessions, time.time(), local_offset)):
            group = dom.element("section", None, "session-group", aria_labelledby=f"session-group-{index}")
            group.appendChild(
                dom.element("h2", label, "group-heading", id=f"session-group-{index}", data_testid="session-group")
            )
            listing = dom.element("ul", None, "session-items")
            for session in sessions:
                shown = (session.title, session.id in running)
                kept = self._items.get(session.id)
                if kept is None or kept[0] != shown:
                    kept = (shown, self._item(session.id, shown))
                items[session.id] = kept
                listing.appendChild(kept[1])
            group.appendChild(listing)
            fragment.appendChild(group)
        self._items = items  # chats no longer listed are forgotten
        focused = dom.document.activeElement  # moving a kept item into the fragment blurs it
        dom.by_testid("session-groups").replaceChildren(fragment)
        if focused and focused.isConnected and focused != dom.document.activeElement:
            focused.focus()
        mark_active(dom, state.chat.session_id)
        end = dom.by_testid("session-list-end")
        end.textContent = "Loading older chats…" if state.has_more else ""
        end.setAttribute("data-more", "true" if state.has_more else "false")

    def _item(self, session_id: str, shown: tuple[str, bool]) -> Any:
        title, running = shown
        item = self.dom.element("li", None, None, data_testid="session-item", data_session_id=session_id)
        item.appendChild(self.dom.element("span", title, "title", title=title))
        if running:
            item.setAttribute("data-running", "true")
            item.appendChild(
                self.dom.element("span", "●", "running", title="An answer is being written", aria_label="writing")
            )
        for symbol, action, testid in (("✎", "Rename", "rename-session"), ("×", "Delete", "delete-session")):
            label = f"{action} “{title}”"  # which chat, for a screen reader
            button = self.dom.element("button", symbol, "icon", data_testid=testid, title=action, aria_label=label)
            button.setAttribute("type", "button")
            item.appendChild(button)
        return item

    def show_rename_field(self, session_id: str, title: str) -> Any:
        """Put a text field with ``title`` in place of the chat's title, focused; return it."""
        self._items.pop(session_id, None)  # its item changes under the field: built anew next time
        item = self.dom.by_testid("session-list").querySelector(f'[data-session-id="{session_id}"]')
        field = self.dom.element("input", None, data_testid="rename-input", maxlength="200")
        field.value = title
        item.replaceChild(field, item.querySelector(".title"))
        field.focus()
        field.select()
        return field


def mark_active(dom: Dom, session_id: str) -> None:
    """Mark the open chat in the list (no redraw: opening a chat stays quick in a long list)."""
    listing = dom.by_testid("session-list")
    for item in listing.querySelectorAll('[data-testid="session-item"].active'):
        item.classList.remove("active")
    item = listing.querySelector(f'[data-session-id="{session_id}"]')
    if item:  # null when the chat is not in the list (new, or further down than loaded)
        item.classList.add("active")
