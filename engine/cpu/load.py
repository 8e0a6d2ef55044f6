"""Foreign CPU load: how many cores programs other than RusChat's services keep busy.

Sampled from ``/proc`` (Linux): the machine's busy time on our CPUs against the CPU time
of RusChat's own services. Used by :mod:`engine.cpu.budget`; knows nothing of locks or models.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path


def _machine_busy_ticks(cpus: set[int], proc: Path) -> int | None:
    """Clock ticks the given CPUs spent busy (user, nice, system, irq, softirq, steal)."""
    busy = 0
    found = False
    with open(proc / "stat", "rb") as f:
        for line in f:
            if not line.startswith(b"cpu"):
                break
            name, *fields = line.split()
            if name == b"cpu" or int(name[3:]) not in cpus:
                continue
            values = [int(v) for v in fields[:8]]
            # Steal is time the hypervisor gave another guest: a foreign process too.
            busy += values[0] + values[1] + values[2] + values[5] + values[6] + values[7]
            found = True
    return busy if found else None


def _process_ticks(pid: int, proc: Path) -> int | None:
    """User plus system clock ticks of a process, or None if it is gone."""
    try:
        with open(proc / str(pid) / "stat", "rb") as f:
            data = f.read()
        # The name, in parentheses, may hold spaces and parentheses itself.
        fields = data[data.rindex(b")") + 2 :].split()
        return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the line)
    except (OSError, ValueError, IndexError):
        return None


class LoadMeter:
    """Cores kept busy by processes that are not RusChat services, sampled from /proc."""

    def __init__(
        self,
        cpus: set[int],
        members: Callable[[], Iterable[int]],
        proc: Path = Path("/proc"),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cpus, self._members, self._proc, self._clock = cpus, members, proc, clock
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last: tuple[float, int, dict[int, int]] | None = None

    @property
    def available(self) -> bool:
        return (self._proc / "stat").is_file()

    def sample(self) -> float | None:
        """Foreign cores busy on average since the previous call (None on the first call)."""
        now = self._clock()
        busy = _machine_busy_ticks(self._cpus, self._proc)
        if busy is None:
            return None
        ours: dict[int, int] = {}
        for pid in {os.getpid(), *self._members()}:
            ticks = _process_ticks(pid, self._proc)
            if ticks is not None:
                ours[pid] = ticks
        last, self._last = self._last, (now, busy, ours)
        if last is None or now <= last[0]:
            return None
        then, busy_then, ours_then = last
        if ours_then.keys() - ours.keys():
            return None  # a service ended: its last CPU time is unknown, not foreign
        # A member that appeared since the last sample counts from now on.
        own = sum(ticks - ours_then.get(pid, ticks) for pid, ticks in ours.items())
        return max(0.0, (busy - busy_then - own) / self._tick / (now - then))
