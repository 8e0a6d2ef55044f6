"""The sidebar: the merged list of chats, each with rename and delete."""

from __future__ import annotations

from typing import Any, Protocol

from dom import Dom
from state import AppState


class SidebarActions(Protocol):
    """What a click in the sidebar asks for."""

    async def open_session(self, session_id: str) -> None: ...

    def start_rename(self, event: Any, session_id: str) -> None: ...

    async def delete_session(self, event: Any, session_id: str) -> None: ...


def render_sessions(dom: Dom, state: AppState, actions: SidebarActions) -> None:
    """Redraw the list, the open chat marked active; not while a title is being edited."""
    if state.renaming is not None:
        return
    listing = dom.by_testid("session-list")
    listing.innerHTML = ""
    running = state.running_sessions()
    for session in state.sessions:
        item = dom.element(
            "li",
            None,
            "active" if session.id == state.chat.session_id else None,
            data_testid="session-item",
            data_session_id=session.id,
        )
        item.appendChild(dom.element("span", session.title, "title", title=session.title))
        if session.id in running:
            item.setAttribute("data-running", "true")
            item.appendChild(
                dom.element("span", "●", "running", title="An answer is being written", aria_label="writing")
            )
        rename = dom.element("button", "✎", "icon", data_testid="rename-session", title="Rename", type="button")
        delete = dom.element("button", "×", "icon", data_testid="delete-session", title="Delete", type="button")
        item.appendChild(rename)
        item.appendChild(delete)
        sid = session.id
        dom.on(item, "click", lambda _e, sid=sid: actions.open_session(sid))
        dom.on(rename, "click", lambda e, sid=sid: actions.start_rename(e, sid))
        dom.on(delete, "click", lambda e, sid=sid: actions.delete_session(e, sid))
        listing.appendChild(item)


def show_rename_field(dom: Dom, session_id: str, title: str) -> Any:
    """Put a text field with ``title`` in place of the chat's title, focused; return it."""
    item = dom.by_testid("session-list").querySelector(f'[data-session-id="{session_id}"]')
    field = dom.element("input", None, data_testid="rename-input", maxlength="200")
    field.value = title
    item.replaceChild(field, item.querySelector(".title"))
    field.focus()
    field.select()
    return field
