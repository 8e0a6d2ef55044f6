"""Every request the page makes to a service: one typed function per endpoint.

No other module of the page spells out a path: the actions call these (one service at a
time, or every online one through ``api.services``). Each parses the answer into the
``shared/`` dataclass the services built it from, or into one of the small results here
where ``shared/`` has none. A failure raises ``ServiceError`` (``api.http``); an answer
that does not read raises ``shared.fields.SchemaError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from shared.history import Tombstone
from shared.responses import ServiceInfo
from shared.schemas import ChatRequest, ChatSettings, Session
from shared.search import SearchHit
from shared.sse import ServerSentEvent
from shared.transfer import read_envelope
from webapp.page.api.http import Credentials, request, stream
from webapp.page.state.service import Service


@dataclass(frozen=True)
class SessionPage:
    """One page of a service's chat list, newest first."""

    sessions: list[Session]
    next_cursor: str | None
    """What asks for the next page; None at the end."""
    tombstones: list[Tombstone]
    """The chats this service deleted (sent with the first page)."""


@dataclass(frozen=True)
class ImportResult:
    """What a service took from an imported file."""

    imported_sessions: int
    imported_messages: int
    skipped: int


@dataclass(frozen=True)
class Stream:
    """A stream of server-sent events to read: where, and what to POST (None: a GET)."""

    url: str
    body: dict[str, Any] | None = None

    async def read(self, controller: Any, on_event: Callable[[ServerSentEvent], None]) -> None:
        """Hand each event to ``on_event`` as it arrives, until the stream ends or
        ``controller`` (a JS AbortController) aborts it."""
        await stream(self.url, self.body, controller, on_event)


async def info(service: Service) -> ServiceInfo:
    """``GET /api/info``: the model, its context size, whether the service is busy."""
    return ServiceInfo.from_dict(await request("GET", service.url + "/api/info"))


def status_socket_url(service: Service) -> str:
    """``/ws/status``: where the service pushes its ``/api/info`` whenever it changes."""
    url = service.url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/ws/status"
    return Credentials.socket_url(url)


async def list_sessions(service: Service, limit: int, cursor: str | None = None) -> SessionPage:
    """``GET /api/sessions``: the first page of chats, or the one after ``cursor``."""
    path = f"/api/sessions?limit={limit}" + (f"&cursor={cursor}" if cursor is not None else "")
    answer = await request("GET", service.url + path)
    return SessionPage(
        sessions=[Session.from_dict(x) for x in answer.get("sessions", [])],
        next_cursor=answer.get("next_cursor"),
        tombstones=[Tombstone.from_dict(t) for t in answer.get("tombstones", [])],
    )


async def get_session(service: Service, session_id: str) -> Session:
    """``GET /api/sessions/<id>``: a chat with its messages and summaries."""
    return Session.from_dict(await request("GET", f"{service.url}/api/sessions/{session_id}"))


async def patch_session(
    service: Service, session_id: str, *, title: str | None = None, settings: ChatSettings | None = None
) -> None:
    """``PATCH /api/sessions/<id>``: a new title, or new settings."""
    body: dict[str, Any] = {}
    if title is not None:
        body["title"] = title
    if settings is not None:
        body["settings"] = settings.to_dict()
    await request("PATCH", f"{service.url}/api/sessions/{session_id}", body)


async def delete_session(service: Service, session_id: str) -> None:
    """``DELETE /api/sessions/<id>``."""
    await request("DELETE", f"{service.url}/api/sessions/{session_id}")


def chat(service: Service, chat_request: ChatRequest) -> Stream:
    """``POST /api/chat``: the stream of a new answer (or of more of one)."""
    return Stream(service.url + "/api/chat", chat_request.to_dict())


def answer_stream(service: Service, session_id: str, message_id: str) -> Stream:
    """``GET /api/sessions/<id>/messages/<id>/stream``: an answer being written, from its start."""
    return Stream(f"{service.url}/api/sessions/{session_id}/messages/{message_id}/stream")


async def stop_answer(service: Service, session_id: str, message_id: str) -> None:
    """``POST /api/sessions/<id>/messages/<id>/stop``: the service stops writing the answer."""
    await request("POST", f"{service.url}/api/sessions/{session_id}/messages/{message_id}/stop")


async def search(service: Service, query: str, limit: int) -> list[SearchHit]:
    """``GET /api/search``: the messages matching ``query``, best first."""
    answer = await request("GET", f"{service.url}/api/search?q={quote(query)}&limit={limit}")
    return [SearchHit.from_dict(h) for h in answer.get("hits", [])] if isinstance(answer, dict) else []


async def export(service: Service, session_id: str | None = None) -> list[Session]:
    """``GET /api/export?format=json``: every chat of the service, or the one named."""
    query = "?format=json" + (f"&session_id={session_id}" if session_id else "")
    return read_envelope(await request("GET", service.url + "/api/export" + query))


async def import_chats(service: Service, data: Any) -> ImportResult:
    """``POST /api/import``: a file's chats (already checked here) into the service."""
    result = await request("POST", service.url + "/api/import", data)
    return ImportResult(result["imported_sessions"], result["imported_messages"], result["skipped"])


async def forget_tombstones(service: Service, session_ids: list[str]) -> None:
    """``POST /api/tombstones/forget``: chats deleted before and imported again stay."""
    await request("POST", service.url + "/api/tombstones/forget", {"session_ids": session_ids})
