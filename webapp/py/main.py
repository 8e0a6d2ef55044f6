"""RusChat in the browser: Python running in Pyodide, talking to the two services.

The page holds the open chat as a list of messages; each answer comes from the service
picked in the dropdown, which receives the whole conversation. History lives in the
services' databases: the sidebar is the shared merge of both lists.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import js
from pyodide.ffi import create_proxy

from client import ServiceError, request, stream
from render import StreamingMarkdown, render_markdown
from shared.schemas import (
    ChatMessage,
    ChatRequest,
    GenerationParams,
    Message,
    SchemaError,
    ServiceInfo,
    Session,
    merge_sessions,
    new_id,
    parse_chunk,
)

document = js.document
RECONNECT_MS = 2000
RENDER_EVERY_MS = 60
STATE_LABELS = {"cancelled": "stopped", "error": "failed", "length": "cut at the length limit"}
CPU_REASONS = {"sharing": "sharing the CPU", "foreign_load": "other programs busy"}
"""Why a busy service runs fewer threads than it may (ServiceInfo.threads_reason)."""


@dataclass
class Service:
    id: str
    label: str
    url: str
    info: ServiceInfo | None = None
    online: bool = False
    socket: Any = None

    @property
    def model(self) -> str:
        return self.info.model if self.info else self.label


@dataclass
class Chat:
    session_id: str = field(default_factory=new_id)
    messages: list[Message] = field(default_factory=list)


@dataclass
class Generation:
    controller: Any
    service: Service
    element: Any
    text: str = ""
    last_render: float = 0.0
    markdown: StreamingMarkdown | None = field(default_factory=StreamingMarkdown)
    """Renders the answer as it grows; None once it failed (the answer then shows as text)."""
    settled_nodes: int = 0
    """How many of the content's child nodes are settled blocks; the ones after are the tail."""


CONFIG = json.loads(document.getElementById("ruschat-config").textContent)
SERVICES = {s["id"]: Service(s["id"], s["label"], s["url"]) for s in CONFIG["services"]}
chat = Chat()
sessions: list[Session] = []
generation: Generation | None = None
renaming: str | None = None
"""The chat whose title is being edited: the sidebar holds still meanwhile."""
_proxies: list[Any] = []


def by_testid(name: str) -> Any:
    return document.querySelector(f'[data-testid="{name}"]')


def on(element: Any, event: str, handler: Any) -> None:
    """Attach a Python handler (plain or async) to a DOM event."""

    def call(evt: Any) -> None:
        result = handler(evt)
        if asyncio.iscoroutine(result):
            asyncio.ensure_future(result)

    proxy = create_proxy(call)
    _proxies.append(proxy)
    element.addEventListener(event, proxy)


def element(tag: str, text: str | None = None, cls: str | None = None, **data: str) -> Any:
    node = document.createElement(tag)
    if text is not None:
        node.textContent = text  # text, never markup
    if cls:
        node.className = cls
    for key, value in data.items():
        node.setAttribute(key.replace("_", "-"), value)
    return node


def show_error(message: str | None) -> None:
    box = by_testid("error")
    box.textContent = message or ""
    box.hidden = not message


def set_activity(text: str) -> None:
    by_testid("activity").textContent = text


# --------------------------------------------------------------------------- services


def selected_service() -> Service:
    return SERVICES[by_testid("model-select").value]


def render_services() -> None:
    """Update the dropdown and the status badges in place (an open dropdown stays open)."""
    select = by_testid("model-select")
    status = by_testid("service-status")
    if not select.options.length:
        for service in SERVICES.values():
            select.appendChild(element("option", service.label, value=service.id))
            status.appendChild(element("span", service.label, "svc", data_service=service.id))
        saved = js.localStorage.getItem("ruschat-service")
        select.value = saved if saved in SERVICES else next(iter(SERVICES))
    for service in SERVICES.values():
        state = service.info.state if service.online and service.info else "offline"
        option = select.querySelector(f'option[value="{service.id}"]')
        name = f"{service.label}: {service.model}" if service.info else service.label
        option.textContent = name + ("" if service.online else " (offline)")
        option.setAttribute("data-state", state)
        badge = status.querySelector(f'[data-service="{service.id}"]')
        text = f"{service.label} {state}"
        if service.info and state == "busy":
            text += f" · {service.info.tokens_per_second:g} tok/s"
            if service.info.queue_depth:
                text += f" · {service.info.queue_depth} waiting"
            if why := CPU_REASONS.get(service.info.threads_reason):
                text += f" · {why} ({service.info.threads} of {service.info.max_threads} threads)"
        badge.textContent = text
        badge.setAttribute("data-state", state)


