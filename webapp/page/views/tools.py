"""Under each message: a Copy button and, for answers streamed since the page loaded, how
they were made (tokens, speed, time to the first token).

Every copy button (a message's, and the one ``markdown`` puts at the top of each code
block) is handled by one listener on the message list, so redrawn answers need no new
handlers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import js
from pyodide.ffi import JsException

from shared.schemas import Message
from webapp.page.dom import Dom
from webapp.page.state.answer_stats import AnswerStats
from webapp.page.state.app import AppState

COPIED_SECONDS = 1.5
"""How long a copy button says "Copied"."""


def install(dom: Dom, state: AppState) -> None:
    """Handle the clicks on every copy button of the message list, now and later."""
    dom.on(dom.by_testid("messages"), "click", lambda event: on_click(dom, state, event))


def decorate(dom: Dom, state: AppState, node: Any, message: Message) -> None:
    """Add the tools row to a message's element: Copy, and the statistics the page has."""
    tools = dom.element("div", None, "tools")
    tools.appendChild(
        dom.element("button", "Copy", "copy", data_testid="copy", data_copy="message", type="button", title="Copy")
    )
    node.appendChild(tools)
    stats = state.answer_stats.get(message.id) if message.id else None
    if stats is not None:
        show_stats(dom, node, stats)


def show_stats(dom: Dom, node: Any, stats: AnswerStats) -> None:
    """A "Stats" toggle that shows the answer's statistics on hover (its title) and on click."""
    text = stats.text()
    tools = node.querySelector(":scope > .tools")
    if not text or not tools or tools.querySelector(".stats"):
        return
    details = dom.element("details", None, "stats", data_testid="answer-stats")
    details.appendChild(dom.element("summary", "Stats", None, data_testid="stats-toggle", title=text))
    details.appendChild(dom.element("span", text, "stats-text"))
    tools.appendChild(details)


async def on_click(dom: Dom, state: AppState, event: Any) -> None:
    # A DOM lookup that finds nothing gives JS null, which is falsy but not None in Python.
    button = event.target.closest("[data-copy]") if hasattr(event.target, "closest") else None
    if not button:
        return
    if button.getAttribute("data-copy") == "code":
        text = button.closest("pre").querySelector("code").textContent
    else:
        text = message_text(state, button.closest('[data-testid="message"]'))
    button.textContent = "Copied" if await copy_text(dom, text) else "Copy failed"
    button.setAttribute("data-copied", "true")
    await asyncio.sleep(COPIED_SECONDS)
    button.textContent = "Copy"
    button.removeAttribute("data-copied")


def message_text(state: AppState, node: Any) -> str:
    """A message as it was written (an answer's Markdown source), or its text while it streams."""
    message_id = node.getAttribute("data-message-id")
    for message in state.chat.messages:
        if message_id and message.id == message_id:
            return message.content
    content = node.querySelector(".content")
    return str(content.innerText if content else node.firstChild.textContent)


async def copy_text(dom: Dom, text: str) -> bool:
    """Put ``text`` on the clipboard; whether that worked.

    The Clipboard API is missing on insecure origins and may refuse (no permission, page
    not focused, headless browsers): then the old way, selecting a hidden text field.
    """
    clipboard = getattr(js.navigator, "clipboard", None)
    if clipboard:
        try:
            await clipboard.writeText(text)
            return True
        except JsException as error:
            js.console.warn(f"Clipboard API refused, copying by selection: {error}")
    return copy_by_selection(dom, text)


def copy_by_selection(dom: Dom, text: str) -> bool:
    document = dom.document
    focused = document.activeElement
    field = dom.element("textarea", None, "copy-buffer", readonly="", aria_hidden="true")
    field.value = text
    document.body.appendChild(field)
    field.select()
    try:
        return bool(document.execCommand("copy"))
    finally:
        field.remove()
        if focused and hasattr(focused, "focus"):
            focused.focus()
