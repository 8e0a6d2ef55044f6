"""Retry-After from the real queue: deterministic inputs, no clocks."""

from __future__ import annotations

import pytest

from engine.cpu.budget import FixedBudget
from engine.scheduling.backlog import RecentDurations, RunningWork, retry_after, seconds_until_free
from engine.scheduling.jobs import Started
from engine.scheduling.scheduler import Scheduler
from engine.scheduling.status import QueueFull
from tests.fakes import FakeEngine, job


def test_the_issue_case_is_the_time_until_a_slot_frees_not_ahead_times_the_mean():
    # 4 slots busy for about a second, 8 waiting, typical chat 2.6 s: the slots free at
    # 1.6 s, the 8 waiting take two rounds of 2.6 s, so a slot is free at 6.8 s.
    running = [RunningWork(elapsed=1.0, tokens_left=400)] * 4
    wait = seconds_until_free(running, waiting=8, slots=4, typical=2.6, tokens_per_second=0)
    assert abs(wait - 6.8) < 1e-9
    assert retry_after(wait) == 7


def test_the_median_ignores_a_few_very_long_chats():
    durations = RecentDurations()
    for seconds in (2.4, 2.6, 2.7, 2.5, 60.0, 90.0, 2.6):
        durations.add(seconds)
    assert durations.typical() == 2.6


def test_the_typical_duration_before_any_chat_ended_is_the_default():
    assert RecentDurations(default=5.0).typical() == 5.0


def test_recent_durations_forget_the_oldest():
    durations = RecentDurations(size=3)
    for seconds in (100.0, 100.0, 1.0, 1.0, 1.0):
        durations.add(seconds)
    assert durations.typical() == 1.0


def test_a_running_chat_cannot_outlast_its_tokens_left():
    # Typical 10 s, but it has 20 tokens left at 40 tokens/s (alone): half a second.
    running = [RunningWork(elapsed=0.0, tokens_left=20)]
    assert seconds_until_free(running, waiting=0, slots=1, typical=10.0, tokens_per_second=40.0) == 0.5


def test_the_speed_is_shared_by_the_running_chats():
    # Two chats at 40 tokens/s together: 20 each; 20 tokens left is 1 s.
    running = [RunningWork(0.0, 20), RunningWork(0.0, 1000)]
    assert seconds_until_free(running, waiting=0, slots=2, typical=10.0, tokens_per_second=40.0) == 1.0


def test_a_chat_older_than_typical_is_expected_to_end_now():
    running = [RunningWork(elapsed=30.0, tokens_left=500)]
    assert seconds_until_free(running, waiting=2, slots=1, typical=3.0, tokens_per_second=0) == 6.0


def test_a_free_slot_means_retry_at_once():
    assert seconds_until_free([], waiting=0, slots=2, typical=3.0, tokens_per_second=0) == 0.0
    assert retry_after(0.0) == 1
    assert retry_after(1.01) == 2


def test_the_scheduler_answers_queue_full_with_the_estimate():
    engine = FakeEngine(pieces=["a"] * 2000, delay=0.05)  # a chat that runs for minutes
    scheduler = Scheduler(engine, max_queue=2, budget=FixedBudget(2))
    for seconds in (1.0, 1.0, 1.0, 100.0):  # the mean (25.75 s) would say 78 s
        scheduler._durations.add(seconds)
    scheduler.start()
    try:
        first = job()
        scheduler.submit(first)
        while not isinstance(first.next_event(timeout=5), Started):
            pass
        scheduler.submit(job())
        scheduler.submit(job())
        with pytest.raises(QueueFull) as full:
            scheduler.submit(job())
        # At most 1 s left of the running chat, then 2 × 1 s for the two ahead.
        assert 2 <= full.value.retry_after <= 3
    finally:
        scheduler.stop()
