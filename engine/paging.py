"""Pages of the chat list: the ``limit`` and ``cursor`` arguments of ``GET /api/sessions``.

A page ends at a chat; the cursor names that chat's place in the list's order,
(``updated_at``, ``id``) newest first, and the next page starts just past it (keyset
pagination). A chat inserted or changed while the list is walked moves to the top,
ahead of every cursor: the walk never sees a chat twice nor skips one that stayed put.

The cursor is opaque to clients: URL-safe base64 of ``[updated_at, id]`` as JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
import math

from engine.errors import ApiError
from shared.sidebar import MAX_PAGE, PAGE_SIZE

Key = tuple[float, str]
"""A chat's place in the list: (updated_at, id)."""


def encode_cursor(key: Key) -> str:
    raw = json.dumps([key[0], key[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    """The key a cursor names; 400 ``invalid_request`` if it is not one this service made."""
    try:
        if not cursor.isascii() or len(cursor) > 200:
            raise ValueError
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        updated_at, session_id = data
        if (
            isinstance(updated_at, bool)
            or not isinstance(updated_at, int | float)
            or not math.isfinite(updated_at)
            or not isinstance(session_id, str)
            or not 0 < len(session_id) <= 64
        ):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise ApiError(400, "invalid_request", "cursor is not one this service gave out", param="cursor") from None
    return float(updated_at), session_id


def page_limit(raw: str | None) -> int:
    """The page size asked for (default :data:`PAGE_SIZE`); 400 outside 1..:data:`MAX_PAGE`."""
    if raw is None:
        return PAGE_SIZE
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= MAX_PAGE):
        raise ApiError(400, "invalid_request", f"limit must be a whole number from 1 to {MAX_PAGE}", param="limit")
    return int(raw)