def on_status(service: Service, data: str) -> None:
    try:
        service.info = ServiceInfo.from_dict(json.loads(data))
    except (ValueError, SchemaError):
        return
    came_back = not service.online
    service.online = True
    render_services()
    if came_back:
        asyncio.ensure_future(refresh_sessions())


def connect_status(service: Service) -> None:
    """Follow a service's status socket; when it drops, mark it offline and retry."""
    url = service.url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/ws/status"
    socket = js.WebSocket.new(url)
    service.socket = socket
    message = create_proxy(lambda event: on_status(service, event.data))

    def closed(_event: Any) -> None:
        message.destroy()
        close.destroy()
        if service.online:
            service.online = False
            render_services()
            asyncio.ensure_future(refresh_sessions())
        js.setTimeout(retry, RECONNECT_MS)

    close = create_proxy(closed)
    socket.onmessage = message
    socket.onclose = close


async def probe(service: Service) -> None:
    """One direct look at a service, so the first render need not wait for its socket."""
    try:
        service.info = ServiceInfo.from_dict(await request("GET", service.url + "/api/info"))
        service.online = True
    except (ServiceError, SchemaError):
        service.online = False


def _reconnect_all() -> None:
    for service in SERVICES.values():
        if service.socket is None or service.socket.readyState == 3:  # CLOSED
            connect_status(service)


retry = create_proxy(_reconnect_all)


# --------------------------------------------------------------------------- history


async def fetch_from_all(path: str) -> list[Any]:
    """GET ``path`` from every online service; unreachable or 404 ones are skipped."""

    async def one(service: Service) -> Any:
        try:
            return await request("GET", service.url + path)
        except ServiceError:
            return None

    online = [s for s in SERVICES.values() if s.online]
    return [r for r in await asyncio.gather(*(one(s) for s in online)) if r is not None]


async def refresh_sessions() -> None:
    global sessions
    answers = await fetch_from_all("/api/sessions")
    sessions = merge_sessions(*([Session.from_dict(s) for s in a["sessions"]] for a in answers))
    render_sessions()


def render_sessions() -> None:
    if renaming is not None:
        return
    listing = by_testid("session-list")
    listing.innerHTML = ""
    for session in sessions:
        item = element(
            "li",
            None,
            "active" if session.id == chat.session_id else None,
            data_testid="session-item",
            data_session_id=session.id,
        )
        item.appendChild(element("span", session.title, "title", title=session.title))
        rename = element("button", "✎", "icon", data_testid="rename-session", title="Rename", type="button")
        delete = element("button", "×", "icon", data_testid="delete-session", title="Delete", type="button")
        item.appendChild(rename)
        item.appendChild(delete)
        sid = session.id
        on(item, "click", lambda _e, sid=sid: open_session(sid))
        on(rename, "click", lambda e, sid=sid, item=item: start_rename(e, sid, item))
        on(delete, "click", lambda e, sid=sid: delete_session(e, sid))
        listing.appendChild(item)


async def open_session(session_id: str) -> None:
    global chat
    if generation is not None:
        return
    answers = await fetch_from_all(f"/api/sessions/{session_id}")
    merged = merge_sessions([Session.from_dict(a) for a in answers])
    chat = Chat(session_id=session_id, messages=list(merged[0].messages) if merged else [])
    js.location.hash = f"chat={session_id}"
    render_chat()
    render_sessions()
    focus_input()


def new_chat(_event: Any = None) -> None:
    global chat
    if generation is not None:
        return
    chat = Chat()
    js.history.replaceState(None, "", js.location.pathname)
    render_chat()
    render_sessions()
    focus_input()


def start_rename(event: Any, session_id: str, item: Any) -> None:
    global renaming
    event.stopPropagation()
    if renaming is not None:
        return
    renaming = session_id
    title = item.querySelector(".title")
    field_ = element("input", None, data_testid="rename-input", maxlength="200")
    field_.value = title.textContent
    item.replaceChild(field_, title)
    field_.focus()
    field_.select()

    async def finish_rename(save: bool) -> None:
        global renaming
        if renaming != session_id:
            return  # already saved or cancelled
        renaming = None
        new_title = field_.value.strip()
        if save and new_title and new_title != title.textContent:
            await send_to_all("PATCH", f"/api/sessions/{session_id}", {"title": new_title})
        await refresh_sessions()

    def key(e: Any) -> None:
        if e.key in ("Enter", "Escape"):
            e.preventDefault()
            asyncio.ensure_future(finish_rename(save=e.key == "Enter"))

    on(field_, "keydown", key)
    on(field_, "blur", lambda _e: finish_rename(save=True))
    on(field_, "click", lambda e: e.stopPropagation())


