"""The page's event handlers: each changes the state, then redraws the views it affected.

Events come from the user (clicks, keys, the URL) and from the services (status sockets,
streamed answers). Event -> action -> state -> view, never the other way.
"""

from __future__ import annotations

import asyncio
from typing import Any

import js

from shared.history import merge_sessions
from shared.responses import ServiceInfo
from shared.schemas import Message
from webapp.page.actions.answers import Answers, now
from webapp.page.actions.branches import load_branches, save_branches
from webapp.page.actions.history import HistoryActions
from webapp.page.api import endpoints
from webapp.page.api.services import Services
from webapp.page.dom import Dom
from webapp.page.state.app import AppState
from webapp.page.state.chat import Chat
from webapp.page.state.service import Service
from webapp.page.state.settings import settings_of
from webapp.page.views import composer as view_composer
from webapp.page.views import messages as view_messages
from webapp.page.views import sidebar as view_sidebar
from webapp.page.views import status as view_status


class Actions:
    """The page's event handlers, over one AppState."""

    def __init__(self, state: AppState, dom: Dom) -> None:
        self.state = state
        self.dom = dom
        self.services = Services(state.services, self.service_info, self.service_closed)
        self.listed = False
        """Whether start() has asked for the chat list (until then a status is no news)."""
        self.sidebar = view_sidebar.Sidebar(dom)
        self.history = HistoryActions(
            state,
            dom,
            self.services,
            self.show_error,
            lambda: self.sidebar.render(state),
            lambda added, changed: self.sidebar.extend(state, added, changed),
        )
        self.answers = Answers(
            state,
            dom,
            self,
            self.show_error,
            refresh_history=self.refresh_sessions,
            redraw_sidebar=lambda: self.sidebar.render(state),
        )

    async def start(self) -> None:
        """Draw the page, follow the services, load the history, reopen the chat in the URL."""
        view_status.render_services(self.dom, self.state)
        view_composer.enable_controls(self.dom)
        view_messages.render_chat(self.dom, self.state, self)
        view_sidebar.install(self.dom, self)
        self.services.connect_all()
        await asyncio.gather(*(self.probe(s) for s in self.state.services.values()))
        view_status.render_services(self.dom, self.state)
        # Reload keeps the open chat: its id is in the URL fragment.
        wanted = str(js.location.hash).removeprefix("#chat=")
        self.listed = True
        await self.refresh_sessions()
        if wanted:  # maybe a chat further down the list than loaded
            await self.open_session(wanted, only_if_stored=True)
        self.dom.document.body.setAttribute("data-ready", "true")
        js.performance.mark("ruschat:ready")  # what bench/start.py and bench/history.py time
        view_composer.focus_input(self.dom)
        await asyncio.sleep(0.05)  # let the browser paint the ready page first
        import webapp.page.markdown  # noqa: F401  (Markdown, for the first answer: views.messages imports it late)

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
        if came_back and self.listed:  # before that, start() lists every service online
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

    async def refresh_sessions(self, reset: bool = False) -> None:
        """Fetch the services' first pages of chats again, merged with what is loaded."""
        await self.history.refresh(reset)

    async def load_more(self) -> None:
        """The end of the chat list is near: load the next page."""
        await self.history.load_more()

    async def open_session(self, session_id: str, only_if_stored: bool = False) -> None:
        """Show a chat (answers still being written in it are followed again); with
        ``only_if_stored``, only if a service has it."""
        merged = merge_sessions(await self.services.from_all(lambda s: endpoints.get_session(s, session_id)))
        if only_if_stored and not merged:
            return
        self.state.chat = Chat(
            session_id=session_id,
            messages=list(merged[0].messages) if merged else [],
            chosen=load_branches(session_id),
            settings=settings_of(merged[0] if merged else None, self.state.defaults),
            summaries=list(merged[0].summaries) if merged else [],
        )
        js.location.hash = f"chat={session_id}"
        attached = [g for m in self.state.chat.being_written() if (g := self.answers.attach(m)) is not None]
        view_messages.render_chat(self.dom, self.state, self)
        if attached:  # the list marks the chats being written
            self.sidebar.render(self.state)
        else:  # a redraw of a long list is what made opening a chat slow
            view_sidebar.mark_active(self.dom, session_id)
        view_composer.render_composer(self.dom, self.state)
        view_composer.focus_input(self.dom)
        for generation in attached:
            asyncio.ensure_future(self.answers.reattach(generation))

    def new_chat(self, _event: Any = None) -> None:
        self.state.chat = Chat(settings=self.state.defaults)
        js.history.replaceState(None, "", js.location.pathname)
        view_messages.render_chat(self.dom, self.state, self)
        view_sidebar.mark_active(self.dom, self.state.chat.session_id)
        view_composer.render_composer(self.dom, self.state)
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
        field = self.sidebar.show_rename_field(session_id, title)

        async def finish_rename(save: bool) -> None:
            if self.state.renaming != session_id:
                return  # already saved or cancelled
            self.state.renaming = None
            new_title = field.value.strip()
            if save and new_title and new_title != title:
                await self.services.change_all(
                    lambda s: endpoints.patch_session(s, session_id, title=new_title), self.show_error
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
        await self.services.change_all(lambda s: endpoints.delete_session(s, session_id), self.show_error)
        self.history.forget(session_id)
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
        """Stop the answers being written in the open chat."""
        for generation in self.state.open_generations():
            asyncio.ensure_future(self.answers.stop(generation))

    def ask_both(self, _event: Any = None) -> None:
        asyncio.ensure_future(self.send(both=True))

    async def send(self, _event: Any = None, both: bool = False) -> None:
        """Ask the selected service (or both) to answer the typed message."""
        state, dom = self.state, self.dom
        text = view_composer.input_text(dom)
        if not text or state.busy:
            return
        services = self.answering(both)
        if not services:
            return
        shown = state.chat.shown()
        question = state.chat.question(text, now(), shown[-1].id if shown else None)
        view_composer.clear_input(dom)
        await self.ask(question, services)

    def answering(self, both: bool) -> list[Service]:
        """The services to ask, saying why one is left out; empty if none can answer."""
        wanted = list(self.state.services.values()) if both else [self.state.selected_service]
        online = [s for s in wanted if s.online]
        offline = [s.label.lower() for s in wanted if not s.online]
        if not online:
            self.show_error(
                f"The {' and '.join(offline)} service{'s are' if len(offline) > 1 else ' is'} offline. "
                "Pick another model or wait for it to return."
            )
        elif offline:
            self.show_error(f"The {offline[0]} service is offline: only the {online[0].label.lower()} one answers.")
        else:
            self.show_error(None)
        return online

    async def ask(self, question: Message, services: list[Service]) -> None:
        """Show a new question (first or edited) and stream the services' answers to it."""
        chat = self.state.chat
        chat.add(question)
        chat.choose(question)
        chat.compare = question.id if len(services) > 1 else None
        await self.stream_answers(services, chat.path_to(question.id))

    async def regenerate(self, message: Message) -> None:
        """Another answer to the same question, from the model selected now: a sibling."""
        if self.state.busy or message.parent_id is None:
            return
        services = self.answering(both=False)
        if services:
            self.state.chat.compare = None
            await self.stream_answers(services, self.state.chat.path_to(message.parent_id))

    def regenerate_last(self) -> None:
        """Regenerate the last answer shown (the keyboard shortcut)."""
        answers = [m for m in self.state.chat.shown() if m.role == "assistant"]
        if answers:
            asyncio.ensure_future(self.regenerate(answers[-1]))

    def start_edit(self, message: Message) -> None:
        """Edit a question in place; saving asks the new one (the old branch stays)."""
        if self.state.busy:
            return
        field, save, cancel = view_messages.edit_field(self.dom, message.id, message.content)

        async def submit(_event: Any = None) -> None:
            text = field.value.strip()
            services = self.answering(both=False) if text and text != message.content else []
            if not services:
                view_messages.render_chat(self.dom, self.state, self)
                return
            await self.ask(self.state.chat.question(text, now(), message.parent_id), services)

        def key(event: Any) -> None:
            if event.key == "Enter" and not event.shiftKey:
                event.preventDefault()
                asyncio.ensure_future(submit())
            elif event.key == "Escape":
                view_messages.render_chat(self.dom, self.state, self)

        self.dom.on(save, "click", submit)
        self.dom.on(cancel, "click", lambda _e: view_messages.render_chat(self.dom, self.state, self))
        self.dom.on(field, "keydown", key)

    async def continue_answer(self, message: Message) -> None:
        """Let the model that wrote an unfinished answer go on with it, in place."""
        service = self.state.services.get(message.service or "")
        if self.state.busy or service is None:
            return
        if not service.online:
            self.show_error(f"The {service.label.lower()} service, which wrote this answer, is offline.")
            return
        await self.stream_answers([service], self.state.chat.path_to(message.id), continued=message)

    def flip(self, message: Message, step: int) -> None:
        """Show another version of a message (‹ ›): its sibling ``step`` away."""
        siblings = self.state.chat.siblings(message)
        index = next(i for i, m in enumerate(siblings) if m.id == message.id) + step
        if 0 <= index < len(siblings):
            self.state.chat.choose(siblings[index])
            save_branches(self.state.chat)
            view_messages.render_chat(self.dom, self.state, self)

    def pick(self, message: Message) -> None:
        """After Ask both: the chat goes on from this answer."""
        self.state.chat.choose(message)
        save_branches(self.state.chat)
        view_messages.render_chat(self.dom, self.state, self)

    async def stream_answers(
        self, services: list[Service], path: list[Message], continued: Message | None = None
    ) -> None:
        """Stream the services' answers to the end of ``path`` (or more of ``continued``),
        then refresh the history."""
        await self.answers.run(services, path, continued)
        await self.refresh_summaries()

    async def refresh_summaries(self) -> None:
        """Fetch the open chat's summaries when an answer used one the page does not have."""
        chat = self.state.chat
        known = {s.id for s in chat.summaries}
        if not any(c.summary_id and c.summary_id not in known for c in chat.contexts.values()):
            return
        merged = merge_sessions(await self.services.from_all(lambda s: endpoints.get_session(s, chat.session_id)))
        if merged and self.state.chat is chat and not self.state.busy:
            chat.summaries = list(merged[0].summaries)
            view_messages.render_chat(self.dom, self.state, self)
