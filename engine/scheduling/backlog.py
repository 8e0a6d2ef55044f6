"""How long a refused request should wait (``Retry-After``), estimated from the real queue.

The estimate is the time until a slot would be free for one more request: each running
chat's time left, then the waiting chats ahead, each given the typical duration, taken
by whichever slot frees first. The typical duration is the median of recent chats (a
few long answers do not inflate it, as they did an average); a running chat's time left
is that typical duration minus its age, but never more than its tokens left at the speed
it decodes (it cannot write past ``max_tokens``).
"""

from __future__ import annotations

import heapq
import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_JOB_SECONDS = 5.0
"""The typical chat before any has ended."""


@dataclass(frozen=True)
class RunningWork:
    """A chat holding a slot, as the estimate sees it."""

    elapsed: float
    """Seconds since it started (prompt evaluation included)."""
    tokens_left: int
    """``max_tokens`` minus the tokens written so far: the most it can still write."""


class RecentDurations:
    """The durations of the last ``size`` chats that ran to their end; their median."""

    def __init__(self, size: int = 32, default: float = DEFAULT_JOB_SECONDS) -> None:
        self._seconds: deque[float] = deque(maxlen=size)
        self._default = default

    def add(self, seconds: float) -> None:
        self._seconds.append(seconds)

    def typical(self) -> float:
        return statistics.median(self._seconds) if self._seconds else self._default


def seconds_until_free(
    running: Sequence[RunningWork],
    waiting: int,
    slots: int,
    typical: float,
    tokens_per_second: float,
) -> float:
    """Seconds until a slot could take one more chat. ``tokens_per_second`` is the
    service's whole decode speed (all running chats together); 0 when unknown."""
    per_chat = tokens_per_second / len(running) if running and tokens_per_second > 0 else 0.0
    free_at = []
    for work in running:
        left = max(typical - work.elapsed, 0.0)
        if per_chat > 0:
            left = min(left, work.tokens_left / per_chat)
        free_at.append(left)
    free_at += [0.0] * max(slots - len(running), 0)
    heapq.heapify(free_at)
    for _ in range(waiting):  # each chat ahead takes the slot that frees first
        heapq.heappush(free_at, heapq.heappop(free_at) + typical)
    return free_at[0] if free_at else typical


def retry_after(seconds: float) -> int:
    """Whole seconds for the header: at least 1, rounded up."""
    return max(1, math.ceil(seconds))
