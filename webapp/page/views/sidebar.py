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

from shared.schemas import Session
from shared.sidebar import DAY, date_groups
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


def today() -> int:
    """The browser's local day, as a number: the date headings change when it does."""
    now = time.time()
    return int((now + local_offset(now)) // DAY)


class Sidebar:
    """The list of chats under date headings. Each chat's item is kept and built again only
    when what it shows changed: the list is drawn again after every answer, rename and
    delete, and building every item again through the FFI took ~75 ms a redraw at 1,000
    chats listed (~40 ms with the items kept; bench --only history). A page loaded at the
    end of the list is drawn by ``extend``: its items go after the last one, and the items
    above stay where they are."""

    def __init__(self, dom: Dom) -> None:
        self.dom = dom
        self._items: dict[str, tuple[tuple[str, bool], Any]] = {}
        """Chat id -> (what its item shows: title, being written; the item)."""
        self._drawn: list[Session] | None = None
        """The list on the page (``state.sessions`` when drawn; None when not drawn as it is)."""
        self._count = 0
        """How many of its chats are drawn."""
        self._last: tuple[str, Any] | None = None
        """The last heading's label and the list under it."""
        self._headings = 0
        self._day = 0
        """The local day the headings were worked out on ("Today" moves at midnight)."""

    def render(self, state: AppState) -> None:
        """Draw the list, the open chat marked active; not while a title is being edited."""
        if state.renaming is not None:
            self._drawn = None  # the list stays as it was: a page loaded meanwhile draws it whole
            return
        dom = self.dom
        kept, self._items = self._items, {}  # chats no longer listed are forgotten
        self._count, self._last, self._headings, self._day = 0, None, 0, today()
        fragment = dom.document.createDocumentFragment()
        self._add(state, state.sessions, fragment, kept)
        focused = dom.document.activeElement  # moving a kept item into the fragment blurs it
        dom.by_testid("session-groups").replaceChildren(fragment)
        if focused and focused.isConnected and focused != dom.document.activeElement:
            focused.focus()
        mark_active(dom, state.chat.session_id)
        self._drawn = state.sessions
        self._show_end(state)

    def extend(self, state: AppState, added: list[Session], changed: list[Session]) -> None:
        """Draw ``added``, the chats just put at the end of ``state.sessions``, after the
        last item (under its heading when they continue it), and build the items of
        ``changed`` again in their places; the other items are not touched. The list is
        drawn whole instead when the one on the page is not what these extend, or the day
        has changed."""
        if (
            state.renaming is not None
            or self._drawn is not state.sessions
            or self._count != len(state.sessions) - len(added)
            or self._day != today()
        ):
            self.render(state)
            return
        running = state.running_sessions()
        for session in changed:
            shown = (session.title, session.id in running)
            kept = self._items.get(session.id)
            if kept is None or kept[0] == shown:
                continue
            item = self._item(session.id, shown)
            if kept[1].classList.contains("active"):
                item.classList.add("active")
            focused = kept[1].contains(self.dom.document.activeElement)
            kept[1].replaceWith(item)
            self._items[session.id] = (shown, item)
            if focused:
                item.focus()
        self._add(state, added, self.dom.by_testid("session-groups"), self._items)
        if any(session.id == state.chat.session_id for session in added):
            mark_active(self.dom, state.chat.session_id)
        self._show_end(state)

    def _add(self, state: AppState, sessions: list[Session], into: Any, kept: dict[str, Any]) -> None:
        """Put the items of ``sessions``, the chats after those drawn, at the end: in the
        last heading's list while their label is its, then under new headings in ``into``.
        An item in ``kept`` that still shows the same is used again."""
        dom = self.dom
        running = state.running_sessions()
        for label, chats in date_groups(sessions, time.time(), local_offset):
            items = dom.document.createDocumentFragment()
            for session in chats:
                shown = (session.title, session.id in running)
                item = kept.get(session.id)
                if item is None or item[0] != shown:
                    item = (shown, self._item(session.id, shown))
                self._items[session.id] = item
                items.appendChild(item[1])
            self._count += len(chats)
            if self._last is not None and self._last[0] == label:
                self._last[1].appendChild(items)
                continue
            index = self._headings
            group = dom.element("section", None, "session-group", aria_labelledby=f"session-group-{index}")
            group.appendChild(
                dom.element("h2", label, "group-heading", id=f"session-group-{index}", data_testid="session-group")
            )
            listing = dom.element("ul", None, "session-items")
            listing.appendChild(items)
            group.appendChild(listing)
            into.appendChild(group)
            self._last, self._headings = (label, listing), index + 1

    def _show_end(self, state: AppState) -> None:
        end = self.dom.by_testid("session-list-end")
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
