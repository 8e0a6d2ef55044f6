"""The machine-wide CPU budget: shares between services, a dead holder's share, foreign load.

The "other service" is a real second process holding the same lock files, as in production.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.cpu.budget import (
    ALONE,
    FOREIGN_LOAD,
    IDLE,
    RECOVERY_SAMPLES,
    SHARING,
    CpuBudget,
    FixedBudget,
    Grant,
    usable_cores,
)
from engine.cpu.load import LoadMeter
from engine.scheduling.scheduler import Scheduler
from tests.fakes import FakeEngine, job, run_to_end

ROOT = Path(__file__).resolve().parents[2]


class NoMeter:
    """No foreign load measured: tests set it with ``note_foreign``."""

    available = False

    def sample(self) -> float | None:
        return None


_open: list[CpuBudget] = []


def budget(directory: Path, max_threads: int = 4, cores: int = 4) -> CpuBudget:
    made = CpuBudget(directory, max_threads, cores=cores, meter=NoMeter())  # type: ignore[arg-type]
    _open.append(made)
    return made


@pytest.fixture(autouse=True)
def _close_budgets() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


OTHER_SERVICE = """
import sys
from pathlib import Path
from engine.cpu.budget import CpuBudget

class NoMeter:
    available = False
    def sample(self):
        return None

budget = CpuBudget(Path(sys.argv[1]), int(sys.argv[2]), cores=int(sys.argv[3]), meter=NoMeter())
print("ready", flush=True)
for command in sys.stdin:
    name, *arguments = command.split()
    if name == "foreign":
        budget.note_foreign(float(arguments[0]))
        continue
    grant = budget.acquire() if name == "acquire" else budget.release()
    print(grant.threads, grant.reason, flush=True)
"""


class OtherService:
    """Another service's budget in its own process, driven line by line."""

    def __init__(self, directory: Path, max_threads: int = 4, cores: int = 4) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", OTHER_SERVICE, str(directory), str(max_threads), str(cores)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._line() == "ready"

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        assert line, f"the other service ended (exit code {self.process.poll()})"
        return line

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def result(self) -> Grant:
        threads, reason = self._line().split()
        return Grant(int(threads), reason)

    def acquire(self) -> Grant:
        self.send("acquire")
        return self.result()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def other(tmp_path: Path) -> Iterator[OtherService]:
    service = OtherService(tmp_path)
    yield service
    service.kill()


def until_generating(mine: CpuBudget, others: int) -> None:
    """Wait until the other process has taken its seat (it runs on its own clock)."""
    deadline = time.monotonic() + 10
    while len(mine.others_generating()) != others:
        assert time.monotonic() < deadline, "the other service never started generating"
        time.sleep(0.005)


def share_with(mine: CpuBudget, other: OtherService) -> None:
    """Both generating: ours first, then the other, which gets cores at our next step."""
    assert mine.acquire() == Grant(4, ALONE)
    other.send("acquire")
    until_generating(mine, 1)
    assert mine.acquire() == Grant(2, SHARING)
    assert other.result().threads in (1, 2)  # it may catch the first freed core alone
    assert other.acquire() == Grant(2, SHARING)


def test_alone_a_service_gets_every_core_up_to_its_bound(tmp_path: Path):
    assert budget(tmp_path, max_threads=4).acquire() == Grant(4, ALONE)


def test_threads_option_is_the_upper_bound(tmp_path: Path):
    assert budget(tmp_path, max_threads=2).acquire() == Grant(2, ALONE)


def test_release_gives_everything_back(tmp_path: Path):
    mine = budget(tmp_path)
    mine.acquire()
    assert mine.release() == Grant(0, IDLE)
    assert mine.current == Grant(0, IDLE)


def test_two_generating_services_split_the_cores(tmp_path: Path, other: OtherService):
    share_with(budget(tmp_path), other)


def test_an_odd_core_goes_to_one_of_them(tmp_path: Path):
    mine = budget(tmp_path, max_threads=3, cores=3)
    other = OtherService(tmp_path, max_threads=3, cores=3)
    try:
        assert mine.acquire() == Grant(3, ALONE)
        other.send("acquire")
        until_generating(mine, 1)
        assert mine.acquire() == Grant(2, SHARING)  # the first seat gets the odd core
        assert other.result() == Grant(1, SHARING)
    finally:
        other.kill()


def test_threads_return_when_the_other_service_goes_idle(tmp_path: Path, other: OtherService):
    mine = budget(tmp_path)
    share_with(mine, other)
    other.send("release")
    assert other.result() == Grant(0, IDLE)
    assert mine.acquire() == Grant(4, ALONE)


def test_a_killed_service_gives_its_share_back_at_once(tmp_path: Path, other: OtherService):
    mine = budget(tmp_path)
    share_with(mine, other)
    other.kill()
    assert mine.acquire() == Grant(4, ALONE)


def test_members_lists_live_services_and_forgets_dead_ones(tmp_path: Path, other: OtherService):
    mine = budget(tmp_path)
    assert mine.members() == [other.process.pid]
    other.kill()
    assert mine.members() == []
    assert not (tmp_path / f"member-{other.process.pid}").exists()


