"""Talking to the services as a group: status sockets that reconnect, probes, fan-out requests.

``client`` does one HTTP request or stream; this module knows there are several services,
which of them are online, and how to follow their status. It reports what it hears to
the actions through callbacks and never touches the DOM.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

import js
from pyodide.ffi import create_proxy

from shared.responses import ServiceInfo
from shared.schemas import SchemaError
from webapp.page.api.http import Credentials, ServiceError, request
from webapp.page.state.service import Service

RECONNECT_MS = 2000
SOCKET_CLOSED = 3  # WebSocket.readyState


class Services:
    """The services of the page config, reached over HTTP and their status WebSockets."""

    def __init__(
        self,
        services: Mapping[str, Service],
        on_info: Callable[[Service, ServiceInfo], None],
        on_closed: Callable[[Service], None],
    ) -> None:
        self.services = services
        self.on_info = on_info
        """Called with each status a service pushes."""
        self.on_closed = on_closed
        """Called when a service's status socket closes (or never opened)."""
        self._retry = create_proxy(self._reconnect_all)

    def connect(self, service: Service) -> None:
        """Follow a service's status socket; when it drops, report it and retry."""
        url = service.url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/ws/status"
        socket = js.WebSocket.new(Credentials.socket_url(url))
        service.socket = socket
        message = create_proxy(lambda event: self._status(service, event.data))

        def closed(_event: Any) -> None:
            message.destroy()
            close.destroy()
            self.on_closed(service)
            js.setTimeout(self._retry, RECONNECT_MS)

        close = create_proxy(closed)
        socket.onmessage = message
        socket.onclose = close

    def connect_all(self) -> None:
        for service in self.services.values():
            self.connect(service)

    def _status(self, service: Service, data: str) -> None:
        try:
            info = ServiceInfo.from_dict(json.loads(data))
        except (ValueError, SchemaError):
            return
        self.on_info(service, info)

    def _reconnect_all(self) -> None:
        for service in self.services.values():
            if service.socket is None or service.socket.readyState == SOCKET_CLOSED:
                self.connect(service)

    async def probe(self, service: Service) -> ServiceInfo | None:
        """One direct look at a service (None if it cannot be reached), not waiting for its socket."""
        try:
            return ServiceInfo.from_dict(await request("GET", service.url + "/api/info"))
        except (ServiceError, SchemaError):
            return None

    async def fetch_from_all(self, path: str) -> list[Any]:
        """GET ``path`` from every online service; unreachable or 404 ones are skipped."""
        return [answer for _, answer in await self.fetch_each(path)]

    async def fetch_each(self, path: str, only: list[Service] | None = None) -> list[tuple[Service, Any]]:
        """GET ``path`` from every online service (of ``only``, if given): each answer with
        its service (failures left out)."""

        async def one(service: Service) -> Any:
            try:
                return await request("GET", service.url + path)
            except ServiceError:
                return None

        online = [s for s in (self.services.values() if only is None else only) if s.online]
        answers = await asyncio.gather(*(one(s) for s in online))
        return [(service, answer) for service, answer in zip(online, answers, strict=True) if answer is not None]

    async def send_to(
        self, service: Service, method: str, path: str, body: Any = None, on_error: Callable[[str], None] | None = None
    ) -> None:
        """Apply a change on one service (404, nothing there to change, is fine)."""
        try:
            await request(method, service.url + path, body)
        except ServiceError as error:
            if error.status != 404 and on_error is not None:
                on_error(f"{service.label}: {error}")

    async def send_to_all(
        self, method: str, path: str, body: Any = None, on_error: Callable[[str], None] | None = None
    ) -> None:
        """Apply a change to every online service holding the session (404 = not there)."""
        for service in self.services.values():
            if not service.online:
                continue
            try:
                await request(method, service.url + path, body)
            except ServiceError as error:
                if error.status != 404 and on_error is not None:
                    on_error(f"{service.label}: {error}")
