"""Reading a request: its JSON body and the ids in its path."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from engine.http.errors import ApiError
from shared.schemas import check_uuid


def read_json() -> Any:
    """The request body as JSON, whatever the Content-Type says; 400 if it is not JSON."""
    raw = request.get_data(cache=False)  # 413 beyond MAX_CONTENT_LENGTH
    try:
        return json.loads(raw)
    # ValueError covers bad JSON, bad UTF-8 and an integer over Python's 4,300 digits;
    # RecursionError, arrays or objects nested thousands deep.
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None


def session_id_arg(session_id: str) -> str:
    """A session id from the path; 404 when it cannot be one."""
    try:
        return check_uuid(session_id, "session_id")
    except ValueError:
        raise ApiError(404, "session_not_found", "no such session") from None


def message_args(session_id: str, message_id: str) -> tuple[str, str]:
    """A session and message id from the path; 404 when they cannot be ones."""
    try:
        return session_id_arg(session_id), check_uuid(message_id, "message_id")
    except ValueError:
        raise ApiError(404, "message_not_found", "no such message") from None
