"""Requests the WSGI server refuses before the app runs get our JSON error shape too."""

from __future__ import annotations

import json
import socket

import pytest

from tests.support import Process

pytestmark = pytest.mark.integration


def exchange(service: Process, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` on a fresh connection; the status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as conn:
        conn.sendall(raw)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def request(target: str = "/healthz", *headers: str, body: bytes = b"", method: str = "GET") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (request("/api/sessions?q=" + "a" * 5000), 414, "uri_too_long"),
        (request("/healthz", *(f"X-Many-{i}: 1" for i in range(150))), 431, "headers_too_large"),
        (request("/healthz", "X-Big: " + "b" * 9000), 431, "headers_too_large"),
        (request("/api/chat", "Content-Length: twelve", method="POST", body=b"{}"), 400, "invalid_request"),
        (request("/api/chat", "Content-Length: -5", method="POST", body=b"{}"), 400, "invalid_request"),
        (b"NOT HTTP AT ALL\r\n\r\n", 400, "invalid_request"),
    ],
    ids=["long-request-line", "too-many-headers", "huge-header", "content-length-word", "negative-length", "garbage"],
)
def test_refused_by_the_server_is_json(service: Process, raw: bytes, status: int, code: str):
    got, headers, body = exchange(service, raw)
    assert got == status, body
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "type", "status", "param"}
    assert (error["code"], error["status"]) == (code, status)


def test_the_service_still_answers_afterwards(service: Process):
    status, headers, body = exchange(service, request("/healthz", "Connection: close"))
    assert (status, json.loads(body)) == (200, {"status": "ok"})
