"""The gthread worker's own error responses, in our JSON shape."""

from __future__ import annotations

import json

import pytest
from gunicorn import util

from engine.http.worker import _Capture, error_bytes


@pytest.mark.parametrize(
    ("status", "code"), [(400, "invalid_request"), (414, "uri_too_long"), (431, "headers_too_large")]
)
def test_error_bytes_are_a_whole_json_response(status: int, code: str):
    head, _, body = error_bytes(status).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status} ")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Content-Type"] == "application/json" and headers["Connection"] == "close"
    assert int(headers["Content-Length"]) == len(body)
    assert json.loads(body)["error"] == {
        "code": code,
        "message": json.loads(body)["error"]["message"],
        "type": "invalid_request_error",
        "status": status,
        "param": None,
    }


def test_the_capture_reads_the_status_gunicorn_chose():
    capture = _Capture()
    util.write_error(capture, 431, "Request Header Fields Too Large", "too many headers")
    assert capture.status() == 431
    assert _Capture().status() == 500  # nothing written: an internal error
