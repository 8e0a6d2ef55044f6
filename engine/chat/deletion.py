"""Deleting a chat: its answers stop, its rows go, and so does every cached copy of its
tokens (the engine's slots, RAM and disk states), so that no file of the service keeps
its text (engine.store.storage.Store.delete_session wipes what SQLite would keep)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the Service container holds the collaborators
    from engine.service import Service

log = logging.getLogger(__name__)


def delete_chat(service: Service, session_id: str) -> bool:
    """Delete the chat ``session_id`` here; False if there is no such chat."""
    service.live.stop_session(session_id)  # nothing left to store them in
    deleted = service.store.delete_session(session_id)
    # Also when the chat had no rows here: a state saved just before another process (or an
    # earlier delete that crashed midway) took them still holds its tokens.
    if not service.scheduler.forget(session_id):
        log.warning("the cached states of deleted chat %s are not dropped yet", session_id)
    return deleted
