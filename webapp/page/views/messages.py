"""The message list: questions as text, answers as safe Markdown with their model and finish."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import js

from shared.schemas import GENERATING, Message
from webapp.page.dom import Dom
from webapp.page.state.app import AppState
from webapp.page.state.service import Service
from webapp.page.views import context as view_context
from webapp.page.views import tools as view_tools

if TYPE_CHECKING:
    from webapp.page.markdown import StreamingMarkdown

# ``render`` (Markdown, and through it Pygments) is imported on first use, not at start:
# importing markdown_it costs a few hundred ms the page's first paint need not wait for
# (main.py imports it just after the page is ready, when nothing else is going on).

RENDER_EVERY_MS = 60
STATE_LABELS = {
    "cancelled": "stopped",
    "error": "failed",
    "length": "cut at the length limit",
    "interrupted": "interrupted: its service stopped while writing it",
    "generating": "being written",
}
"""The badge an answer gets for how it ended (a normal stop gets none)."""


class GrowingAnswer:
    """The element of an answer that is streaming in, and how far it has been drawn."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.last_render = 0.0
        from webapp.page.markdown import StreamingMarkdown

        self.markdown: StreamingMarkdown | None = StreamingMarkdown()
        """Renders the answer as it grows; None once it failed (the answer then shows as text)."""
        self.settled_nodes = 0
        """How many of the content's child nodes are settled blocks; the ones after are the tail."""


class MessageActions(Protocol):
    """What the controls on a message ask for."""

    async def regenerate(self, message: Message) -> None: ...

    def start_edit(self, message: Message) -> None: ...

    async def continue_answer(self, message: Message) -> None: ...

    def flip(self, message: Message, step: int) -> None: ...

    def pick(self, message: Message) -> None: ...


CONTINUABLE = ("length", "cancelled", "interrupted")
"""Answers that ended before the model was done: Continue resumes them."""


def render_chat(dom: Dom, state: AppState, actions: MessageActions) -> None:
    """Draw the branch shown; after Ask both, the question's answers side by side."""
    box = dom.by_testid("messages")
    box.innerHTML = ""
    shown = state.chat.shown()
    if not shown:
        box.appendChild(dom.element("div", "Ask anything. Your chats stay on this machine.", "placeholder"))
    skip: str | None = None
    for message in shown:
        if message.id == skip:
            continue
        box.appendChild(message_element(dom, state, message, actions))
        answers = state.chat.answers_to(message.id)
        if message.id == state.chat.compare and len(answers) > 1:
            columns = compare_box(dom, box)
            for answer in answers:
                node = message_element(dom, state, answer, actions)
                node.classList.add("chosen" if answer in shown else "other")
                columns.appendChild(node)
            skip = next((a.id for a in answers if a in shown), None)
    view_context.render_context(dom, state)
    box.scrollTop = box.scrollHeight


def compare_box(dom: Dom, box: Any) -> Any:
    """The side-by-side row at the end of the list (made on first use)."""
    last = box.lastElementChild
    if last is not None and last.getAttribute("data-testid") == "compare":
        return last
    row = dom.element("div", None, "compare", data_testid="compare")
    box.appendChild(row)
    return row


