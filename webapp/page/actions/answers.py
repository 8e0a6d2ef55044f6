"""Following answers as the services write them: new or continued, one or two at once
(Ask both), or reattached to after a reload or on reopening their chat.

Each answer is a :class:`Generation` in the state. An answer belongs to its service, not to
the page: it goes on when the user opens another chat or reloads, and only an explicit
stop ends it. It is drawn while its chat is open; when it ends it joins the chat's tree,
and the first to end is the branch shown.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import js

from shared.chunks import parse_chunk
from shared.schemas import INTERRUPTED, Message
from shared.sse import ServerSentEvent
from webapp.page import a11y
from webapp.page.actions.branches import save_branches
from webapp.page.api import endpoints
from webapp.page.api.http import ConnectionLost, ServiceError
from webapp.page.dom import Dom
from webapp.page.state.answer_stats import AnswerStats
from webapp.page.state.app import AppState
from webapp.page.state.generations import Generation
from webapp.page.state.service import Service
from webapp.page.views import composer as view_composer
from webapp.page.views import context as view_context
from webapp.page.views import messages as view_messages
from webapp.page.views import status as view_status
from webapp.page.views import tools as view_tools
from webapp.page.views.messages import GrowingAnswer, MessageActions

TITLE_WAITS = (3.0, 6.0, 12.0)
"""Seconds between the history reloads that pick up the title the model writes for a new
chat after its first answer (engine.chat.titles); none once the chat has a title of its own."""


def now() -> float:
    """Seconds since the epoch, as the services store them."""
    return js.Date.now() / 1000


class Answers:
    """Streams answers for the page's actions."""

    def __init__(
        self,
        state: AppState,
        dom: Dom,
        message_actions: MessageActions,
        show_error: Callable[[str | None], None],
        refresh_history: Callable[[], Any],
        redraw_sidebar: Callable[[], None],
    ) -> None:
        self.state, self.dom = state, dom
        self.message_actions = message_actions
        """What the controls of a redrawn message call."""
        self.show_error = show_error
        self.redraw_sidebar = redraw_sidebar
        """Draws the chat list (it marks the chats with answers being written)."""
        self.refresh_history = refresh_history
        """Reloads the chat list (awaitable): when an answer is stored and when it ends."""
        self._views: dict[Generation, GrowingAnswer] = {}

    async def run(self, services: list[Service], path: list[Message], continued: Message | None = None) -> None:
        """Stream answers to the last message of ``path`` from each service at once (or,
        with ``continued``, more of that answer), then keep and show them."""
        state, dom, chat = self.state, self.dom, self.state.chat
        parent = continued.parent_id if continued else path[-1].id
        chat.pending = None if continued else parent
        generations = [
            Generation(
                service=service,
                controller=js.AbortController.new(),
                session_id=chat.session_id,
                parent_id=parent,
                text=continued.content if continued else "",
                message_id=continued.id if continued else None,
                created_at=continued.created_at if continued else now(),
            )
            for service in services
        ]
        state.generations.extend(generations)
        self.redraw_chat()
        self.redraw_sidebar()
        for generation in generations:
            self._views[generation] = (
                view_messages.continued_answer(dom, continued.id)
                if continued
                else view_messages.add_answer(
                    dom, state, generation.service, self.message_actions, beside=len(services) > 1
                )
            )
        view_status.set_activity(dom, ", ".join(f"{s.label}: sending…" for s in services))
        js.location.hash = f"chat={chat.session_id}"
        chat_request = chat.request(path, continue_answer=continued is not None)
        await self.follow(generations, lambda g: endpoints.chat(g.service, chat_request))
        if continued is None and sum(m.role == "user" for m in path) == 1:
            asyncio.ensure_future(self.await_title(chat.session_id))

    async def await_title(self, session_id: str) -> None:
        """Reload the history a few times, until the chat's title is the model's (or the user's)."""
        for wait in TITLE_WAITS:
            await asyncio.sleep(wait)
            session = next((s for s in self.state.sessions if s.id == session_id), None)
            if session is None or session.title_source != "opening":
                return
            await self.refresh_history()

    def attach(self, message: Message) -> Generation | None:
        """Count an answer its service is still writing (found on opening its chat) as a
        generation of this page at once, so the chat is drawn busy from the first frame."""
        service = self.state.services.get(message.service or "")
        if service is None or not service.online or self.state.generation_for(message.id) is not None:
            return None
        generation = Generation(
            service=service,
            controller=js.AbortController.new(),
            session_id=message.session_id,
            parent_id=message.parent_id,
            message_id=message.id,
            created_at=message.created_at,
        )
        self.state.generations.append(generation)
        return generation

    async def reattach(self, generation: Generation) -> None:
        """Follow an attached answer to its end."""
        message_id = generation.message_id or ""  # attached answers are named
        answer = endpoints.answer_stream(generation.service, generation.session_id, message_id)
        await self.follow([generation], lambda _g: answer)

    async def follow(self, generations: list[Generation], stream_of: Callable[[Generation], endpoints.Stream]) -> None:
        """Read the generations' streams to their ends, then draw their chat anew."""
        try:
            await asyncio.gather(*(self.stream_one(g, stream_of(g)) for g in generations))
        finally:
            for generation in generations:
                self.state.generations.remove(generation)
                self._views.pop(generation, None)
            chat = self.state.chat_of(generations[0])
            if chat is not None:  # else another chat is on screen: leave it be
                chat.pending = None
                save_branches(chat)
                view_status.set_activity(self.dom, "")
                self.redraw_chat()
                view_composer.focus_input(self.dom)
            self.redraw_sidebar()  # the chat's "being written" mark goes now, not after the refresh
            await self.refresh_history()

    def redraw_chat(self) -> None:
        view_messages.render_chat(self.dom, self.state, self.message_actions)
        view_composer.render_composer(self.dom, self.state)

    async def stream_one(self, current: Generation, answer: endpoints.Stream) -> None:
        service = current.service
        try:
            await answer.read(current.controller, lambda event: self.on_stream_event(current, event))
            if current.finish_reason is None:
                raise ConnectionLost(answer.url)
        except ConnectionLost as error:
            # The service went away mid-answer; it keeps what it saved, marked interrupted.
            if current.finish_reason is None:
                self.finish(current, INTERRUPTED, error=str(error))
        except ServiceError as error:
            self.finish(current, "error", error=str(error))
            self.show_error(f"{service.label}: {error}")
        except Exception:  # the JS AbortError: the page stopped reading
            if not current.controller.signal.aborted:
                raise
            if current.finish_reason is None:
                self.finish(current, "cancelled")

    def view_of(self, generation: Generation) -> GrowingAnswer | None:
        """Where the answer is drawn: None while its chat is not on screen. A redraw of the
        chat makes a new element; the answer is found again by its id."""
        view = self._views.get(generation)
        if view is not None and view.node.isConnected:
            return view
        if generation.message_id is None or self.state.chat_of(generation) is None:
            return None
        node = self.dom.document.querySelector(f'[data-message-id="{generation.message_id}"]')
        if node is None:
            return None
        self._views[generation] = view = GrowingAnswer(node)
        return view

    def on_stream_event(self, current: Generation, event: ServerSentEvent) -> None:
        if current not in self.state.generations or current.finish_reason:
            return
        shown = self.state.chat_of(current) is not None
        label = current.service.label
        if event.event == "status":
            status = json.loads(event.data)
            if shown and status.get("state") == "queued":
                view_status.set_activity(self.dom, f"{label}: queued (position {status.get('position')})")
            elif shown:
                view_status.set_activity(self.dom, f"{label}: generating…")
            return
        if event.data == "[DONE]":
            return
        delta = parse_chunk(json.loads(event.data))
        if delta.message_id and current.message_id is None:
            self.named(current, delta.message_id)
        answer = self.view_of(current)
        chat = self.state.chat_of(current)
        if delta.context and current.message_id and chat is not None:
            chat.contexts[current.message_id] = delta.context
            view_context.render_gauge(self.dom, self.state)
        if delta.content:
            current.text += delta.content
            if answer is not None:
                view_messages.grow_answer(self.dom, answer, current.text)
        if shown and delta.timings and delta.timings.tokens_per_second:
            view_status.set_activity(self.dom, f"{label}: {delta.timings.tokens_per_second:g} tok/s")
        if (stats := AnswerStats.from_delta(delta)) and current.message_id:
            self.state.answer_stats[current.message_id] = stats
            if answer is not None:
                view_tools.show_stats(self.dom, answer.node, stats)
        if delta.finish_reason:
            self.finish(current, delta.finish_reason, delta.error.message if delta.error else None)

    def named(self, current: Generation, message_id: str) -> None:
        """The service has stored the answer (as generating) under this id."""
        current.message_id = message_id
        view = self._views.get(current)
        if view is not None:
            view_messages.set_answer_id(view, message_id)
        chat = self.state.chat_of(current)
        if chat is not None:
            message = current.answer(chat.session_id, now())
            chat.add(message)
            if chat.pending == current.parent_id:  # the branch shown goes through it now
                chat.pending = None
                chat.choose(message)
        if current.stop_requested:
            asyncio.ensure_future(self.stop(current))
        asyncio.ensure_future(self.refresh_history())  # a new chat is in the history now

    def finish(self, current: Generation, reason: str, error: str | None = None) -> None:
        """The answer has ended: keep it in the chat and draw it in full with its finish.
        The first answer to a question to end is the one the chat goes on from."""
        first = not any(
            g.finish_reason for g in self.state.generations if g is not current and g.parent_id == current.parent_id
        )
        current.finish_reason = reason
        message = current.answer(current.session_id, now(), error)
        answer = self.view_of(current)
        if answer is not None:
            view_messages.finish_answer(self.dom, answer, message)
            if self.state.chat_of(current) is not None:
                text = answer.node.querySelector(".content").textContent
                a11y.announce(self.dom, a11y.answer_announcement(current.service.label, str(text), reason, error))
        chat = self.state.chat_of(current)
        if current.message_id is None or chat is None:
            return  # never stored (it failed first), or its chat is not open: nothing to keep here
        chat.add(message)
        if first:
            chat.choose(message)

    async def stop(self, current: Generation) -> None:
        """Ask the service to stop writing the answer; its stream then ends with it."""
        current.stop_requested = True
        if current.message_id is None:
            return  # stopped as soon as the service names it
        try:
            await endpoints.stop_answer(current.service, current.session_id, current.message_id)
        except ServiceError as error:
            if error.status == 404:
                current.controller.abort()  # gone with its chat: stop following it
                return
            self.show_error(f"{current.service.label}: {error}")
