"""A CPU budget that every RusChat service on the machine honours. Knows no HTTP, no model.

llama.cpp's CPU threads wait for each other at a barrier after every operation, spinning.
When another process holds one of the cores, every decode step waits on a thread that is
not running, and speed collapses (two services with 2 threads each on 2 cores: 0.3
tokens/s each instead of 60). So before each decode step a service asks its
:class:`CpuBudget` how many threads it may use now:

- **Cores taken by other services.** A service that generates holds a *seat* (an
  exclusive ``flock`` on one of a few seat files) and one *core* file per thread it runs.
  The services generating at the same time split the free cores equally; a service above
  its share gives cores back before its next step, and a newcomer waits for one to come
  free (one step of the others, at most WAIT_FOR_CORE_SECONDS). The kernel drops a
  process's ``flock`` locks when it dies, so a crashed or killed service gives its share
  back at once.
- **Cores busy with foreign work.** :class:`LoadMeter` compares the CPU time the
  machine spent (``/proc/stat``) with the CPU time of RusChat's own services
  (``/proc/<pid>/stat``, services found through their *member* files); the rest is
  foreign, and a core that is busy with foreign work is left to it. Thread counts drop at
  the first sample that shows foreign load and come back when it has been gone for
  RECOVERY_SAMPLES samples (0.75 s).

Checking costs a handful of non-blocking ``flock`` calls (microseconds) per step; the
meter samples from its own thread, four times a second (about 0.1 ms each). The folder
must be on a local file system. A budget belongs to the process that made it: make it
after forking (gunicorn builds the app in its worker).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import math
import os
import secrets
import stat
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from engine.cpu.load import LoadMeter

log = logging.getLogger(__name__)

SEATS = 8
"""Services that can share the machine's cores; any more run one thread each, unseated."""
FOREIGN_THRESHOLD = 0.35
"""A core counts as taken by foreign work once this much of it is busy: llama.cpp's
spinning threads slow down sharply long before a foreign process gets a whole core."""
SAMPLE_SECONDS = 0.25
"""Load sampling period (also while idle, so that a first step knows the load already)."""
RECOVERY_SAMPLES = 3
"""Threads come back after this many calm samples in a row (0.75 s)."""
WAIT_FOR_CORE_SECONDS = 0.5
"""A newcomer that finds every core held waits at most this long (once per busy period),
then runs one thread anyway: a slow or stopped (SIGSTOP) neighbour must not stall it."""

IDLE, ALONE, SHARING, FOREIGN_LOAD = "idle", "alone", "sharing", "foreign_load"


@dataclass(frozen=True)
class Grant:
    """How many threads a service may run now, and why not more."""

    threads: int
    """0 while idle."""
    reason: str
    """``idle``, ``alone`` (the whole budget), ``sharing`` (with other RusChat services)
    or ``foreign_load`` (cores busy with other programs)."""


