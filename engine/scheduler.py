"""The scheduler owns the model: one worker thread, a bounded FIFO queue, cancellation.

Request threads submit :class:`Job` objects and read their events; only the worker
touches the engine's generate(). A cancelled job is dropped from the queue, or stopped
on its next token when it runs.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.inference import Engine, Prompt, PromptTooLong
from shared.schemas import GenerationParams, Timings, Usage

log = logging.getLogger(__name__)


class QueueFull(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("the model is busy and its queue is full")
        self.retry_after = retry_after


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


@dataclass(frozen=True)
class Finished:
    text: str
    finish_reason: str
    usage: Usage
    timings: Timings
    error: str | None = None


Event = Queued | Started | Token | Finished


@dataclass(eq=False)
class Job:
    """One generation request and the channel its events come back on."""

    prompt: Prompt
    params: GenerationParams
    on_finish: Callable[[Finished], None] | None = None
    """Runs on the worker before the Finished event is delivered (persist the answer)."""
    submitted_at: float = field(default_factory=time.monotonic)
    _events: queue.SimpleQueue[Event] = field(default_factory=queue.SimpleQueue)
    _cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def emit(self, event: Event) -> None:
        self._events.put(event)

    def next_event(self, timeout: float) -> Event | None:
        """The next event, or None when none came within ``timeout`` seconds."""
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None


@dataclass(frozen=True)
class Status:
    state: str
    queue_depth: int
    tokens_per_second: float
    version: int


class Scheduler:
    def __init__(self, engine: Engine, max_queue: int) -> None:
        self.engine = engine
        self.max_queue = max_queue
        self._waiting: deque[Job] = deque()
        self._running: Job | None = None
        self._cond = threading.Condition()
        self._stopping = False
        self._version = 0
        self._tokens_per_second = 0.0
        self._mean_job_seconds = 5.0
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)

    # ------------------------------------------------------------------ request side
    def start(self) -> None:
        self._thread.start()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel every job, wake every waiter, and wait up to ``timeout`` s for the worker."""
        with self._cond:
            self._stopping = True
            for job in list(self._waiting) + ([self._running] if self._running else []):
                job.cancel()
            self._cond.notify_all()
        self._thread.join(timeout)

    def submit(self, job: Job, on_accept: Callable[[], None] | None = None) -> None:
        """Queue ``job``, or raise QueueFull. ``on_accept`` runs once the job has a place
        and before it can start; if it raises, the job is not queued."""
        with self._cond:
            busy = self._running is not None or bool(self._waiting)
            if busy and len(self._waiting) >= self.max_queue:
                ahead = len(self._waiting) + 1
                raise QueueFull(retry_after=max(1, math.ceil(ahead * self._mean_job_seconds)))
            if on_accept is not None:
                on_accept()
            self._waiting.append(job)
            job.emit(Queued(position=len(self._waiting)))
            self._changed()

    def status(self) -> Status:
        with self._cond:
            return self._status()

    def wait_for_change(self, version: int, timeout: float) -> Status:
        """Block until the status changes from ``version`` (or the timeout passes)."""
        with self._cond:
            self._cond.wait_for(lambda: self._version != version or self._stopping, timeout)
            return self._status()

    # ------------------------------------------------------------------ worker side
    def _status(self) -> Status:
        return Status(
            state="busy" if self._running else "idle",
            queue_depth=len(self._waiting),
            tokens_per_second=round(self._tokens_per_second, 1),
            version=self._version,
        )

    def _changed(self) -> None:
        self._version += 1
        self._cond.notify_all()

    def _next_job(self) -> Job | None:
        with self._cond:
            while True:
                self._running = None
                if self._stopping:
                    return None
                while self._waiting and self._waiting[0].cancelled:
                    dropped = self._waiting.popleft()
                    self._finish(dropped, Finished("", "cancelled", Usage(), Timings()))
                if self._waiting:
                    self._running = self._waiting.popleft()
                    for position, job in enumerate(self._waiting, start=1):
                        job.emit(Queued(position=position))
                    self._changed()
                    return self._running
                self._changed()
                self._cond.wait()

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            try:
                self._generate(job)
            except Exception as error:  # the worker must survive any one request
                log.exception("generation failed")
                self._finish(
                    job, Finished("", "error", Usage(job.prompt.n_tokens, 0), Timings(), error=type(error).__name__)
                )

    def _finish(self, job: Job, result: Finished) -> None:
        if job.on_finish is not None:
            try:
                job.on_finish(result)
            except Exception:
                log.exception("storing the answer failed")
                result = Finished(
                    result.text, "error", result.usage, result.timings, error="the answer could not be stored"
                )
        job.emit(result)

    def _generate(self, job: Job) -> None:
        started = time.monotonic()
        queue_ms = (started - job.submitted_at) * 1000
        job.emit(Started(queue_ms=queue_ms))
        cached = self.engine.cached_prefix(job.prompt)
        parts: list[str] = []
        first_token_at: float | None = None
        n_tokens, finish, error = 0, "stop", None
        last_report = started
        steps = self.engine.generate(job.prompt, job.params, lambda: job.cancelled)
        try:
            for step in steps:
                now = time.monotonic()
                if first_token_at is None:
                    first_token_at = now
                n_tokens = step.n_tokens or n_tokens + 1
                if step.text:
                    parts.append(step.text)
                    job.emit(Token(step.text))
                if now > first_token_at:
                    self._tokens_per_second = (n_tokens - 1) / (now - first_token_at)
                if now - last_report > 0.5:
                    last_report = now
                    with self._cond:
                        self._changed()
                if step.finish_reason:
                    finish = step.finish_reason
                    break
            else:
                finish = "cancelled" if job.cancelled else "stop"
        except PromptTooLong as too_long:
            finish, error = "error", str(too_long)
        ended = time.monotonic()
        self._mean_job_seconds = 0.8 * self._mean_job_seconds + 0.2 * (ended - started)
        decode_s = ended - first_token_at if first_token_at else 0.0
        timings = Timings(
            queue_ms=round(queue_ms, 1),
            ttft_ms=round(((first_token_at or ended) - started) * 1000, 1),
            total_ms=round((ended - started) * 1000, 1),
            tokens_per_second=round((n_tokens - 1) / decode_s, 1) if decode_s > 0 and n_tokens > 1 else 0.0,
            cached_prompt_tokens=cached,
        )
        self._finish(job, Finished("".join(parts), finish, Usage(job.prompt.n_tokens, n_tokens), timings, error))
        if finish in ("stop", "length"):
            # The client has its answer; let the engine finish its bookkeeping (the
            # prefix-cache save) before the next job starts.
            for _ in steps:
                pass
        else:
            close = getattr(steps, "close", None)
            if close is not None:
                close()
