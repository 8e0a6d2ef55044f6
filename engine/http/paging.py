"""Pages of the chat list: the ``limit`` and ``cursor`` arguments of ``GET /api/sessions``.

A page ends at a chat; the cursor names that chat's place in the list's order,
(``updated_at``, ``id``) newest first, and the next page starts just past it (keyset
pagination). A chat inserted or changed while the list is walked moves to the top,
ahead of every cursor: the walk never sees a chat twice nor skips one that stayed put.

The cursor is opaque to clients: 32 characters of URL-safe base64 holding the chat's
``updated_at`` (a big-endian double) and its id (a UUID's 16 bytes). Any string of that
form reads as a place in the list, so the OpenAPI pattern describes exactly what is
accepted; anything else is a 400.
"""

from __future__ import annotations

import base64
import re
import struct
import uuid
from typing import Any

from engine.http.errors import ApiError
from shared.sidebar import MAX_PAGE, PAGE_SIZE

Key = tuple[float, str]
"""A chat's place in the list: (updated_at, id)."""

CURSOR_PATTERN = "^[A-Za-z0-9_-]{32}$"
"""What a cursor looks like (24 bytes in URL-safe base64, no padding)."""


def encode_cursor(key: Key) -> str:
    raw = struct.pack(">d", key[0]) + uuid.UUID(key[1]).bytes
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> Key:
    """The place a cursor names; 400 ``invalid_request`` if it is not of the cursors' form."""
    if re.fullmatch(CURSOR_PATTERN, cursor) is None:
        raise ApiError(400, "invalid_request", "cursor is not one this service gave out", param="cursor")
    raw = base64.urlsafe_b64decode(cursor)
    (updated_at,) = struct.unpack(">d", raw[:8])
    return updated_at, str(uuid.UUID(bytes=raw[8:]))


def page_limit(raw: str | None) -> int:
    """The page size asked for (default :data:`PAGE_SIZE`); 400 outside 1..:data:`MAX_PAGE`."""
    if raw is None:
        return PAGE_SIZE
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= MAX_PAGE):
        raise ApiError(400, "invalid_request", f"limit must be a whole number from 1 to {MAX_PAGE}", param="limit")
    return int(raw)


SESSIONS_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": f"At most this many chats (default {PAGE_SIZE}).",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": PAGE_SIZE},
    },
    {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": "The `next_cursor` of the page before (opaque); without it, the first page.",
        "schema": {"type": "string", "pattern": CURSOR_PATTERN},
    },
]
"""The arguments as the OpenAPI document (engine.http.openapi) describes them."""
