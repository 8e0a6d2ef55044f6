"""A generation request and its events: what request threads and the scheduler share.

A :class:`Job` keeps every event it emits, so that any number of readers follow it from
the start: the request that asked for it, and later ones that reattach to its answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.inference.protocol import Prompt
from shared.chunks import Timings, TokenLogprob, Usage
from shared.schemas import GenerationParams


@dataclass(frozen=True)
class Queued:
    position: int
    """1 = next to run."""


@dataclass(frozen=True)
class Started:
    queue_ms: float


@dataclass(frozen=True)
class Token:
    text: str
    logprobs: tuple[TokenLogprob, ...] = ()
    """Of the tokens that make up ``text``, when the job's params ask for them."""


@dataclass(frozen=True)
class Finished:
    text: str
    finish_reason: str
    usage: Usage
    timings: Timings
    error: str | None = None
    background: bool = False
    """The job ran at low priority (see :attr:`Job.background`)."""


Event = Queued | Started | Token | Finished


@dataclass(eq=False)
class Job:
    """One generation request and the log its events come back on.

    Every event is kept, so that any number of readers can follow the job, each from the
    start: the request that asked for it, and later ones that reattach to the answer."""

    prompt: Prompt
    params: GenerationParams
    on_finish: Callable[[Finished], None] | None = None
    """Runs on the worker before the Finished event is delivered (persist the answer)."""
    background: bool = False
    """Low priority: starts only when no other job waits and a slot is free, and gives its
    slot up (ends ``preempted``, its text discarded) when another job would have to wait."""
    keep: bool = True
    """Keep the prompt's KV cache when the job ends (parked, saved to disk); background jobs
    and requests with ``cache_prompt: false`` leave none."""
    chat: str | None = None
    """The stored chat (session id) whose prompt this is: the engine drops its cache when
    the chat is deleted (Scheduler.forget)."""
    submitted_at: float = field(default_factory=time.monotonic)
    _log: list[Event] = field(default_factory=list)
    _parts: list[str] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _cancelled: threading.Event = field(default_factory=threading.Event)
    _reader: EventReader | None = None

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def emit(self, event: Event) -> None:
        with self._changed:
            self._log.append(event)
            if isinstance(event, Token):
                self._parts.append(event.text)
            self._changed.notify_all()

    def text(self) -> str:
        """The answer generated so far."""
        with self._changed:
            return "".join(self._parts)

    def reader(self) -> EventReader:
        """A new reader of this job's events, from the first."""
        return EventReader(self)

    def events_after(self, index: int, timeout: float) -> list[Event]:
        """The events from ``index`` on, waiting up to ``timeout`` s for one if there are none."""
        with self._changed:
            self._changed.wait_for(lambda: len(self._log) > index, timeout)
            return self._log[index:]

    def next_event(self, timeout: float) -> Event | None:
        """The next event of the job's own reader, or None when none came within ``timeout`` s."""
        if self._reader is None:
            self._reader = self.reader()
        return self._reader.next(timeout)

    def wait_finished(self, timeout: float) -> Finished | None:
        """The job's result, waiting up to ``timeout`` seconds for it."""
        with self._changed:
            self._changed.wait_for(lambda: bool(self._log) and isinstance(self._log[-1], Finished), timeout)
            last = self._log[-1] if self._log else None
            return last if isinstance(last, Finished) else None


class EventReader:
    """One reader's place in a job's events."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self._next = 0

    def next(self, timeout: float) -> Event | None:
        """The next event, or None when none came within ``timeout`` seconds."""
        events = self.job.events_after(self._next, timeout)
        if not events:
            return None
        self._next += 1
        return events[0]

    def available(self) -> list[Event]:
        """Every event not read yet, without waiting."""
        events = self.job.events_after(self._next, 0)
        self._next += len(events)
        return events
