"""Talking to the services as a group: status sockets that reconnect, probes, fan-out requests.

``endpoints`` asks one service one thing; this module knows there are several services,
which of them are online, and how to follow their status. It reports what it hears to
the actions through callbacks and never touches the DOM.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import js
from pyodide.ffi import create_proxy

from shared.responses import ServiceInfo
from shared.schemas import SchemaError
from webapp.page.api import endpoints
from webapp.page.api.http import ServiceError
from webapp.page.state.service import Service

RECONNECT_MS = 2000
SOCKET_CLOSED = 3  # WebSocket.readyState
T = TypeVar("T")


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
        socket = js.WebSocket.new(endpoints.status_socket_url(service))
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
            return await endpoints.info(service)
        except (ServiceError, SchemaError):
            return None

    async def from_all(self, call: Callable[[Service], Awaitable[T]]) -> list[T]:
        """``call`` (an endpoint) on every online service at once; unreachable or 404 ones are skipped."""
        return [answer for _, answer in await self.from_each(call)]

    async def from_each(
        self, call: Callable[[Service], Awaitable[T]], only: list[Service] | None = None
    ) -> list[tuple[Service, T]]:
        """``call`` (an endpoint) on every online service (of ``only``, if given) at once:
        each answer with its service (failures left out)."""

        async def one(service: Service) -> tuple[Service, T] | None:
            try:
                return service, await call(service)
            except ServiceError:
                return None

        online = [s for s in (self.services.values() if only is None else only) if s.online]
        answers = await asyncio.gather(*(one(s) for s in online))
        return [answer for answer in answers if answer is not None]

    async def change(
        self,
        service: Service,
        call: Callable[[Service], Awaitable[None]],
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        """Apply a change (an endpoint) on one service (404, nothing there to change, is fine)."""
        try:
            await call(service)
        except ServiceError as error:
            if error.status != 404 and on_error is not None:
                on_error(f"{service.label}: {error}")

    async def change_all(
        self, call: Callable[[Service], Awaitable[None]], on_error: Callable[[str], None] | None = None
    ) -> None:
        """Apply a change (an endpoint) to every online service holding the session, one after
        the other (404 = not there)."""
        for service in self.services.values():
            if service.online:
                await self.change(service, call, on_error)
