"""HTTP from the page to the services, through the browser's fetch (runs in Pyodide)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import js
from pyodide.ffi import to_js

from shared.sse import ServerSentEvent, SSEDecoder


class ServiceError(Exception):
    """A service answered with an error (in the services' one JSON shape) or not at all."""

    def __init__(self, message: str, status: int = 0, code: str = "unreachable") -> None:
        super().__init__(message)
        self.status, self.code = status, code


class Credentials:
    """The services' API key (from the page config), sent on every request when set."""

    key: str | None = None

    @classmethod
    def headers(cls) -> dict[str, str]:
        return {"Authorization": f"Bearer {cls.key}"} if cls.key else {}

    @classmethod
    def socket_url(cls, url: str) -> str:
        """``url`` with the key as ``?api_key=``: browsers cannot set headers on a WebSocket."""
        return f"{url}?api_key={js.encodeURIComponent(cls.key)}" if cls.key else url


def _options(method: str, body: Any = None, signal: Any = None) -> Any:
    headers = {"Content-Type": "application/json", **Credentials.headers()}
    options: dict[str, Any] = {"method": method, "headers": headers}
    if body is not None:
        options["body"] = json.dumps(body)
    if signal is not None:
        options["signal"] = signal
    return to_js(options, dict_converter=js.Object.fromEntries)


class ConnectionLost(ServiceError):
    """A stream broke off before its end: the service stopped or died while answering."""

    def __init__(self, url: str) -> None:
        super().__init__(f"the connection to {url} was lost", 0, "connection_lost")


async def _error_from(response: Any) -> ServiceError:
    try:
        error = json.loads(await response.text())["error"]
        return ServiceError(error["message"], response.status, error["code"])
    except (ValueError, KeyError, TypeError):
        return ServiceError(f"HTTP {response.status}", response.status, "http_error")


async def request(method: str, url: str, body: Any = None) -> Any:
    """JSON in, JSON out; ``None`` for an empty answer. Raises ServiceError."""
    try:
        response = await js.fetch(url, _options(method, body))
    except Exception as error:  # fetch rejects with a JS TypeError when nothing listens
        raise ServiceError(f"cannot reach {url}: {error}") from None
    if not response.ok:
        raise await _error_from(response)
    text = await response.text()
    return json.loads(text) if text else None


async def stream(url: str, body: Any, controller: Any, on_event: Callable[[ServerSentEvent], None]) -> None:
    """POST ``body`` (GET if there is none) and hand each server-sent event to
    ``on_event`` as it arrives.

    Aborting ``controller`` ends the read at once (the JS AbortError propagates).
    """
    try:
        response = await js.fetch(url, _options("GET" if body is None else "POST", body, controller.signal))
    except Exception as error:
        if controller.signal.aborted:
            raise
        raise ServiceError(f"cannot reach {url}: {error}") from None
    if not response.ok:
        raise await _error_from(response)
    reader = response.body.getReader()
    text = js.TextDecoder.new()
    decoder = SSEDecoder()
    keep_going = to_js({"stream": True}, dict_converter=js.Object.fromEntries)
    while True:
        try:
            chunk = await reader.read()
        except Exception:  # a JS TypeError ("network error") when the service goes away
            if controller.signal.aborted:
                raise
            raise ConnectionLost(url) from None
        if chunk.done:
            break
        for event in decoder.feed(text.decode(chunk.value, keep_going)):
            on_event(event)
