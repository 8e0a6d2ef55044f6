"""Answers being generated now: found by their message id, saved as they grow.

A chat answer belongs to the service, not to the HTTP request that asked for it: it runs
to its end when the page goes away, any client can follow it again (reattach) or stop it,
and its text reaches the database at least every :data:`SAVE_EVERY` seconds, so a crash
loses at most that much of it. Each save is also the answer's heartbeat: several processes
may write one database, and each in turn marks ``interrupted`` only the answers whose
heartbeat stopped (:meth:`Store.mark_interrupted`), never those of a live neighbour.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from engine.scheduling.jobs import Job
from engine.store.storage import Store

log = logging.getLogger(__name__)

SAVE_EVERY = 0.5
"""Seconds between two saves of a growing answer (the promise is: at most ~1 s lost)."""
SWEEP_EVERY = 2.0
"""Seconds between two looks for answers whose writer died (another process's, or ours
before a restart)."""


@dataclass(eq=False)
class LiveAnswer:
    """A stored answer that a job is writing."""

    session_id: str
    message_id: str
    job: Job
    before: str = ""
    """The answer's text before this job (a continued answer); the job appends to it."""
    saved: int = 0
    """Length of the text last written to the store."""

    def text(self) -> str:
        return self.before + self.job.text()


class LiveAnswers:
    """The service's running chat answers, and the thread that saves their text."""

    def __init__(self, store: Store, save_every: float = SAVE_EVERY, sweep_every: float = SWEEP_EVERY) -> None:
        self._store = store
        self._save_every, self._sweep_every = save_every, sweep_every
        self._answers: dict[str, LiveAnswer] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="answer-saver", daemon=True)
        self._thread.start()

    def add(self, answer: LiveAnswer) -> None:
        with self._lock:
            self._answers[answer.message_id] = answer

    def remove(self, message_id: str) -> None:
        """Forget an answer once its end is stored."""
        with self._lock:
            self._answers.pop(message_id, None)

    def get(self, session_id: str, message_id: str) -> LiveAnswer | None:
        with self._lock:
            answer = self._answers.get(message_id)
        return answer if answer is not None and answer.session_id == session_id else None

    def stop_session(self, session_id: str) -> None:
        """Stop the answers being written in a chat (it is being deleted)."""
        with self._lock:
            answers = [a for a in self._answers.values() if a.session_id == session_id]
        for answer in answers:
            answer.job.cancel()

    def close(self) -> None:
        """Save what the running answers have so far, then stop the saver."""
        self._closed.set()
        self._thread.join(5)
        self.save_all()

    def save_all(self) -> None:
        """Save the answers that grew; renew the heartbeat of the others."""
        with self._lock:
            answers = list(self._answers.values())
        unchanged = []
        for answer in answers:
            text = answer.text()
            if len(text) == answer.saved:
                unchanged.append(answer.message_id)
                continue
            try:
                self._store.save_progress(answer.message_id, text)
                answer.saved = len(text)
            except Exception:  # a locked or full disk: try again next time, keep generating
                log.exception("saving a growing answer failed")
        try:
            self._store.touch_answers(unchanged)
        except Exception:
            log.exception("renewing the answers' heartbeat failed")

    def sweep(self) -> int:
        """Mark ``interrupted`` the answers whose writer died (never one of ours)."""
        with self._lock:
            ours = list(self._answers)
        swept = self._store.mark_interrupted(keep=ours)
        if swept:
            log.warning("%d answer(s) lost the process writing them: marked interrupted", swept)
        return swept

    def _run(self) -> None:
        next_sweep = time.monotonic() + self._sweep_every
        while not self._closed.wait(self._save_every):
            self.save_all()
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + self._sweep_every
                try:
                    self.sweep()
                except Exception:  # the database is away: look again next time
                    log.exception("looking for interrupted answers failed")
