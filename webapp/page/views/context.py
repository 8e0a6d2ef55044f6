"""The context gauge by the composer, the marks on messages the model no longer sees, and
the summary sent in their place. Draws what ``state.context`` works out."""

from __future__ import annotations

from webapp.page.dom import Dom
from webapp.page.state.app import AppState
from webapp.page.state.context import current_context, gauge_text, gauge_title, outside_window, share, summary_shown

OUTSIDE_LABEL = "outside the model's window"


def render_context(dom: Dom, state: AppState) -> None:
    """Gauge, marks and summary for the branch shown (after the messages are drawn)."""
    context = current_context(state)
    render_gauge(dom, state)
    hidden = outside_window(state.chat.shown(), context)
    for message_id in hidden:
        node = dom.document.querySelector(f'.messages > [data-message-id="{message_id}"]')
        if node is None or node.classList.contains("outside-window"):
            continue
        node.classList.add("outside-window")
        node.insertBefore(
            dom.element("span", OUTSIDE_LABEL, "outside-label", data_testid="outside-window"), node.firstChild
        )
    summary = summary_shown(state.chat.summaries, hidden, context)
    first_seen = (
        dom.document.querySelector(f'.messages > [data-message-id="{context.visible_from}"]') if context else None
    )
    if summary is None or first_seen is None:
        return
    block = dom.element("details", None, "summary", data_testid="summary")
    block.appendChild(dom.element("summary", "Summary of earlier messages"))
    block.appendChild(dom.element("p", summary.content))
    first_seen.parentNode.insertBefore(block, first_seen)


def render_gauge(dom: Dom, state: AppState) -> None:
    """The gauge alone (it changes while an answer starts streaming)."""
    gauge = dom.by_testid("context-gauge")
    context = current_context(state)
    if context is None or not context.size:
        gauge.hidden = True
        return
    gauge.hidden = False
    gauge.setAttribute("title", gauge_title(context))
    gauge.setAttribute("aria-valuenow", str(context.used))
    gauge.setAttribute("aria-valuemax", str(context.size))
    gauge.setAttribute("aria-valuetext", gauge_text(context))
    gauge.querySelector(".fill").style.width = f"{share(context) * 100:.1f}%"
    gauge.querySelector(".text").textContent = gauge_text(context)
