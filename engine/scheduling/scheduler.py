"""The scheduler owns the model: one worker thread, a bounded FIFO queue, cancellation.

Request threads submit :class:`Job` objects and read their events; only the worker
touches the engine. Jobs take the engine's slots in arrival order; while every slot is
busy they wait in the queue, and past its bound they are refused. Between two decode
steps the worker admits waiting jobs and drops cancelled ones, so a stop frees the model
within one step. Before each step the worker asks the CPU budget (:mod:`engine.cpu.budget`) how
many threads the engine may use, and gives the cores back when it has nothing to do.

Background jobs (``Job.background``: a chat's title) wait in a queue of their own. They
start only when no other job waits and a slot is free, and a job that arrives to find every
slot taken takes one back from a background job (which ends ``preempted``): a user's
request never waits for one. They count neither against the queue's bound nor in its
Retry-After estimate.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import cast

from engine.cpu.budget import Budget, FixedBudget, Grant
from engine.inference.protocol import Engine, PromptTooLong
from engine.scheduling.backlog import RecentDurations, RunningWork, retry_after, seconds_until_free
from engine.scheduling.jobs import Finished, Job, Queued, Started, Token
from engine.scheduling.status import QueueFull, Status
from engine.scheduling.stops import StopFilter
from shared.chunks import Timings, TokenLogprob, Usage

log = logging.getLogger(__name__)

MAX_BACKGROUND = 16
"""Background jobs that may wait; one more is refused (QueueFull)."""


@dataclass
class _Running:
    """What the worker tracks for a job that holds a slot."""

    started: float
    queue_ms: float
    cached: int
    parts: list[str] = field(default_factory=list)
    first_token_at: float | None = None
    n_tokens: int = 0
    stops: StopFilter | None = None
    logprobs: list[TokenLogprob] = field(default_factory=list)
    """Of tokens whose text is not out yet (held back, or an unfinished character)."""


class Scheduler:
    def __init__(
        self, engine: Engine, max_queue: int, budget: Budget, on_finished: Callable[[Finished], None] | None = None
    ) -> None:
        self.engine = engine
        self._on_finished = on_finished
        """Sees every job's end, once (metrics)."""
        self.max_queue = max_queue
        self.budget = budget
        self._threads = -1
        self._grant = self.budget.current
        self._waiting: deque[Job] = deque()
        self._background: deque[Job] = deque()
        self._accepting = {False: 0, True: 0}
        """Places held for jobs whose ``on_accept`` runs, by ``job.background``."""
        self._preempted = 0
        self._running: dict[Job, _Running] = {}
        self._forgets: list[tuple[str, threading.Event]] = []
        """Chats whose caches the engine is to drop (deleted), and who waits for it."""
        self._cond = threading.Condition()
        self._stopping = False
        self._version = 0
        self._tokens_per_second = 0.0
        self._durations = RecentDurations()
        self._last_report = 0.0
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)

    # ------------------------------------------------------------------ request side
    def start(self) -> None:
        self._thread.start()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self, timeout: float = 5.0) -> None:
        """End every job as ``interrupted`` (the service is going away, not the user), wake
        every waiter, and wait up to ``timeout`` s for the worker."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def forget(self, chat: str, timeout: float = 15.0) -> bool:
        """Have the engine drop every cached state of ``chat`` (it was deleted), between two
        steps, after the chat's cancelled jobs have left their slots; False if that was not
        done within ``timeout`` s."""
        done = threading.Event()
        with self._cond:
            queued = self._thread.is_alive() and not self._stopping
            if queued:
                self._forgets.append((chat, done))
                self._cond.notify_all()
        if not queued:  # no worker, or one that is ending: once it has, the engine is ours
            if self._thread.is_alive():
                self._thread.join(timeout)
            if not self._thread.is_alive():
                self._forget_now([(chat, done)])
        return done.wait(timeout)

    def submit(self, job: Job, on_accept: Callable[[], None] | None = None) -> None:
        """Queue ``job``, or raise QueueFull. ``on_accept`` runs once the job has a place
        and before it can start; if it raises, the job is not queued.

        ``on_accept`` (the chat's database writes) runs outside the lock, so that the
        running slots never wait for it: the place is held for it meanwhile."""
        with self._cond:
            if (wait := self.engine.unavailable_for()) > 0:  # an upstream engine said it is busy
                raise QueueFull(retry_after=retry_after(wait))
            if job.background:
                full = len(self._background) + self._accepting[True] >= MAX_BACKGROUND
            else:  # room for one chat per slot plus max_queue waiting ones
                waiting = len(self._waiting) + self._accepting[False]
                full = self._foreground_running() + waiting >= self.engine.slots + self.max_queue
            if full:
                raise QueueFull(retry_after=retry_after(self._seconds_until_free()))
            self._accepting[job.background] += 1
        try:
            if on_accept is not None:
                on_accept()
        finally:
            with self._cond:
                self._accepting[job.background] -= 1
        with self._cond:
            stopping = self._stopping
            if not stopping:
                queue = self._background if job.background else self._waiting
                queue.append(job)
                job.emit(Queued(position=len(queue)))
                self._changed()
        if stopping:  # the worker has ended every job it knew: end this one the same way
            self._finish(job, Finished("", "interrupted", Usage(), Timings()))

    def _foreground_running(self) -> int:
        return sum(1 for job in self._running if not job.background)

    def _seconds_until_free(self) -> float:
        """When a slot could take one more chat (called with the lock held)."""
        now = time.monotonic()
        work = [
            RunningWork(now - running.started, max(job.params.max_tokens - running.n_tokens, 0))
            for job, running in self._running.items()
            if not job.background  # it would give its slot up
        ]
        return seconds_until_free(
            work, len(self._waiting), self.engine.slots, self._durations.typical(), self._tokens_per_second
        )

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
        busy = self._foreground_running()
        return Status(
            state="busy" if busy else "idle",
            queue_depth=len(self._waiting),
            tokens_per_second=round(self._tokens_per_second, 1),
            version=self._version,
            threads=self._grant,
            busy_slots=busy,
            background=len(self._running) - busy + len(self._background),
            preempted=self._preempted,
        )

    def _changed(self) -> None:
        self._version += 1
        self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._stopping or self._waiting or self._running or self._background or self._forgets
                )
                if self._stopping:
                    break
                self._admit()
            self._drop_cancelled()
            self._forget_deleted()
            if self._running:
                self._share_cpu(acquire=True)
                self._step()
            if not self._running:
                self._share_cpu(acquire=False)
        for job in list(self._running):
            self.engine.stop(job)
            self._end(job, "interrupted")
        for job in (*self._waiting, *self._background):
            self._finish(job, Finished("", "interrupted", Usage(), Timings()))
        self._forget_deleted()
        try:
            self.budget.close()
        except Exception:
            log.exception("closing the CPU budget failed (its locks go with the process)")

    def _share_cpu(self, acquire: bool) -> None:
        """Take the threads the CPU budget grants for the next step, or give them back.

        If sharing fails (a lock error, a folder gone bad) the service goes on unshared with
        its full thread count rather than stop generating."""
        try:
            grant = self.budget.acquire() if acquire else self.budget.release()
        except Exception:
            log.exception("the CPU budget failed: running %d threads, unshared, from now on", self.budget.max_threads)
            broken, self.budget = self.budget, FixedBudget(self.budget.max_threads)
            try:
                broken.close()
            except Exception:
                log.exception("closing the failed CPU budget failed too (its locks go with the process)")
            grant = self.budget.acquire() if acquire else self.budget.release()
        self._use(grant)

    def _use(self, grant: Grant) -> None:
        """Run the engine's next steps on the granted threads; tell watchers of a change."""
        if grant.threads and grant.threads != self._threads:
            self.engine.set_threads(grant.threads)
            self._threads = grant.threads
        if grant != self._grant:
            self._grant = grant
            with self._cond:
                self._changed()

    def _admit(self) -> None:
        """Move waiting jobs into free slots, in arrival order, foreground ones first and
        taking slots back from background ones (called with the lock held)."""
        admitted = False
        while (queue := self._next_queue()) is not None:
            self._start(queue.popleft())
            admitted = True
        if admitted:
            for queue in (self._waiting, self._background):
                for position, waiting in enumerate(queue, start=1):
                    waiting.emit(Queued(position=position))
            self._changed()

    def _next_queue(self) -> deque[Job] | None:
        """The queue whose first job gets a slot now, after freeing one if it must."""
        free = len(self._running) < self.engine.slots
        if self._waiting:
            if not free and not self._waiting[0].cancelled:  # a cancelled one only leaves
                background = [job for job in self._running if job.background]
                if not background:
                    return None
                self._preempt(background[-1])  # the newest has the least to lose
            return self._waiting
        return self._background if self._background and free else None

    def _preempt(self, job: Job) -> None:
        self.engine.stop(job)
        self._preempted += 1
        self._end(job, "preempted")

    def _start(self, job: Job) -> None:
        if job.cancelled:
            self._finish(job, Finished("", "cancelled", Usage(), Timings()))
            return
        now = time.monotonic()
        queue_ms = (now - job.submitted_at) * 1000
        try:
            cached = self.engine.start(job, job.prompt, job.params, keep=job.keep and not job.background, chat=job.chat)
        except PromptTooLong as too_long:
            self._finish(job, Finished("", "error", Usage(job.prompt.n_tokens, 0), Timings(), str(too_long)))
            return
        except Exception as error:  # the worker must survive any one request
            log.exception("starting a generation failed")
            self.engine.stop(job)
            self._finish(job, Finished("", "error", Usage(job.prompt.n_tokens, 0), Timings(), type(error).__name__))
            return
        stops = StopFilter(job.params.stop) if job.params.stop else None
        self._running[job] = _Running(started=now, queue_ms=queue_ms, cached=cached, stops=stops)
        job.emit(Started(queue_ms=queue_ms))

    def _forget_deleted(self) -> None:
        with self._cond:
            forgets, self._forgets = self._forgets, []
        self._forget_now(forgets)

    def _forget_now(self, forgets: list[tuple[str, threading.Event]]) -> None:
        for chat, done in forgets:
            try:
                self.engine.forget(chat)
            except Exception:  # the worker must survive it; the chat's states stay until evicted
                log.exception("dropping the cached states of a deleted chat failed")
            done.set()

    def _drop_cancelled(self) -> None:
        for job in [j for j in self._running if j.cancelled]:
            self.engine.stop(job)
            self._end(job, "cancelled")

    def _step(self) -> None:
        started = time.monotonic()
        try:
            steps = self.engine.step()
        except Exception as error:  # the worker must survive a failed decode
            log.exception("decode failed")
            for job in list(self._running):
                self.engine.stop(job)
                self._end(job, "error", type(error).__name__)
            return
        now = time.monotonic()
        produced = 0
        for key, step in steps:
            job = cast(Job, key)
            running = self._running.get(job)
            if running is None:
                continue
            if running.first_token_at is None:
                running.first_token_at = now
            running.n_tokens = step.n_tokens
            produced += 1
            if step.logprob is not None:
                running.logprobs.append(step.logprob)
            text, stopped = running.stops.feed(step.text) if running.stops else (step.text, False)
            self._emit_text(job, running, text)
            if stopped:
                self.engine.stop(job)
                self._end(job, "stop")
            elif step.finish_reason:
                self._end(job, step.finish_reason, step.error)
        if produced and now > started:
            rate = produced / (now - started)
            self._tokens_per_second = 0.8 * self._tokens_per_second + 0.2 * rate if self._tokens_per_second else rate
        if now - self._last_report > 0.5:
            self._last_report = now
            with self._cond:
                self._changed()

    @staticmethod
    def _emit_text(job: Job, running: _Running, text: str) -> None:
        if text:
            running.parts.append(text)
            job.emit(Token(text, tuple(running.logprobs)))
            running.logprobs.clear()

    def _end(self, job: Job, finish: str, error: str | None = None) -> None:
        """Finish a job that held a slot: timings, usage, then store and deliver."""
        with self._cond:
            running = self._running.pop(job)
        if running.stops is not None:
            # Text held back in case it began a stop string: the answer ended otherwise.
            self._emit_text(job, running, running.stops.flush())
        ended = time.monotonic()
        decode_s = ended - running.first_token_at if running.first_token_at else 0.0
        n = running.n_tokens
        timings = Timings(
            queue_ms=round(running.queue_ms, 1),
            ttft_ms=round(((running.first_token_at or ended) - running.started) * 1000, 1),
            total_ms=round((ended - running.started) * 1000, 1),
            tokens_per_second=round((n - 1) / decode_s, 1) if decode_s > 0 and n > 1 else 0.0,
            cached_prompt_tokens=running.cached,
        )
        text = "" if finish == "preempted" else "".join(running.parts)
        self._finish(job, Finished(text, finish, Usage(job.prompt.n_tokens, n), timings, error))
        with self._cond:
            # A stopped or failed chat says little of the next; a background job, nothing.
            if finish in ("stop", "length") and not job.background:
                self._durations.add(ended - running.started)
            if not self._running:
                self._tokens_per_second = 0.0
            self._changed()

    def _finish(self, job: Job, result: Finished) -> None:
        if job.background:
            result = replace(result, background=True)
        if job.on_finish is not None:
            try:
                job.on_finish(result)
            except Exception:
                log.exception("storing the answer failed")
                result = Finished(
                    result.text, "error", result.usage, result.timings, error="the answer could not be stored"
                )
        if self._on_finished is not None:
            self._on_finished(result)
        job.emit(result)