def usable_cores(cgroup: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """Cores this process may use: its CPU affinity (``taskset``, a cpuset), capped by a
    cgroup CPU quota (a container started with ``--cpus``)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = cgroup.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota here
    return cores


def default_directory() -> Path:
    """Where the services of one user meet, whatever environment started them: per user,
    so that nobody else can hold our locks."""
    return Path("/tmp") / f"ruschat-cpu-{os.getuid()}"


def _private_directory(path: Path) -> Path:
    """Create ``path`` for this user only; refuse one that another user made or a symlink."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(f"{path} is not a directory owned by this user")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def _try_lock(fd: int | IO[bytes], shared: bool = False) -> bool:
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _unlock(file: IO[bytes]) -> None:
    fcntl.flock(file, fcntl.LOCK_UN)


def _is_locked(file: IO[bytes]) -> bool:
    """Whether another open file (another process) holds ``file``'s lock. The probe takes
    a shared lock: probes of two services never mistake each other for a holder."""
    if _try_lock(file, shared=True):
        _unlock(file)
        return False
    return True


def _split(cores: int, services: int, rank: int) -> int:
    """One service's equal share of ``cores``; the first ``cores % services`` get one more."""
    base, extra = divmod(cores, services)
    return max(1, base + (1 if rank < extra else 0))


# --------------------------------------------------------------------------- the budget


class CpuBudget:
    """This service's share of the machine's cores, agreed with the other services.

    Only the scheduler's worker calls :meth:`acquire` (before each decode step) and
    :meth:`release` (when it has nothing to do); :meth:`current` is safe from any thread.
    """

    def __init__(
        self,
        directory: Path,
        max_threads: int,
        *,
        cores: int | None = None,
        meter: LoadMeter | None = None,
        sample_seconds: float = SAMPLE_SECONDS,
    ) -> None:
        self.cores = cores or usable_cores()
        self.max_threads = max(1, max_threads)
        self._dir = directory
        # One core file per core of the machine, whatever each service's affinity.
        self._n_core_files = max(self.cores, os.cpu_count() or 1)
        self._seat_files, self._core_files = self._open_files()
        self._member = self._register()
        self._seat: int | None = None
        self._held: list[int] = []
        self._waited = False
        """This busy period already waited for a core once."""
        self._warned_unseated = False
        self._grant = Grant(0, IDLE)
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(self.cores))
        self._meter = meter if meter is not None else LoadMeter(cpus, self.members)
        self._foreign = 0
        self._recent: deque[int] = deque(maxlen=RECOVERY_SAMPLES)
        self._sample_seconds = sample_seconds
        self._closed = threading.Event()
        self._sampler: threading.Thread | None = None
        if self._meter.available:
            self._sampler = threading.Thread(target=self._sample_loop, name="cpu-meter", daemon=True)
            self._sampler.start()

    # ------------------------------------------------------------------ files
    def _open(self, name: str) -> IO[bytes]:
        return open(self._dir / name, "a+b")  # noqa: SIM115  (held open for the service's life)

    def _open_files(self) -> tuple[list[IO[bytes]], list[IO[bytes]]]:
        _private_directory(self._dir)
        seats = [self._open(f"seat-{k}") for k in range(SEATS)]
        return seats, [self._open(f"core-{i}") for i in range(self._n_core_files)]

    def _register(self) -> IO[bytes]:
        """Hold a member file of this process locked, for its life (a unique name, so that
        two budgets of one process, as in tests, do not wait for each other)."""
        path = self._dir / f"member-{os.getpid()}-{secrets.token_hex(4)}"
        for _ in range(100):
            member = self._open(path.name)
            # A meter of another service may hold the new file for a moment, and remove
            # it if it caught it before we locked it: then start again.
            if _try_lock(member):
                try:
                    if os.stat(path).st_ino == os.fstat(member.fileno()).st_ino:
                        return member
                except FileNotFoundError:
                    pass
            member.close()
            time.sleep(0.001)
        raise OSError(errno.EAGAIN, f"could not register in {self._dir}")

    def _reopen_if_removed(self) -> None:
        """Open the files again if someone removed them (a /tmp cleaner, a user): services
        that open the new files would otherwise not see our locks. Called holding none."""
        try:
            current: int | None = os.stat(self._dir / "seat-0").st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(self._seat_files[0].fileno()).st_ino:
            return
        log.warning("the CPU folder %s was removed: opening it again", self._dir)
        old = [*self._seat_files, *self._core_files, self._member]
        self._seat_files, self._core_files = self._open_files()
        self._member = self._register()
        for file in old:
            file.close()

    # ------------------------------------------------------------------ any thread
    @property
    def current(self) -> Grant:
        return self._grant

    def members(self) -> list[int]:
        """Process ids of the other live RusChat services (stale registrations removed)."""
        try:
            entries = list(os.scandir(self._dir))
        except FileNotFoundError:
            return []
        pids = []
        for entry in entries:
            if not entry.name.startswith("member-"):
                continue
            try:
                pid = int(entry.name.split("-")[1])
                fd = os.open(entry.path, os.O_RDONLY)
            except (ValueError, IndexError, FileNotFoundError):
                continue
            try:
                if not _try_lock(fd):
                    if pid != os.getpid():
                        pids.append(pid)
                else:  # nobody holds it: its process is gone; remove it while we hold it
                    Path(entry.path).unlink(missing_ok=True)
            finally:
                os.close(fd)
        return pids

    def others_generating(self) -> list[int]:
        """Seats held by other services: they generate now."""
        return [i for i, f in enumerate(self._seat_files) if i != self._seat and _is_locked(f)]

    # ------------------------------------------------------------------ worker thread
    def acquire(self) -> Grant:
        """How many threads to run the next step with; takes or gives back cores to match."""
        if self._seat is None:
            self._seat = self._take_seat()
        others = self.others_generating()
        services = len(others) + 1
        rank = sorted([*others, self._seat]).index(self._seat) if self._seat is not None else services - 1
        free = max(1, self.cores - self._foreign)
        share, share_unloaded = _split(free, services, rank), _split(self.cores, services, rank)
        target = min(self.max_threads, share)
        if target >= min(self.max_threads, self.cores):
            reason = ALONE
        elif share < share_unloaded:
            reason = FOREIGN_LOAD
        else:
            reason = SHARING
        while len(self._held) > target:
            _unlock(self._core_files[self._held.pop()])
        self._take_cores(target)
        if not self._held and self._seat is not None and services <= self._n_core_files and not self._waited:
            self._waited = True
            self._wait_for_core(target)
        if len(self._held) < target:
            reason = SHARING  # the others hold the rest until their next step
        self._grant = Grant(max(1, len(self._held)), reason)
        return self._grant

    def release(self) -> Grant:
        """Give every core and the seat back (nothing to generate)."""
        for index in self._held:
            _unlock(self._core_files[index])
        self._held = []
        if self._seat is not None:
            _unlock(self._seat_files[self._seat])
            self._seat = None
        self._waited = False
        self._grant = Grant(0, IDLE)
        return self._grant

    def close(self) -> None:
        self._closed.set()
        self.release()
        for file in [*self._seat_files, *self._core_files]:
            file.close()
        Path(self._member.name).unlink(missing_ok=True)
        self._member.close()
        if self._sampler is not None:
            self._sampler.join(timeout=2)

    def _take_seat(self) -> int | None:
        self._reopen_if_removed()
        for index, file in enumerate(self._seat_files):
            if _try_lock(file):
                return index
        if not self._warned_unseated:
            log.warning("more than %d services are generating: this one runs one thread, unseated", SEATS)
            self._warned_unseated = True
        return None

    def _take_cores(self, target: int) -> None:
        for index, file in enumerate(self._core_files):
            if len(self._held) >= target:
                return
            if index not in self._held and _try_lock(file):
                self._held.append(index)

    def _wait_for_core(self, target: int) -> None:
        """Others hold every core: they give some back at their next step."""
        deadline = time.monotonic() + WAIT_FOR_CORE_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.001)
            self._take_cores(target)
            if self._held:
                return
        log.info("no core came free within %.1f s: running one thread meanwhile", WAIT_FOR_CORE_SECONDS)

    # ------------------------------------------------------------------ meter thread
    def _sample_loop(self) -> None:
        failing = False
        while not self._closed.wait(self._sample_seconds):
            try:
                foreign = self._meter.sample()
            except Exception:  # the meter must never stop the service; it tries again
                if not failing:
                    log.exception("measuring the CPU load failed; ignoring foreign load until it works")
                failing = True
                self._recent.clear()
                self._foreign = 0
                continue
            failing = False
            if foreign is not None:
                self.note_foreign(foreign)

    def note_foreign(self, foreign: float) -> None:
        """Take one load sample: drop threads at once, raise them after calm samples."""
        cores = int(foreign + 1 - FOREIGN_THRESHOLD)
        self._recent.append(min(cores, self.cores))
        self._foreign = max(self._recent)


class FixedBudget:
    """Always the configured threads, shared with nobody (``--cpu-dir off``, unit tests)."""

    def __init__(self, threads: int) -> None:
        self.max_threads = max(1, threads)
        self._grant = Grant(0, IDLE)

    @property
    def current(self) -> Grant:
        return self._grant

    def acquire(self) -> Grant:
        self._grant = Grant(self.max_threads, ALONE)
        return self._grant

    def release(self) -> Grant:
        self._grant = Grant(0, IDLE)
        return self._grant

    def close(self) -> None:
        self.release()


class Budget(Protocol):
    """What the scheduler needs from a CPU budget."""

    max_threads: int

    @property
    def current(self) -> Grant: ...

    def acquire(self) -> Grant: ...

    def release(self) -> Grant: ...

    def close(self) -> None: ...
