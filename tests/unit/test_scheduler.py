from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from engine.cpu.budget import FixedBudget
from engine.inference.protocol import Prompt
from engine.scheduling.jobs import Job, Started, Token
from engine.scheduling.scheduler import MAX_BACKGROUND, Scheduler
from engine.scheduling.status import QueueFull
from shared.schemas import GenerationParams
from tests.fakes import FakeEngine, job, run_to_end


@contextmanager
def running(engine: FakeEngine, max_queue: int = 2) -> Iterator[Scheduler]:
    scheduler = Scheduler(engine, max_queue=max_queue, budget=FixedBudget(2))
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.stop()


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    with running(FakeEngine(pieces=["a", "b", "c"], delay=0.02)) as scheduler:
        yield scheduler


def test_jobs_run_in_order_and_report_usage(scheduler: Scheduler):
    first, second = job(), job()
    scheduler.submit(first)
    scheduler.submit(second)
    tokens, result = run_to_end(first)
    assert tokens == ["a", "b", "c"] and result.finish_reason == "stop"
    assert result.usage.prompt_tokens == 3 and result.usage.completion_tokens == 3
    assert run_to_end(second)[1].timings.queue_ms > 0


def test_full_queue_refuses_with_retry_after(scheduler: Scheduler):
    running = job()
    scheduler.submit(running)
    while not isinstance(running.next_event(timeout=5), Started):
        pass
    scheduler.submit(job())
    scheduler.submit(job())
    with pytest.raises(QueueFull) as caught:
        scheduler.submit(job())
    assert caught.value.retry_after >= 1
    assert scheduler.status().queue_depth == 2


def test_cancelled_jobs_stop_or_never_start(scheduler: Scheduler):
    running, waiting = job(), job()
    scheduler.submit(running)
    scheduler.submit(waiting)
    waiting.cancel()
    running.cancel()
    assert run_to_end(running)[1].finish_reason == "cancelled"
    tokens, result = run_to_end(waiting)
    assert (tokens, result.finish_reason) == ([], "cancelled")
    assert scheduler.status().state == "idle"


def test_on_accept_failure_leaves_nothing_queued(scheduler: Scheduler):
    def refuse() -> None:
        raise RuntimeError("database is gone")

    with pytest.raises(RuntimeError):
        scheduler.submit(job(), on_accept=refuse)
    assert scheduler.status().queue_depth == 0


def test_chats_share_the_slots_and_the_rest_wait_in_order():
    engine = FakeEngine(pieces=["a", "b", "c", "d"], delay=0.02, slots=2)
    with running(engine) as scheduler:
        first, second, third = job(), job(), job()
        for j in (first, second, third):
            scheduler.submit(j)
        # The first two generate side by side: the second starts before the first ends.
        assert run_to_end(first)[0] == ["a", "b", "c", "d"]
        assert engine.started[:2] == [first, second]
        assert run_to_end(second)[1].timings.queue_ms < run_to_end(third)[1].timings.queue_ms
        assert engine.started == [first, second, third]


def test_stopping_one_chat_leaves_the_others_running():
    with running(FakeEngine(pieces=[str(i) for i in range(200)], delay=0.01, slots=2)) as scheduler:
        stopped, kept, waiting = job(), job(), job()
        for j in (stopped, kept, waiting):
            scheduler.submit(j)
        while not isinstance(stopped.next_event(timeout=5), Token):
            pass
        stopped.cancel()
        assert run_to_end(stopped)[1].finish_reason == "cancelled"
        # Its slot goes to the waiting chat while the other keeps going.
        assert run_to_end(waiting)[1].finish_reason == "length"  # budget 50 < 200 pieces
        assert run_to_end(kept)[1].finish_reason == "length"


def background_job() -> Job:
    return Job(prompt=Prompt(tokens=(1, 2, 3)), params=GenerationParams(max_tokens=50), background=True)


def wait_started(j: Job) -> None:
    while not isinstance(j.next_event(timeout=5), Started):
        pass