async def delete_session(event: Any, session_id: str) -> None:
    event.stopPropagation()
    await send_to_all("DELETE", f"/api/sessions/{session_id}")
    if session_id == chat.session_id:
        new_chat()
    await refresh_sessions()


async def send_to_all(method: str, path: str, body: Any = None) -> None:
    """Apply a change to every online service holding the session (404 = not there)."""
    for service in SERVICES.values():
        if not service.online:
            continue
        try:
            await request(method, service.url + path, body)
        except ServiceError as error:
            if error.status != 404:
                show_error(f"{service.label}: {error}")


# --------------------------------------------------------------------------- chat


def message_element(message: Message) -> Any:
    node = element("div", None, "message", data_testid="message", data_role=message.role, data_message_id=message.id)
    if message.role == "assistant":
        node.setAttribute("data-model", message.model or "")
        node.setAttribute("data-service", message.service or "")
        meta = element("div", None, "meta")
        service = SERVICES.get(message.service or "")
        meta.appendChild(
            element("span", f"{message.model or 'model'}" + (f" · {service.label}" if service else ""), "model")
        )
        node.appendChild(meta)
        content = element("div", None, "content")
        set_markdown(content, message.content)
        node.appendChild(content)
        set_finish(node, message.finish_reason, message.error)
    else:
        node.textContent = message.content
    return node


def set_markdown(node: Any, text: str) -> None:
    try:
        node.innerHTML = render_markdown(text)
    except Exception as error:  # a renderer bug must not lose the answer: show it as text
        js.console.error(f"Markdown rendering failed: {error!r}")
        node.textContent = text


def set_finish(node: Any, reason: str | None, error: str | None = None) -> None:
    node.setAttribute("data-finish", reason or "")
    label = STATE_LABELS.get(reason or "")
    meta = node.querySelector(".meta")
    old = meta.querySelector(".badge")
    if old:
        old.remove()
    if label:
        badge = element(
            "span",
            label + (f": {error}" if error else ""),
            "badge error" if reason == "error" else "badge",
            data_testid="finish-badge",
        )
        meta.appendChild(badge)


def render_chat() -> None:
    box = by_testid("messages")
    box.innerHTML = ""
    if not chat.messages:
        box.appendChild(element("div", "Ask anything. Your chats stay on this machine.", "placeholder"))
    for message in chat.messages:
        box.appendChild(message_element(message))
    box.scrollTop = box.scrollHeight


def focus_input() -> None:
    by_testid("message-input").focus()


def set_generating(active: bool) -> None:
    by_testid("send").hidden = active
    by_testid("stop").hidden = not active
    by_testid("new-chat").disabled = active
    if not active:
        set_activity("")


def on_stream_event(event: Any) -> None:
    current = generation
    if current is None:
        return
    if event.event == "status":
        status = json.loads(event.data)
        if status.get("state") == "queued":
            set_activity(f"{current.service.label}: queued (position {status.get('position')})")
        else:
            set_activity(f"{current.service.label}: generating…")
        return
    if event.data == "[DONE]":
        return
    delta = parse_chunk(json.loads(event.data))
    if delta.message_id:
        current.element.setAttribute("data-message-id", delta.message_id)
    if delta.content:
        current.text += delta.content
        now = js.performance.now()
        # A redraw parses only the answer's last blocks, so it costs about the same however
        # long the answer is; tokens that arrive in between are drawn together with the
        # next one, leaving the CPU to the model.
        if now - current.last_render >= RENDER_EVERY_MS:
            show_answer(current)
            current.last_render = now
    if delta.timings and delta.timings.tokens_per_second:
        set_activity(f"{current.service.label}: {delta.timings.tokens_per_second:g} tok/s")
    if delta.finish_reason:
        finish(current, delta.finish_reason, delta.message_id, delta.error.message if delta.error else None)


def show_answer(current: Generation, complete: bool = False) -> None:
    """Draw the answer so far: while it streams only what changed, once complete all of it."""
    box = by_testid("messages")
    near_bottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80
    content = current.element.querySelector(".content")
    if complete:
        set_markdown(content, current.text)  # the pieces miss links to references elsewhere
    else:
        show_growing_markdown(current, content)
    if near_bottom:
        box.scrollTop = box.scrollHeight


