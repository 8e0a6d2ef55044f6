"""Stop strings (engine.scheduling.stops and the scheduler): the answer ends before the first one."""

from __future__ import annotations

import pytest

from engine.cpu.budget import FixedBudget
from engine.inference.protocol import Prompt
from engine.scheduling.jobs import Job
from engine.scheduling.scheduler import Scheduler
from engine.scheduling.stops import StopFilter
from shared.schemas import GenerationParams
from tests.fakes import FakeEngine, run_to_end


def feed_all(stops: list[str], pieces: list[str]) -> tuple[list[str], bool]:
    stop_filter = StopFilter(stops)
    shown = []
    for piece in pieces:
        text, stopped = stop_filter.feed(piece)
        shown.append(text)
        if stopped:
            return shown, True
    shown.append(stop_filter.flush())
    return shown, False


def test_a_stop_string_in_one_piece_cuts_the_answer_before_it():
    assert feed_all(["\n\n"], ["Hello", " there\n\nmore"]) == (["Hello", " there"], True)


def test_a_stop_string_split_across_pieces_is_held_back_until_it_completes():
    shown, stopped = feed_all(["###"], ["Hi #", "#", "# after"])
    assert stopped and shown == ["Hi ", "", ""] and "".join(shown) == "Hi "


def test_held_text_that_does_not_become_a_stop_string_comes_out():
    shown, stopped = feed_all(["###"], ["Hi #", "#", "!"])
    assert not stopped and shown == ["Hi ", "", "##!", ""]
    shown, stopped = feed_all(["END"], ["The EN"])  # the answer ended otherwise
    assert not stopped and "".join(shown) == "The EN"


def test_the_earliest_of_several_stop_strings_wins():
    assert feed_all(["world", "lo"], ["Hello world"]) == (["Hel"], True)


def test_empty_stop_strings_stop_nothing():
    assert feed_all([""], ["abc"]) == (["abc", ""], False)


@pytest.mark.parametrize(
    ("stop", "tokens", "finish"),
    [
        ((", w",), ["Hello"], "stop"),
        (("xyz",), ["Hello", ",", " world", "!"], "stop"),
        (("!",), ["Hello", ",", " world"], "stop"),
    ],
)
def test_the_scheduler_ends_the_job_at_a_stop_string(stop, tokens, finish):
    engine = FakeEngine(pieces=["Hello", ",", " world", "!"], slots=1)
    scheduler = Scheduler(engine, max_queue=2, budget=FixedBudget(2))
    scheduler.start()
    try:
        job = Job(prompt=Prompt(tokens=(1, 2)), params=GenerationParams(stop=stop))
        scheduler.submit(job)
        shown, result = run_to_end(job)
    finally:
        scheduler.stop()
    assert shown == tokens and result.text == "".join(tokens) and result.finish_reason == finish
    assert engine._chats == {}  # the slot is free again
