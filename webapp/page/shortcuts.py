"""Keyboard shortcuts, as in the big chat apps.

- Ctrl+Shift+O (Cmd+Shift+O): new chat
- Escape while an answer streams: stop it
- Shift+Escape, or / when not typing: focus the message box
- Ctrl+Shift+Enter (Cmd+Shift+Enter): regenerate the last answer shown, with the model selected
- Ctrl+K (Cmd+K): focus the search box (Escape in it clears the search)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from webapp.page.dom import Dom
    from webapp.page.state.app import AppState


class ShortcutActions(Protocol):
    """What a shortcut asks for."""

    def new_chat(self, _event: Any = None) -> None: ...

    def stop(self, _event: Any = None) -> None: ...

    def regenerate_last(self) -> None: ...


class SearchBox(Protocol):
    def focus(self) -> None: ...


def shortcut_for(key: str, *, ctrl: bool, meta: bool, shift: bool, alt: bool, typing: bool, generating: bool) -> str:
    """The command a key press means: "new-chat", "stop", "focus-input", "regenerate", "search" or "" for none."""
    if (ctrl or meta) and not (shift or alt) and key.lower() == "k":
        return "search"
    if (ctrl or meta) and shift and not alt and key.lower() == "o":
        return "new-chat"
    if (ctrl or meta) and shift and not alt and key == "Enter" and not generating:
        return "regenerate"
    if key == "Escape" and shift and not (ctrl or meta or alt):
        return "focus-input"
    if key == "Escape" and generating and not (shift or ctrl or meta or alt):
        return "stop"
    if key == "/" and not (ctrl or meta or alt or typing):
        return "focus-input"
    return ""


def install(dom: Dom, state: AppState, actions: ShortcutActions, search: SearchBox) -> None:
    """Listen for the shortcuts on the whole page."""

    def on_key(event: Any) -> None:
        # A field that handled the key itself (Escape cancels a rename) keeps it.
        if event.defaultPrevented or event.isComposing:
            return
        command = shortcut_for(
            str(event.key),
            ctrl=bool(event.ctrlKey),
            meta=bool(event.metaKey),
            shift=bool(event.shiftKey),
            alt=bool(event.altKey),
            typing=is_typing_target(event.target),
            generating=state.busy,
        )
        if not command:
            return
        event.preventDefault()
        if command == "new-chat":
            actions.new_chat()
        elif command == "stop":
            actions.stop()
        elif command == "regenerate":
            actions.regenerate_last()
        elif command == "search":
            search.focus()
        else:
            dom.by_testid("message-input").focus()

    dom.on(dom.document, "keydown", on_key)


def is_typing_target(target: Any) -> bool:
    """Whether a key press on ``target`` types text (a text field, a select, editable content)."""
    tag = str(getattr(target, "tagName", "") or "").upper()
    return tag in ("INPUT", "TEXTAREA", "SELECT") or bool(getattr(target, "isContentEditable", False))