def test_foreign_load_steps_threads_down_at_once_and_up_after_calm(tmp_path: Path):
    mine = budget(tmp_path, max_threads=4, cores=4)
    assert mine.acquire() == Grant(4, ALONE)
    mine.note_foreign(1.0)
    assert mine.acquire() == Grant(3, FOREIGN_LOAD)
    mine.note_foreign(2.6)
    assert mine.acquire() == Grant(1, FOREIGN_LOAD)
    for _ in range(RECOVERY_SAMPLES - 1):
        mine.note_foreign(0.0)
        assert mine.acquire().threads < 4, "threads came back before the load had been gone a while"
    mine.note_foreign(0.0)
    assert mine.acquire() == Grant(4, ALONE)


def test_a_little_foreign_load_is_ignored_and_a_busy_machine_still_gets_one_thread(tmp_path: Path):
    mine = budget(tmp_path, max_threads=2, cores=2)
    mine.note_foreign(0.2)
    assert mine.acquire() == Grant(2, ALONE)
    mine.note_foreign(5.0)
    assert mine.acquire() == Grant(1, FOREIGN_LOAD)


def test_two_budgets_of_one_process_share_too(tmp_path: Path, monkeypatch):
    monkeypatch.setattr("engine.cpu.budget.WAIT_FOR_CORE_SECONDS", 0.05)
    first, second = budget(tmp_path), budget(tmp_path)  # registering does not wait for the other
    assert first.acquire() == Grant(4, ALONE)
    assert second.acquire() == Grant(1, SHARING)  # the first holds every core until its next step
    assert first.acquire() == Grant(2, SHARING)
    assert second.acquire() == Grant(2, SHARING)


def test_foreign_load_is_split_among_the_services_too(tmp_path: Path, other: OtherService):
    mine = budget(tmp_path)
    share_with(mine, other)
    mine.note_foreign(2.0)
    other.send("foreign 2.0")
    # Two cores left for two services: one thread each, not two each on two cores.
    assert mine.acquire() == Grant(1, FOREIGN_LOAD)
    assert other.acquire() == Grant(1, FOREIGN_LOAD)


def test_a_newcomer_waits_for_a_core_once_per_busy_period(tmp_path: Path, other: OtherService, monkeypatch):
    waits = []
    monkeypatch.setattr("engine.cpu.budget.WAIT_FOR_CORE_SECONDS", 0.05)
    mine = budget(tmp_path)
    original = mine._wait_for_core
    monkeypatch.setattr(mine, "_wait_for_core", lambda target: waits.append(target) or original(target))
    assert other.acquire() == Grant(4, ALONE)  # holds every core and never steps again
    for _ in range(5):
        assert mine.acquire() == Grant(1, SHARING)  # one thread meanwhile, unlocked
    assert len(waits) == 1
    mine.release()
    mine.acquire()
    assert len(waits) == 2


def test_a_removed_folder_is_opened_again_when_generation_starts(tmp_path: Path):
    folder = tmp_path / "cpu"
    mine = budget(folder)
    shutil.rmtree(folder)  # e.g. a /tmp cleaner
    other = OtherService(folder)
    try:
        share_with(mine, other)
        assert mine.members() == [other.process.pid]
    finally:
        other.kill()


def test_a_directory_of_another_kind_is_refused(tmp_path: Path):
    target = tmp_path / "real"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(PermissionError):
        budget(tmp_path / "link")


def test_usable_cores_respects_a_cgroup_quota(tmp_path: Path):
    quota = tmp_path / "cpu.max"
    quota.write_text("100000 100000\n")
    assert usable_cores(quota) == 1
    quota.write_text("max 100000\n")
    assert usable_cores(quota) == len(os.sched_getaffinity(0))
    assert usable_cores(tmp_path / "missing") == len(os.sched_getaffinity(0))


# --------------------------------------------------------------------------- the meter


def write_proc(proc: Path, busy: int, members: dict[int, int]) -> None:
    """A /proc with two CPUs, each ``busy`` ticks busy so far, and processes with the given ticks."""
    line = f"{busy // 2} 0 {busy - busy // 2} 1000 0 0 0 0 0 0"
    (proc / "stat").write_text(f"cpu  {2 * busy} 0 0 2000 0 0 0 0 0 0\ncpu0 {line}\ncpu1 {line}\nintr 1 2 3\n")
    for pid, ticks in members.items():
        (proc / str(pid)).mkdir(exist_ok=True)
        fields = ["S"] + ["0"] * 10 + [str(ticks), "0"] + ["0"] * 30
        (proc / str(pid) / "stat").write_text(f"{pid} (python (x) y) {' '.join(fields)}\n")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


TICK = os.sysconf("SC_CLK_TCK")