def message_element(dom: Dom, state: AppState, message: Message, actions: MessageActions) -> Any:
    node = dom.element(
        "div",
        None,
        "message",
        data_testid="message",
        data_role=message.role,
        data_message_id=message.id,
        data_parent_id=message.parent_id or "",
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
        live = state.generation_for(message.id) if message.id else None
        set_markdown(content, live.text if live and live.text else message.content)  # stored until caught up
        node.appendChild(content)
        set_finish(dom, node, None if live else message.finish_reason, message.error)
    else:
        node.appendChild(dom.element("div", message.content, "content"))
    view_tools.decorate(dom, state, node, message)
    if message.id and message.finish_reason != GENERATING:  # not for an answer being written
        node.appendChild(controls(dom, state, message, actions))
    return node


def controls(dom: Dom, state: AppState, message: Message, actions: MessageActions) -> Any:
    """Sibling navigation and the message's actions."""
    bar = dom.element("div", None, "controls")
    siblings = state.chat.siblings(message)
    if len(siblings) > 1:
        index = next((i for i, m in enumerate(siblings) if m.id == message.id), 0)
        previous = button(dom, "‹", "sibling-prev", f"Previous version ({index} of {len(siblings)})")
        previous.disabled = index == 0
        dom.on(previous, "click", lambda _e: actions.flip(message, -1))
        following = button(dom, "›", "sibling-next", "Next version")
        following.disabled = index == len(siblings) - 1
        dom.on(following, "click", lambda _e: actions.flip(message, 1))
        bar.appendChild(previous)
        bar.appendChild(
            dom.element("span", f"{index + 1}/{len(siblings)}", "sibling-index", data_testid="sibling-index")
        )
        bar.appendChild(following)
    busy = state.busy
    if message.role == "user":
        edit = button(dom, "Edit", "edit", "Edit this question and ask again (the old branch stays)")
        edit.disabled = busy
        dom.on(edit, "click", lambda _e: actions.start_edit(message))
        bar.appendChild(edit)
        return bar
    regenerate = button(dom, "Regenerate", "regenerate", "Answer again with the model selected above")
    regenerate.disabled = busy
    dom.on(regenerate, "click", lambda _e: actions.regenerate(message))
    bar.appendChild(regenerate)
    if message.finish_reason in CONTINUABLE:
        more = button(dom, "Continue", "continue", "Let the model go on with this answer")
        more.disabled = busy
        dom.on(more, "click", lambda _e: actions.continue_answer(message))
        bar.appendChild(more)
    if state.chat.compare and message.parent_id == state.chat.compare:
        pick = button(dom, "Continue from this one", "pick", "Go on with this answer")
        dom.on(pick, "click", lambda _e: actions.pick(message))
        bar.appendChild(pick)
    return bar


def button(dom: Dom, text: str, testid: str, title: str) -> Any:
    node = dom.element("button", text, f"control {testid}", data_testid=testid, title=title, type="button")
    # A word is its own name (the title describes it); a symbol (‹ ›) is named by the title.
    if not any(c.isalpha() for c in text):
        node.setAttribute("aria-label", title)
    return node


def edit_field(dom: Dom, message_id: str, text: str) -> tuple[Any, Any, Any]:
    """Turn a question into a text box with Save and Cancel; returns the three."""
    node = dom.document.querySelector(f'[data-message-id="{message_id}"]')
    field = dom.element("textarea", None, "edit-field", data_testid="edit-field")
    field.value = text
    save = button(dom, "Save and ask", "edit-save", "Ask this instead")
    cancel = button(dom, "Cancel", "edit-cancel", "Keep the question as it was")
    node.innerHTML = ""
    for part in (field, save, cancel):
        node.appendChild(part)
    field.focus()
    return field, save, cancel


def set_markdown(node: Any, text: str) -> None:
    from webapp.page.markdown import render_markdown

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


def add_answer(dom: Dom, state: AppState, service: Service, actions: MessageActions, beside: bool) -> GrowingAnswer:
    """An empty answer from ``service`` at the end of the list (``beside``: in the
    side-by-side row of Ask both), to stream into."""
    placeholder = Message(
        id="",
        session_id=state.chat.session_id,
        role="assistant",
        content="",
        created_at=0,
        model=service.model,
        service=service.id,
    )
    node = message_element(dom, state, placeholder, actions)
    box = dom.by_testid("messages")
    (compare_box(dom, box) if beside else box).appendChild(node)
    return GrowingAnswer(node)


def continued_answer(dom: Dom, message_id: str) -> GrowingAnswer:
    """The element of a shown answer that is being continued, to grow in place."""
    node = dom.document.querySelector(f'[data-message-id="{message_id}"]')
    node.setAttribute("data-finish", "")
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
