"""Short texts the fast model writes for the others: summaries of older messages, titles.

A service asks the fast service over its OpenAI endpoint (``--summarizer URL``: the
capable service), or its own scheduler (``self``: the fast service). Background writing
(a title) goes at low priority: ``priority: 1`` over HTTP, ``Job.background`` locally, so
that it never delays a user's request (engine.scheduling.scheduler).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Protocol

from engine.inference.protocol import Engine, PromptTooLong
from engine.scheduling.jobs import Finished, Job
from engine.scheduling.scheduler import Scheduler
from engine.scheduling.status import QueueFull
from shared.schemas import GenerationParams

Messages = Sequence[dict[str, str]]


class WriteFailed(Exception):
    """No text: the writer is unreachable, too slow, busy, or refused."""

    def __init__(self, message: str, retry: bool = False) -> None:
        super().__init__(message)
        self.retry = retry
        """Users' requests had the model (queue full, or preempted): ask again later."""


class Writer(Protocol):
    model: str
    """Who writes (stored with what it wrote)."""
    service: str

    def __call__(self, messages: Messages, max_tokens: int, background: bool = False) -> str:
        """The model's answer to ``messages``; WriteFailed if there is none to be had."""


class HttpWriter:
    """Asks another service's ``POST /v1/chat/completions`` (not streaming)."""

    def __init__(self, url: str, timeout: float, api_key: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.api_key = api_key
        """Sent as ``Authorization: Bearer``: this service's own key (one key for both, as
        ``RUSCHAT_API_KEY`` gives them)."""
        self.model = "?"
        self.service = self.url

    def __call__(self, messages: Messages, max_tokens: int, background: bool = False) -> str:
        # cache_prompt false: the fast service keeps no KV cache of another service's chat,
        # which it could not forget when the chat is deleted there.
        fields = {"messages": list(messages), "max_tokens": max_tokens, "temperature": 0.2, "cache_prompt": False}
        body = json.dumps({**fields, "priority": 1} if background else fields)
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
            raise WriteFailed(f"the fast service at {self.url} answered {error.code}", error.code == 503) from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise WriteFailed(f"the fast service at {self.url} is unreachable ({error})") from None
        except (ValueError, KeyError, IndexError, TypeError):
            raise WriteFailed(f"the fast service at {self.url} sent no text") from None
        if not isinstance(content, str) or not content.strip():
            raise WriteFailed("the text came back empty")
        return content.strip()

    def _authorization(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


class LocalWriter:
    """Runs on this service's own model, through its scheduler."""

    def __init__(self, engine: Engine, scheduler: Scheduler, service: str, timeout: float) -> None:
        self.engine = engine
        self.scheduler = scheduler
        self.model = engine.model_name
        self.service = service
        self.timeout = timeout

    def __call__(self, messages: Messages, max_tokens: int, background: bool = False) -> str:
        try:
            prompt = self.engine.prepare(messages)
        except PromptTooLong:
            raise WriteFailed("the text does not fit the model's context") from None
        params = GenerationParams(max_tokens=max_tokens, temperature=0.2)
        # A chat's text: its cache is not kept, or deleting the chat could leave it behind.
        job = Job(prompt=prompt, params=params, background=background, keep=False)
        try:
            self.scheduler.submit(job)
        except QueueFull:
            raise WriteFailed("the model is too busy", retry=True) from None
        deadline = time.monotonic() + self.timeout
        try:
            while (left := deadline - time.monotonic()) > 0:
                event = job.next_event(timeout=left)
                if isinstance(event, Finished):
                    if event.finish_reason not in ("stop", "length") or not event.text.strip():
                        reason = event.error or f"no text ({event.finish_reason})"
                        raise WriteFailed(reason, retry=event.finish_reason == "preempted")
                    return event.text.strip()
            raise WriteFailed(f"no text within {self.timeout:g} s")
        finally:
            job.cancel()


def writer_for(
    url: str, engine: Engine, scheduler: Scheduler, service: str, timeout: float, api_key: str | None = None
) -> Writer | None:
    """The writer a ``--summarizer`` value names: ``self``, ``off`` (None) or a service's URL."""
    if url == "off":
        return None
    if url == "self":
        return LocalWriter(engine, scheduler, service, timeout)
    return HttpWriter(url, timeout, api_key)
