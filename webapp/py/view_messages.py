"""The message list: questions as text, answers as safe Markdown with their model and finish."""

from __future__ import annotations

from typing import Any

import js

import view_tools
from dom import Dom
from render import StreamingMarkdown, render_markdown
from shared.schemas import Message
from state import AppState, Service

RENDER_EVERY_MS = 60
STATE_LABELS = {"cancelled": "stopped", "error": "failed", "length": "cut at the length limit"}
"""The badge an answer gets for how it ended (a normal stop gets none)."""


class GrowingAnswer:
    """The element of an answer that is streaming in, and how far it has been drawn."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.last_render = 0.0
        self.markdown: StreamingMarkdown | None = StreamingMarkdown()
        """Renders the answer as it grows; None once it failed (the answer then shows as text)."""
        self.settled_nodes = 0
        """How many of the content's child nodes are settled blocks; the ones after are the tail."""


def render_chat(dom: Dom, state: AppState) -> None:
    box = dom.by_testid("messages")
    box.innerHTML = ""
    if not state.chat.messages:
        box.appendChild(dom.element("div", "Ask anything. Your chats stay on this machine.", "placeholder"))
    for message in state.chat.messages:
        box.appendChild(message_element(dom, state, message))
    box.scrollTop = box.scrollHeight


def add_question(dom: Dom, state: AppState, question: Message) -> None:
    """Show a question just asked: the whole chat if it is the first, else one more element."""
    if len(state.chat.messages) == 1:
        render_chat(dom, state)
    else:
        dom.by_testid("messages").appendChild(message_element(dom, state, question))


def message_element(dom: Dom, state: AppState, message: Message) -> Any:
    node = dom.element(
        "div", None, "message", data_testid="message", data_role=message.role, data_message_id=message.id
    )
    if message.role == "assistant":
        node.setAttribute("data-model", message.model or "")
        node.setAttribute("data-service", message.service or "")
        meta = dom.element("div", None, "meta")
        service = state.services.get(message.service or "")
        meta.appendChild(
            dom.element("span", f"{message.model or 'model'}" + (f" · {service.label}" if service else ""), "model")
        )
        node.appendChild(meta)
        content = dom.element("div", None, "content")
        set_markdown(content, message.content)
        node.appendChild(content)
        set_finish(dom, node, message.finish_reason, message.error)
    else:
        node.textContent = message.content
    view_tools.decorate(dom, state, node, message)
    return node


def set_markdown(node: Any, text: str) -> None:
    try:
        node.innerHTML = render_markdown(text)
    except Exception as error:  # a renderer bug must not lose the answer: show it as text
        js.console.error(f"Markdown rendering failed: {error!r}")
        node.textContent = text


def set_finish(dom: Dom, node: Any, reason: str | None, error: str | None = None) -> None:
    node.setAttribute("data-finish", reason or "")
    label = STATE_LABELS.get(reason or "")
    meta = node.querySelector(".meta")
    old = meta.querySelector(".badge")
    if old:
        old.remove()
    if label:
        badge = dom.element(
            "span",
            label + (f": {error}" if error else ""),
            "badge error" if reason == "error" else "badge",
            data_testid="finish-badge",
        )
        meta.appendChild(badge)


def add_answer(dom: Dom, state: AppState, service: Service) -> GrowingAnswer:
    """An empty answer from ``service`` at the end of the list, to stream into."""
    placeholder = Message(
        id="",
        session_id=state.chat.session_id,
        role="assistant",
        content="",
        created_at=0,
        model=service.model,
        service=service.id,
    )
    node = message_element(dom, state, placeholder)
    dom.by_testid("messages").appendChild(node)
    return GrowingAnswer(node)


def set_answer_id(answer: GrowingAnswer, message_id: str) -> None:
    answer.node.setAttribute("data-message-id", message_id)


def grow_answer(dom: Dom, answer: GrowingAnswer, text: str) -> None:
    """Draw the answer so far, at most every RENDER_EVERY_MS."""
    now = js.performance.now()
    # A redraw parses only the answer's last blocks, so it costs about the same however
    # long the answer is; tokens that arrive in between are drawn together with the
    # next one, leaving the CPU to the model.
    if now - answer.last_render >= RENDER_EVERY_MS:
        show_answer(dom, answer, text)
        answer.last_render = now


def finish_answer(dom: Dom, answer: GrowingAnswer, message: Message) -> None:
    """Draw the ended answer in full, with its id and how it ended."""
    show_answer(dom, answer, message.content, complete=True)
    set_answer_id(answer, message.id)
    set_finish(dom, answer.node, message.finish_reason, message.error)


def show_answer(dom: Dom, answer: GrowingAnswer, text: str, complete: bool = False) -> None:
    """Draw the answer so far: while it streams only what changed, once complete all of it."""
    box = dom.by_testid("messages")
    near_bottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80
    content = answer.node.querySelector(".content")
    if complete:
        set_markdown(content, text)  # the pieces miss links to references elsewhere
    else:
        show_growing_markdown(answer, content, text)
    if near_bottom:
        box.scrollTop = box.scrollHeight


def show_growing_markdown(answer: GrowingAnswer, content: Any, text: str) -> None:
    """Append the blocks settled since the last draw and replace the tail after them."""
    if answer.markdown is not None:
        try:
            settled, tail = answer.markdown.update(text)
        except Exception as error:  # a renderer bug must not lose the answer: show it as text
            js.console.error(f"Markdown rendering failed: {error!r}")
            answer.markdown = None
    if answer.markdown is None:
        content.textContent = text
        return
    # Settled blocks and the tail sit side by side in ``content``, as in the complete
    # answer, so the page's styles apply alike and the final render does not jump.
    while content.childNodes.length > answer.settled_nodes:
        content.lastChild.remove()
    if settled:
        content.insertAdjacentHTML("beforeend", settled)
        answer.settled_nodes = content.childNodes.length
    content.insertAdjacentHTML("beforeend", tail)
