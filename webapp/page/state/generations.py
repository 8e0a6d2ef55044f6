"""The answers being written: one :class:`Generation` per answer the page follows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.schemas import GENERATING, Message, new_id
from webapp.page.state.service import Service


@dataclass(eq=False)
class Generation:
    """An answer that ``service`` is writing, followed by the page (asked for here, or
    reattached after a reload or on opening its chat). It runs on the service whether or
    not its chat is on screen."""

    service: Service
    controller: Any
    """What ends the page's reading of the stream (a JS AbortController); the service
    goes on writing: stopping is a request of its own."""
    session_id: str
    parent_id: str | None = None
    """The question it answers."""
    text: str = ""
    """The answer so far (for a continued answer: its earlier text too)."""
    message_id: str | None = None
    """The answer's id, once the service has named it."""
    finish_reason: str | None = None
    """Why it ended; None while it runs."""
    created_at: float = 0.0
    stop_requested: bool = False
    """Stop was pressed, maybe before the service named the answer."""

    def answer(self, session_id: str, now: float, error: str | None = None) -> Message:
        """The answer as a message of the chat (while it runs: marked generating)."""
        return Message(
            id=self.message_id or new_id(),
            session_id=session_id,
            role="assistant",
            content=self.text,
            created_at=self.created_at or now,
            model=self.service.model,
            service=self.service.id,
            finish_reason=self.finish_reason or GENERATING,
            error=error,
            parent_id=self.parent_id,
        )
