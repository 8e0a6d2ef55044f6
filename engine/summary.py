"""Summaries of the messages a long chat's window leaves out (``context: summary``).

The fast service writes them: the capable service asks it over its OpenAI endpoint
(``--summarizer URL``), the fast service asks its own scheduler (``--summarizer self``).
A summary covers the branch up to its ``through_id`` and is stored; later turns reuse it
while the window start stays where it is (see :mod:`engine.window`). When the start moves,
the new summary is written from the previous one (if it covers part of what is left out
now) and the messages after it, so the summariser reads about one block, not the chat.
If no summary can be had (summariser down, slow, refusing), the answer goes on without
one and says why.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.inference import Engine, PromptTooLong
from engine.jobs import Finished, Job
from engine.scheduler import QueueFull, Scheduler
from engine.storage import Store
from shared.schemas import ChatMessage, GenerationParams, Summary, new_id

log = logging.getLogger(__name__)

MAX_SUMMARY_TOKENS = 200
INSTRUCTION = (
    "Summarise the conversation below in a few sentences. Keep names, numbers, facts, "
    "decisions and open questions. Write only the summary."
)


class SummaryFailed(Exception):
    """No summary: the summariser is unreachable, too slow, or refused."""


class Summarizer(Protocol):
    model: str
    """Who writes the summaries (stored with them)."""
    service: str

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


class HttpSummarizer:
    """Asks another service's ``POST /v1/chat/completions`` (not streaming)."""

    def __init__(self, url: str, timeout: float, api_key: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.api_key = api_key
        """Sent as ``Authorization: Bearer``: this service's own key (one key for both, as
        ``RUSCHAT_API_KEY`` gives them)."""
        self.model = "?"
        self.service = self.url

    def __call__(self, text: str, max_tokens: int) -> str:
        body = json.dumps({"messages": request_messages(text), "max_tokens": max_tokens, "temperature": 0.2})
        request = urllib.request.Request(
            f"{self.url}/v1/chat/completions",
            data=body.encode(),
            headers={"Content-Type": "application/json", **self._authorization()},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (our own URL)
                answer = json.loads(response.read())
            content = answer["choices"][0]["message"]["content"]
            self.model = str(answer.get("model") or self.model)
        except urllib.error.HTTPError as error:
            raise SummaryFailed(f"the summariser at {self.url} answered {error.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise SummaryFailed(f"the summariser at {self.url} is unreachable ({error})") from None
        except (ValueError, KeyError, IndexError, TypeError):
            raise SummaryFailed(f"the summariser at {self.url} sent no summary") from None
        if not isinstance(content, str) or not content.strip():
            raise SummaryFailed("the summary came back empty")
        return content.strip()

    def _authorization(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


class LocalSummarizer:
    """Runs the summary on this service's own model, through its scheduler."""

    def __init__(self, engine: Engine, scheduler: Scheduler, service: str, timeout: float) -> None:
        self.engine = engine
        self.scheduler = scheduler
        self.model = engine.model_name
        self.service = service
        self.timeout = timeout

    def __call__(self, text: str, max_tokens: int) -> str:
        try:
            prompt = self.engine.prepare(request_messages(text))
        except PromptTooLong:
            raise SummaryFailed("the text to summarise does not fit the model's context") from None
        job = Job(prompt=prompt, params=GenerationParams(max_tokens=max_tokens, temperature=0.2))
        try:
            self.scheduler.submit(job)
        except QueueFull:
            raise SummaryFailed("the model is too busy to summarise") from None
        deadline = time.monotonic() + self.timeout
        try:
            while (left := deadline - time.monotonic()) > 0:
                event = job.next_event(timeout=left)
                if isinstance(event, Finished):
                    if event.finish_reason not in ("stop", "length") or not event.text.strip():
                        raise SummaryFailed(event.error or "the summary came back empty")
                    return event.text.strip()
            raise SummaryFailed(f"no summary within {self.timeout:g} s")
        finally:
            job.cancel()


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
    if url == "off":
        return None
    if url == "self":
        return LocalSummarizer(engine, scheduler, service, timeout)
    return HttpSummarizer(url, timeout, api_key)
