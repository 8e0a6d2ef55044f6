"""The composer (message box, Send, Ask both, Stop) and the error line above the messages."""

from __future__ import annotations

from webapp.page.dom import Dom
from webapp.page.state.app import AppState


def enable_controls(dom: Dom) -> None:
    """The controls start disabled in the HTML, until Python runs."""
    for control in ("model-select", "message-input", "send", "new-chat", "ask-both"):
        dom.by_testid(control).disabled = False


def render_composer(dom: Dom, state: AppState) -> None:
    """Send or Stop, whichever fits the open chat (other chats' answers run on)."""
    active = state.busy
    dom.by_testid("send").hidden = active
    dom.by_testid("ask-both").hidden = active
    dom.by_testid("stop").hidden = not active


def input_text(dom: Dom) -> str:
    return dom.by_testid("message-input").value.strip()


def clear_input(dom: Dom) -> None:
    dom.by_testid("message-input").value = ""


def focus_input(dom: Dom) -> None:
    dom.by_testid("message-input").focus()


def show_error(dom: Dom, message: str | None) -> None:
    box = dom.by_testid("error")
    box.textContent = message or ""
    box.hidden = not message