def test_meter_counts_only_what_no_ruschat_service_used(tmp_path: Path):
    other, clock = 4242, Clock()
    write_proc(tmp_path, busy=0, members={os.getpid(): 0, other: 0})
    meter = LoadMeter({0, 1}, lambda: [other], proc=tmp_path, clock=clock)
    assert meter.sample() is None  # the first sample is the baseline
    # Both CPUs busy for 0.2 s; the two services used 0.1 s each: one core's worth is foreign.
    clock.now += 0.2
    write_proc(tmp_path, busy=int(0.2 * TICK), members={os.getpid(): int(0.1 * TICK), other: int(0.1 * TICK)})
    assert meter.sample() == pytest.approx(1.0, abs=0.1)


def test_meter_ignores_cpus_outside_the_affinity(tmp_path: Path):
    clock = Clock()
    write_proc(tmp_path, busy=0, members={os.getpid(): 0})
    meter = LoadMeter({0}, lambda: [], proc=tmp_path, clock=clock)
    meter.sample()
    clock.now += 0.1
    write_proc(tmp_path, busy=int(0.1 * TICK), members={os.getpid(): 0})
    assert meter.sample() == pytest.approx(1.0, abs=0.1)  # one busy CPU, not two


def test_meter_skips_the_sample_in_which_a_service_ended(tmp_path: Path):
    other, clock, members = 4242, Clock(), [4242]
    write_proc(tmp_path, busy=0, members={os.getpid(): 0, other: 0})
    meter = LoadMeter({0, 1}, lambda: members, proc=tmp_path, clock=clock)
    meter.sample()
    clock.now += 0.2
    write_proc(tmp_path, busy=int(0.2 * TICK), members={os.getpid(): 0})
    shutil.rmtree(tmp_path / str(other))
    members.clear()
    assert meter.sample() is None  # its CPU time this sample is unknown, not foreign
    clock.now += 0.2
    write_proc(tmp_path, busy=int(0.2 * TICK), members={os.getpid(): 0})
    assert meter.sample() == pytest.approx(0.0, abs=0.05)


def test_meter_survives_odd_process_names(tmp_path: Path):
    write_proc(tmp_path, busy=0, members={os.getpid(): 7})
    (tmp_path / "4243").mkdir()
    (tmp_path / "4243" / "stat").write_text("4243 (a) b) R 1")  # cut short
    meter = LoadMeter({0, 1}, lambda: [4243], proc=tmp_path, clock=Clock())
    assert meter.sample() is None  # a baseline, no exception


@pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="needs Linux /proc")
def test_meter_sees_a_real_busy_process():
    meter = LoadMeter(os.sched_getaffinity(0), lambda: [])
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        meter.sample()
        time.sleep(1.0)
        foreign = meter.sample()
    finally:
        busy.kill()
        busy.wait()
    assert foreign is not None and foreign > 0.5


# --------------------------------------------------------------------------- the scheduler


def test_scheduler_runs_the_engine_on_the_granted_threads(tmp_path: Path):
    engine = FakeEngine(pieces=["a", "b", "c", "d"], delay=0.05)
    mine = budget(tmp_path, max_threads=4, cores=4)
    other = OtherService(tmp_path, max_threads=2)  # leaves two cores free
    scheduler = Scheduler(engine, max_queue=2, budget=mine)
    scheduler.start()
    try:
        other.acquire()
        first = job()
        scheduler.submit(first)
        assert run_to_end(first)[1].finish_reason == "stop"
        assert engine.threads == [2]
        deadline = time.monotonic() + 5
        while scheduler.status().threads != Grant(0, IDLE):  # released once the worker is idle
            assert time.monotonic() < deadline, "the scheduler kept its cores after the job"
            time.sleep(0.01)
        other.send("release")
        other.result()
        second = job()
        scheduler.submit(second)
        run_to_end(second)
        assert engine.threads == [2, 4]
    finally:
        scheduler.stop()
        other.kill()


def test_a_service_that_cannot_use_the_folder_still_serves_unshared(tmp_path: Path, config):
    from dataclasses import replace

    from engine.app import cpu_budget
    from engine.cpu.budget import FixedBudget

    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    fallback = cpu_budget(replace(config, cpu_dir=tmp_path / "link", threads=3))
    assert isinstance(fallback, FixedBudget) and fallback.acquire() == Grant(3, ALONE)
    shared = cpu_budget(replace(config, cpu_dir=tmp_path / "cpu", threads=1))
    try:
        assert isinstance(shared, CpuBudget) and shared.acquire() == Grant(1, ALONE)
    finally:
        shared.close()


class BrokenBudget(FixedBudget):
    """Fails the way a lock on a vanished or foreign folder would."""

    def acquire(self) -> Grant:
        raise PermissionError("the folder is not ours any more")


def test_a_failing_budget_does_not_stop_generation():
    engine = FakeEngine(pieces=["a", "b"])
    scheduler = Scheduler(engine, max_queue=2, budget=BrokenBudget(3))
    scheduler.start()
    try:
        first = job()
        scheduler.submit(first)
        assert run_to_end(first)[1].finish_reason == "stop"
        assert engine.threads == [3]  # unshared, with every thread it may use
        second = job()
        scheduler.submit(second)
        assert run_to_end(second)[1].finish_reason == "stop"
    finally:
        scheduler.stop()
