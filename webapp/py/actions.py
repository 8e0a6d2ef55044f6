"""The page's event handlers: each changes the state, then redraws the views it affected.

Events come from the user (clicks, keys, the URL) and from the services (status sockets,
streamed answers). Event -> action -> state -> view, never the other way.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import js

import view_composer
import view_messages
import view_sidebar
import view_status
import view_tools
from answer_stats import AnswerStats
from client import ServiceError, stream
from dom import Dom
from services import Services
from shared.schemas import ServiceInfo, Session, merge_sessions, parse_chunk
from shared.sse import ServerSentEvent
from state import AppState, Chat, Generation, Service
from view_messages import GrowingAnswer


def now() -> float:
    """Seconds since the epoch, as the services store them."""
    return js.Date.now() / 1000


class Actions:
    """The page's event handlers, over one AppState."""

    def __init__(self, state: AppState, dom: Dom) -> None:
        self.state = state
        self.dom = dom
        self.services = Services(state.services, self.service_info, self.service_closed)

    async def start(self) -> None:
        """Draw the page, follow the services, load the history, reopen the chat in the URL."""
        view_status.render_services(self.dom, self.state)
        view_composer.enable_controls(self.dom)
        view_messages.render_chat(self.dom, self.state)
        self.services.connect_all()
        await asyncio.gather(*(self.probe(s) for s in self.state.services.values()))
        view_status.render_services(self.dom, self.state)
        # Reload keeps the open chat: its id is in the URL fragment.
        wanted = str(js.location.hash).removeprefix("#chat=")
        await self.refresh_sessions()
        if wanted and any(s.id == wanted for s in self.state.sessions):
            await self.open_session(wanted)
        self.dom.document.body.setAttribute("data-ready", "true")
        view_composer.focus_input(self.dom)

    # ----------------------------------------------------------------------- services

    async def probe(self, service: Service) -> None:
        """One direct look at a service, so the first render need not wait for its socket."""
        info = await self.services.probe(service)
        service.online = info is not None
        if info is not None:
            service.info = info

    def service_info(self, service: Service, info: ServiceInfo) -> None:
        came_back = not service.online
        service.info = info
        service.online = True
        view_status.render_services(self.dom, self.state)
        if came_back:
            asyncio.ensure_future(self.refresh_sessions())

    def service_closed(self, service: Service) -> None:
        if service.online:
            service.online = False
            view_status.render_services(self.dom, self.state)
            asyncio.ensure_future(self.refresh_sessions())

    def on_model_change(self, _event: Any) -> None:
        self.state.selected = self.dom.by_testid("model-select").value
        js.localStorage.setItem("ruschat-service", self.state.selected)
        view_composer.focus_input(self.dom)

    # ----------------------------------------------------------------------- history

    async def refresh_sessions(self) -> None:
        answers = await self.services.fetch_from_all("/api/sessions")
        self.state.sessions = merge_sessions(*([Session.from_dict(s) for s in a["sessions"]] for a in answers))
        view_sidebar.render_sessions(self.dom, self.state, self)

    async def open_session(self, session_id: str) -> None:
        if self.state.generation is not None:
            return
        answers = await self.services.fetch_from_all(f"/api/sessions/{session_id}")
        merged = merge_sessions([Session.from_dict(a) for a in answers])
        self.state.chat = Chat(session_id=session_id, messages=list(merged[0].messages) if merged else [])
        js.location.hash = f"chat={session_id}"
        view_messages.render_chat(self.dom, self.state)
        view_sidebar.render_sessions(self.dom, self.state, self)
        view_composer.focus_input(self.dom)

    def new_chat(self, _event: Any = None) -> None:
        if self.state.generation is not None:
            return
        self.state.chat = Chat()
        js.history.replaceState(None, "", js.location.pathname)
        view_messages.render_chat(self.dom, self.state)
        view_sidebar.render_sessions(self.dom, self.state, self)
        view_composer.focus_input(self.dom)

    def on_hash_change(self, _event: Any) -> None:
        wanted = str(js.location.hash).removeprefix("#chat=")
        if wanted and wanted != self.state.chat.session_id:
            asyncio.ensure_future(self.open_session(wanted))

    def start_rename(self, event: Any, session_id: str) -> None:
        event.stopPropagation()
        if self.state.renaming is not None:
            return
        self.state.renaming = session_id
        title = self.state.session_title(session_id)
        field = view_sidebar.show_rename_field(self.dom, session_id, title)

        async def finish_rename(save: bool) -> None:
            if self.state.renaming != session_id:
                return  # already saved or cancelled
            self.state.renaming = None
            new_title = field.value.strip()
            if save and new_title and new_title != title:
                await self.services.send_to_all(
                    "PATCH", f"/api/sessions/{session_id}", {"title": new_title}, self.show_error
                )
            await self.refresh_sessions()

        def key(e: Any) -> None:
            if e.key in ("Enter", "Escape"):
                e.preventDefault()
                asyncio.ensure_future(finish_rename(save=e.key == "Enter"))

        self.dom.on(field, "keydown", key)
        self.dom.on(field, "blur", lambda _e: finish_rename(save=True))
        self.dom.on(field, "click", lambda e: e.stopPropagation())

    async def delete_session(self, event: Any, session_id: str) -> None:
        event.stopPropagation()
        await self.services.send_to_all("DELETE", f"/api/sessions/{session_id}", on_error=self.show_error)
        if session_id == self.state.chat.session_id:
            self.new_chat()
        await self.refresh_sessions()

    def show_error(self, message: str | None) -> None:
        view_composer.show_error(self.dom, message)

    # ----------------------------------------------------------------------- chat

    def on_key(self, event: Any) -> None:
        if event.key == "Enter" and not event.shiftKey and not event.isComposing:
            event.preventDefault()
            asyncio.ensure_future(self.send())

    def on_submit(self, event: Any) -> None:
        event.preventDefault()
        asyncio.ensure_future(self.send())

    def stop(self, _event: Any = None) -> None:
        if self.state.generation is not None:
            self.state.generation.controller.abort()

    async def send(self, _event: Any = None) -> None:
        """Ask the selected service to answer the typed message, streaming the answer in."""
        state, dom = self.state, self.dom
        text = view_composer.input_text(dom)
        if not text or state.generation is not None:
            return
        service = state.selected_service
        if not service.online:
            self.show_error(
                f"The {service.label.lower()} service is offline. Pick another model or wait for it to return."
            )
            return
        self.show_error(None)
        question = state.chat.question(text, now())
        body = state.chat.request(question, state.settings.max_tokens)
        state.chat.messages.append(question)
        view_composer.clear_input(dom)
        view_messages.add_question(dom, state, question)
        answer = view_messages.add_answer(dom, state, service)
        current = Generation(service=service, controller=js.AbortController.new())
        state.generation = current
        view_composer.render_composer(dom, state)
        view_status.set_activity(dom, f"{service.label}: sending…")
        js.location.hash = f"chat={state.chat.session_id}"
        try:
            await stream(
                service.url + "/api/chat",
                body.to_dict(),
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
        finally:
            state.generation = None
            view_composer.render_composer(dom, state)
            view_status.set_activity(dom, "")
            view_composer.focus_input(dom)
        await self.refresh_sessions()

    def on_stream_event(self, current: Generation, answer: GrowingAnswer, event: ServerSentEvent) -> None:
        if self.state.generation is None:
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
        """The answer has ended: keep it in the chat and draw it in full with its finish."""
        current.finish_reason = reason
        message = current.answer(self.state.chat.session_id, now(), error)
        self.state.chat.messages.append(message)
        view_messages.finish_answer(self.dom, answer, message)
