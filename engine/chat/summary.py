"""Summaries of the messages a long chat's window leaves out (``context: summary``).

The fast service writes them (engine.chat.writer): the capable service asks it over its OpenAI
endpoint (``--summarizer URL``), the fast service asks its own scheduler (``self``).
A summary covers the branch up to its ``through_id`` and is stored; later turns reuse it
while the window start stays where it is (see :mod:`engine.chat.window`). When the start moves,
the new summary is written from the previous one (if it covers part of what is left out
now) and the messages after it, so the summariser reads about one block, not the chat.
If no summary can be had (summariser down, slow, refusing), the answer goes on without
one and says why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.chat.writer import WriteFailed, Writer, writer_for
from engine.inference.protocol import Engine
from engine.scheduling.scheduler import Scheduler
from engine.store.storage import Store
from shared.schemas import ChatMessage, Summary, new_id

log = logging.getLogger(__name__)

MAX_SUMMARY_TOKENS = 200
INSTRUCTION = (
    "Summarise the conversation below in a few sentences. Keep names, numbers, facts, "
    "decisions and open questions. Write only the summary."
)


SummaryFailed = WriteFailed
"""No summary: the summariser is unreachable, too slow, or refused."""


class Summarizer(Protocol):
    @property
    def model(self) -> str:
        """Who writes the summaries (stored with them)."""

    @property
    def service(self) -> str: ...

    def __call__(self, text: str, max_tokens: int) -> str:
        """The summary of ``text``; SummaryFailed if there is none to be had."""


def summary_tokens(context_size: int) -> int:
    """How long a summary may be: 200 tokens, less on a small context."""
    return min(MAX_SUMMARY_TOKENS, context_size // 8)


def summary_room(context_size: int) -> int:
    """What the window keeps free for a summary: its length and its framing."""
    return summary_tokens(context_size) + 24


def request_messages(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": text}]


class WriterSummarizer:
    """Summaries from a :class:`~engine.chat.writer.Writer` (this service's model or the fast one's)."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    @property
    def model(self) -> str:
        return self.writer.model

    @property
    def service(self) -> str:
        return self.writer.service

    def __call__(self, text: str, max_tokens: int) -> str:
        return self.writer(request_messages(text), max_tokens)


def transcript(messages: Sequence[ChatMessage], max_chars: int, previous: str | None = None) -> str:
    """The text to summarise: the earlier summary, then the newest messages that fit."""
    lines: list[str] = []
    used = len(previous or "")
    for message in reversed(messages):
        line = f"{message.role.capitalize()}: {message.content.strip()}"
        if lines and used + len(line) > max_chars:
            break
        lines.append(line[: max(0, max_chars - used)] if not lines else line)
        used += len(line)
    body = "\n\n".join(reversed(lines))
    return f"Summary of what came before: {previous}\n\n{body}" if previous else body


@dataclass
class SummaryMaker:
    """Finds or writes the summary of the messages a chat's window leaves out.

    New summaries are kept in ``created`` for the caller to store once the chat exists on
    this service (the first request of a chat creates it)."""

    store: Store
    summarizer: Summarizer | None
    session_id: str
    context_size: int
    created: Summary | None = None

    def __call__(self, dropped: Sequence[ChatMessage]) -> tuple[Summary | None, str | None]:
        through = dropped[-1].id
        stored = self.store.find_summary(self.session_id, through)
        if stored is not None:
            return stored, None
        if self.summarizer is None:
            return None, "summaries are off on this service: older messages are left out"
        position = {m.id: i for i, m in enumerate(dropped)}
        earlier = [s for s in self.store.list_summaries(self.session_id) if s.through_id in position]
        previous = max(earlier, key=lambda s: position[s.through_id], default=None)
        rest = dropped[position[previous.through_id] + 1 :] if previous else dropped
        # About half the summariser's context (taken to be ours) for what it reads.
        text = transcript(rest, self.context_size * 2, previous.content if previous else None)
        try:
            content = self.summarizer(text, summary_tokens(self.context_size))
        except SummaryFailed as error:
            log.warning("no summary for chat %s: %s", self.session_id, error)
            return None, f"{error}: older messages are left out"
        self.created = Summary(
            id=new_id(),
            session_id=self.session_id,
            through_id=through,
            content=content,
            created_at=time.time(),
            model=self.summarizer.model,
            service=self.summarizer.service,
        )
        return self.created, None

    def store_created(self) -> None:
        if self.created is not None:
            self.store.add_summary(self.created)


def summarizer_for(
    url: str, engine: Engine, scheduler: Scheduler, service: str, timeout: float, api_key: str | None = None
) -> Summarizer | None:
    """The summariser ``--summarizer`` names: ``self``, ``off`` (None) or a service's URL."""
    writer = writer_for(url, engine, scheduler, service, timeout, api_key)
    return WriterSummarizer(writer) if writer is not None else None