def show_growing_markdown(current: Generation, content: Any) -> None:
    """Append the blocks settled since the last draw and replace the tail after them."""
    if current.markdown is not None:
        try:
            settled, tail = current.markdown.update(current.text)
        except Exception as error:  # a renderer bug must not lose the answer: show it as text
            js.console.error(f"Markdown rendering failed: {error!r}")
            current.markdown = None
    if current.markdown is None:
        content.textContent = current.text
        return
    # Settled blocks and the tail sit side by side in ``content``, as in the complete
    # answer, so the page's styles apply alike and the final render does not jump.
    while content.childNodes.length > current.settled_nodes:
        content.lastChild.remove()
    if settled:
        content.insertAdjacentHTML("beforeend", settled)
        current.settled_nodes = content.childNodes.length
    content.insertAdjacentHTML("beforeend", tail)


def finish(current: Generation, reason: str, message_id: str | None = None, error: str | None = None) -> None:
    show_answer(current, complete=True)
    answer = Message(
        id=message_id or current.element.getAttribute("data-message-id"),
        session_id=chat.session_id,
        role="assistant",
        content=current.text,
        created_at=js.Date.now() / 1000,
        model=current.service.model,
        service=current.service.id,
        finish_reason=reason,
        error=error,
    )
    current.element.setAttribute("data-message-id", answer.id)
    chat.messages.append(answer)
    set_finish(current.element, reason, error)


async def send(_event: Any = None) -> None:
    global generation
    box = by_testid("message-input")
    text = box.value.strip()
    if not text or generation is not None:
        return
    service = selected_service()
    if not service.online:
        show_error(f"The {service.label.lower()} service is offline. Pick another model or wait for it to return.")
        return
    show_error(None)
    question = Message(
        id=new_id(), session_id=chat.session_id, role="user", content=text, created_at=js.Date.now() / 1000
    )
    history = [ChatMessage(m.id or new_id(), m.role, m.content) for m in chat.messages if m.content]
    body = ChatRequest(
        session_id=chat.session_id,
        messages=(*history, ChatMessage(question.id, "user", text)),
        params=GenerationParams(max_tokens=1024),
    )
    chat.messages.append(question)
    box.value = ""
    if len(chat.messages) == 1:
        render_chat()
    else:
        by_testid("messages").appendChild(message_element(question))
    placeholder = Message(
        id="",
        session_id=chat.session_id,
        role="assistant",
        content="",
        created_at=0,
        model=service.model,
        service=service.id,
    )
    node = message_element(placeholder)
    by_testid("messages").appendChild(node)
    current = Generation(controller=js.AbortController.new(), service=service, element=node)
    generation = current
    set_generating(True)
    set_activity(f"{service.label}: sending…")
    js.location.hash = f"chat={chat.session_id}"
    try:
        await stream(service.url + "/api/chat", body.to_dict(), current.controller, on_stream_event)
        if current.element.getAttribute("data-finish") in (None, ""):
            finish(current, "error", error="the stream ended early")
    except ServiceError as error:
        finish(current, "error", error=str(error))
        show_error(f"{service.label}: {error}")
    except Exception:  # the JS AbortError when Stop was pressed
        if not current.controller.signal.aborted:
            raise
        if current.element.getAttribute("data-finish") in (None, ""):
            finish(current, "cancelled")
    finally:
        generation = None
        set_generating(False)
        focus_input()
    await refresh_sessions()


def stop(_event: Any = None) -> None:
    if generation is not None:
        generation.controller.abort()


def on_key(event: Any) -> None:
    if event.key == "Enter" and not event.shiftKey and not event.isComposing:
        event.preventDefault()
        asyncio.ensure_future(send())


def on_model_change(_event: Any) -> None:
    js.localStorage.setItem("ruschat-service", by_testid("model-select").value)
    focus_input()


def on_hash_change(_event: Any) -> None:
    wanted = str(js.location.hash).removeprefix("#chat=")
    if wanted and wanted != chat.session_id:
        asyncio.ensure_future(open_session(wanted))


async def main() -> None:
    on(document.getElementById("composer"), "submit", lambda e: (e.preventDefault(), asyncio.ensure_future(send())))
    on(by_testid("message-input"), "keydown", on_key)
    on(by_testid("stop"), "click", stop)
    on(by_testid("new-chat"), "click", new_chat)
    on(by_testid("model-select"), "change", on_model_change)
    on(js.window, "hashchange", on_hash_change)
    render_services()
    for control in ("model-select", "message-input", "send", "new-chat"):
        by_testid(control).disabled = False
    render_chat()
    for service in SERVICES.values():
        connect_status(service)
    await asyncio.gather(*(probe(s) for s in SERVICES.values()))
    render_services()
    # Reload keeps the open chat: its id is in the URL fragment.
    wanted = str(js.location.hash).removeprefix("#chat=")
    await refresh_sessions()
    if wanted and any(s.id == wanted for s in sessions):
        await open_session(wanted)
    document.body.setAttribute("data-ready", "true")
    focus_input()


asyncio.ensure_future(main())
