"""gunicorn's gthread worker, with our JSON error shape for the errors it answers itself.

A request gunicorn cannot parse (a request line over ~4 KB, too many or too large
headers, a malformed ``Content-Length``) never reaches Flask: gunicorn answers it in
``Worker.handle_error`` with an HTML page. This worker lets gunicorn decide the status
and log as it always does, then sends the same status in our one error shape.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

from shared.responses import ErrorInfo

# gunicorn's statuses for requests it refuses, as stable codes and plain messages.
SERVER_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "malformed HTTP request"),
    403: ("forbidden", "request forbidden"),
    414: ("uri_too_long", "the request line is too long"),
    417: ("expectation_failed", "unsupported Expect header"),
    431: ("headers_too_large", "too many request headers, or one too large"),
    500: ("internal_error", "internal server error"),
    501: ("not_implemented", "unsupported transfer coding"),
}


class _Capture:
    """Stands in for the client socket while gunicorn writes its HTML error, to learn the
    status it chose."""

    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0  # non-blocking already: write_nonblock leaves it alone

    def sendall(self, data: bytes) -> None:
        self.data += data

    def status(self) -> int:
        try:
            return int(self.data.split(b" ", 2)[1])
        except (IndexError, ValueError):
            return 500


def error_bytes(status: int) -> bytes:
    """A whole HTTP/1.1 response: ``status`` in our JSON error shape; the connection closes."""
    code, message = SERVER_ERRORS.get(status, ("http_error", "the request could not be handled"))
    body = json.dumps(ErrorInfo(code=code, message=message, status=status).to_dict()).encode()
    reason = {414: "URI Too Long", 431: "Request Header Fields Too Large"}.get(status, "Error")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class JsonErrorWorker(ThreadWorker):  # type: ignore[misc]
    """``gthread`` whose own error responses are JSON, like the app's."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        capture = _Capture()
        super().handle_error(req, capture, addr, exc)  # logs, access-logs, picks the status
        try:
            util.write_nonblock(client, error_bytes(capture.status()))
        except Exception:  # noqa: BLE001  (the client may be gone; gunicorn ignores it too)
            self.log.debug("Failed to send error message.")
