"""What the scheduler tells the rest of the service: its status, and a queue with no room."""

from __future__ import annotations

from dataclasses import dataclass

from engine.cpu.budget import Grant


class QueueFull(Exception):
    """The queue has no room; ``retry_after``: seconds until a slot should be free."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("the model is busy and its queue is full")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Status:
    state: str
    queue_depth: int
    tokens_per_second: float
    version: int
    threads: Grant
    """Threads in use now and why not more."""
    busy_slots: int = 0
    """Slots generating a foreground answer."""
    background: int = 0
    """Background jobs holding a slot or waiting for one."""
    preempted: int = 0
    """Background jobs that gave their slot to a foreground one, since the start."""