def test_a_foreground_job_takes_the_slot_of_a_background_one_at_once():
    engine = FakeEngine(pieces=[str(i) for i in range(200)], delay=0.01, slots=1)
    with running(engine) as scheduler:
        title = background_job()
        scheduler.submit(title)
        wait_started(title)
        assert scheduler.status().background == 1 and scheduler.status().state == "idle"
        user = job()
        scheduler.submit(user)
        tokens, result = run_to_end(title)
        assert result.finish_reason == "preempted" and result.text == "" and result.background
        user_tokens, user_result = run_to_end(user)
        assert user_result.finish_reason == "length" and len(user_tokens) == 50
        # The user's job started on the worker's next pass: no decode step of the title in between.
        assert engine.started == [title, user]
        assert engine.kept == [False, True]  # the title's cache is dropped, not parked
        assert scheduler.status().preempted == 1


def test_background_jobs_wait_for_every_foreground_job_and_a_free_slot():
    engine = FakeEngine(pieces=["a", "b", "c"], delay=0.01, slots=1)
    with running(engine) as scheduler:
        first, title, second = job(), background_job(), job()
        scheduler.submit(first)
        scheduler.submit(title)
        scheduler.submit(second)
        assert run_to_end(title)[1].finish_reason == "stop"
        assert engine.started == [first, second, title]
        assert scheduler.status().preempted == 0


@contextmanager
def one_slot_taken(max_queue: int) -> Iterator[Scheduler]:
    """A scheduler with one slot, held by a long foreground job."""
    with running(FakeEngine(pieces=[str(i) for i in range(200)], delay=0.01, slots=1), max_queue) as scheduler:
        user = job()
        scheduler.submit(user)
        wait_started(user)
        try:
            yield scheduler
        finally:
            user.cancel()


def test_background_jobs_neither_fill_the_queue_nor_show_in_it():
    with one_slot_taken(max_queue=1) as scheduler:
        titles = [background_job() for _ in range(MAX_BACKGROUND)]
        for title in titles:
            scheduler.submit(title)
        with pytest.raises(QueueFull):
            scheduler.submit(background_job())
        assert scheduler.status().queue_depth == 0
        assert scheduler.status().background == MAX_BACKGROUND
        scheduler.submit(job())  # the user's queue still has its one place
        with pytest.raises(QueueFull):
            scheduler.submit(job())


def test_foreground_latency_does_not_depend_on_background_work():
    """With every slot held by background jobs, a foreground job starts at the worker's
    next pass: it is the first job the engine starts after its arrival, and it never sits
    in the queue behind them."""
    engine = FakeEngine(pieces=[str(i) for i in range(200)], delay=0.01, slots=2)
    with running(engine) as scheduler:
        titles = [background_job() for _ in range(4)]
        for title in titles:
            scheduler.submit(title)
        wait_started(titles[0])
        wait_started(titles[1])
        user = job()
        scheduler.submit(user)
        wait_started(user)
        assert engine.started[2] is user
        assert scheduler.status().preempted == 1  # one slot was enough
        assert run_to_end(user)[1].finish_reason == "length"
        for title in titles:
            title.cancel()


def test_background_jobs_do_not_change_the_retry_after_estimate():
    with one_slot_taken(max_queue=0) as scheduler:
        with pytest.raises(QueueFull) as alone:
            scheduler.submit(job())
        for _ in range(5):
            scheduler.submit(background_job())
        with pytest.raises(QueueFull) as beside:
            scheduler.submit(job())
        assert beside.value.retry_after == alone.value.retry_after


def test_a_job_accepted_while_the_scheduler_stops_ends_interrupted_not_never():
    with running(FakeEngine(pieces=["a"])) as scheduler:
        pass  # stopped on leaving
    late = job()
    scheduler.submit(late)
    assert late.wait_finished(timeout=2)
    assert run_to_end(late)[1].finish_reason == "interrupted"
