"""Streaming answers into the open chat: one or two at once (Ask both), new or continued.

Each answer is a :class:`Generation` in the state and a growing element in the message
view; when it ends it joins the chat's tree, and the first to end is the branch shown.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import js

import view_composer
import view_context
import view_messages
import view_status
import view_tools
from answer_stats import AnswerStats
from branches import save_branches
from client import ServiceError, stream
from dom import Dom
from shared.schemas import Message, parse_chunk
from shared.sse import ServerSentEvent
from state import AppState, Generation, Service
from view_messages import GrowingAnswer, MessageActions


def now() -> float:
    """Seconds since the epoch, as the services store them."""
    return js.Date.now() / 1000


class Answers:
    """Streams answers for the page's actions."""

    def __init__(
        self, state: AppState, dom: Dom, message_actions: MessageActions, show_error: Callable[[str | None], None]
    ) -> None:
        self.state, self.dom = state, dom
        self.message_actions = message_actions
        """What the controls of a redrawn message call."""
        self.show_error = show_error

    async def run(self, services: list[Service], path: list[Message], continued: Message | None = None) -> None:
        """Stream answers to the last message of ``path`` from each service at once (or,
        with ``continued``, more of that answer), then keep and show them."""
        state, dom, chat = self.state, self.dom, self.state.chat
        parent = continued.parent_id if continued else path[-1].id
        chat.pending = None if continued else parent
        state.generations = [
            Generation(
                service=service,
                controller=js.AbortController.new(),
                parent_id=parent,
                text=continued.content if continued else "",
                message_id=continued.id if continued else None,
                created_at=continued.created_at if continued else now(),
            )
            for service in services
        ]
        view_messages.render_chat(dom, state, self.message_actions)
        view_composer.render_composer(dom, state)
        view_status.set_activity(dom, ", ".join(f"{s.label}: sending…" for s in services))
        js.location.hash = f"chat={chat.session_id}"
        body = chat.request(path, continue_answer=continued is not None).to_dict()
        try:
            await asyncio.gather(
                *(
                    self.stream_one(
                        generation,
                        view_messages.continued_answer(dom, continued.id)
                        if continued
                        else view_messages.add_answer(
                            dom, state, generation.service, self.message_actions, beside=len(services) > 1
                        ),
                        body,
                    )
                    for generation in state.generations
                )
            )
        finally:
            state.generations = []
            chat.pending = None
            save_branches(chat)
            view_messages.render_chat(dom, state, self.message_actions)
            view_composer.render_composer(dom, state)
            view_status.set_activity(dom, "")
            view_composer.focus_input(dom)

    async def stream_one(self, current: Generation, answer: GrowingAnswer, body: dict[str, Any]) -> None:
        service = current.service
        try:
            await stream(
                service.url + "/api/chat",
                body,
                current.controller,
                lambda event: self.on_stream_event(current, answer, event),
            )
            if current.finish_reason is None:
                self.finish(current, answer, "error", error="the stream ended early")
        except ServiceError as error:
            self.finish(current, answer, "error", error=str(error))
            self.show_error(f"{service.label}: {error}")
        except Exception:  # the JS AbortError when Stop was pressed
            if not current.controller.signal.aborted:
                raise
            if current.finish_reason is None:
                self.finish(current, answer, "cancelled")

    def on_stream_event(self, current: Generation, answer: GrowingAnswer, event: ServerSentEvent) -> None:
        if current not in self.state.generations:
            return
        label = current.service.label
        if event.event == "status":
            status = json.loads(event.data)
            if status.get("state") == "queued":
                view_status.set_activity(self.dom, f"{label}: queued (position {status.get('position')})")
            else:
                view_status.set_activity(self.dom, f"{label}: generating…")
            return
        if event.data == "[DONE]":
            return
        delta = parse_chunk(json.loads(event.data))
        if delta.message_id:
            current.message_id = delta.message_id
            view_messages.set_answer_id(answer, delta.message_id)
        if delta.context and current.message_id:
            self.state.chat.contexts[current.message_id] = delta.context
            view_context.render_gauge(self.dom, self.state)
        if delta.content:
            current.text += delta.content
            view_messages.grow_answer(self.dom, answer, current.text)
        if delta.timings and delta.timings.tokens_per_second:
            view_status.set_activity(self.dom, f"{label}: {delta.timings.tokens_per_second:g} tok/s")
        if (stats := AnswerStats.from_delta(delta)) and current.message_id:
            self.state.answer_stats[current.message_id] = stats
            view_tools.show_stats(self.dom, answer.node, stats)
        if delta.finish_reason:
            self.finish(current, answer, delta.finish_reason, delta.error.message if delta.error else None)

    def finish(self, current: Generation, answer: GrowingAnswer, reason: str, error: str | None = None) -> None:
        """The answer has ended: keep it in the chat and draw it in full with its finish.
        The first answer to end is the one the chat goes on from."""
        first = not any(g.finish_reason for g in self.state.generations if g is not current)
        current.finish_reason = reason
        message = current.answer(self.state.chat.session_id, now(), error)
        view_messages.finish_answer(self.dom, answer, message)
        if current.message_id is None:
            return  # the service never took it (it failed first): nothing stored to go on from
        self.state.chat.add(message)
        if first:
            self.state.chat.choose(message)
