"""engine.chat.window: what of a long chat the model sees, with the scripted engine (a token
per word plus two per message, so what fits is exact)."""

from __future__ import annotations

import pytest

from engine.chat.window import answer_reserve, block_starts, conversation, fit
from engine.inference.protocol import PromptTooLong
from shared.schemas import ChatMessage, GenerationParams, Summary, new_id
from tests.fakes import FakeEngine

PARAMS = GenerationParams(max_tokens=512)


def turns(n: int, words: int = 6) -> list[ChatMessage]:
    """``n`` questions and their answers, then a last question: ``2n + 1`` messages."""
    messages = []
    for turn in range(n + 1):
        messages.append(ChatMessage(new_id(), "user", " ".join(f"q{turn}w{i}" for i in range(words))))
        if turn < n:
            messages.append(ChatMessage(new_id(), "assistant", " ".join(f"a{turn}w{i}" for i in range(words))))
    return messages


def test_a_chat_that_fits_is_sent_whole_after_its_system_prompt():
    engine = FakeEngine(context_size=256)
    messages = turns(3)
    window = fit(engine, messages, system="Be brief.", params=PARAMS)
    assert (window.start, window.visible_from, window.summary) == (0, None, None)
    assert engine.prompts == [conversation(messages, "Be brief.")]
    assert engine.prompts[0][0] == {"role": "system", "content": "Be brief."}
    assert window.info(256).used == window.prompt.n_tokens


def test_the_window_keeps_the_newest_messages_that_fit_leaving_room_for_the_answer():
    engine = FakeEngine(context_size=256)
    messages = turns(40)
    window = fit(engine, messages, system="Be brief.", params=PARAMS)
    reserve = answer_reserve(PARAMS, 256)
    assert reserve == 64  # a quarter of the context, not the 512 asked for
    assert window.start > 0 and messages[window.start].role == "user"
    assert window.visible_from == messages[window.start].id
    assert window.prompt.n_tokens <= 256 - reserve
    # Not a message more than needed: from the block before, it would not fit.
    starts = block_starts(engine, messages)
    earlier = starts[starts.index(window.start) - 1]
    assert (
        FakeEngine(context_size=10**6).prepare(conversation(messages[earlier:], "Be brief.")).n_tokens > 256 - reserve
    )


def test_the_window_start_holds_still_until_it_must_move_and_then_moves_a_block():
    engine = FakeEngine(context_size=256)
    room = 256 - answer_reserve(PARAMS, 256)
    messages = turns(60)
    starts, moves = [], 0
    for turn in range(1, 61):
        branch = messages[: 2 * turn + 1]
        window = fit(engine, branch, system=None, params=PARAMS)
        assert window.prompt.n_tokens <= room and branch[window.start].role == "user"
        if starts:
            previous = starts[-1]
            still_fits = engine.prepare(conversation(branch[previous:], None)).n_tokens <= room
            # Same start as long as it fits: the KV cache keeps the window's prefix.
            assert (window.start == previous) == still_fits
            assert window.start >= previous
            moves += window.start != previous
        starts.append(window.start)
    assert starts[0] == 0 and starts[-1] > 0
    # 14 tokens a turn, 64-token blocks: a move every 4 turns or so, not every turn.
    assert 0 < moves <= 60 // 4 + 1
    assert len(set(starts)) == moves + 1


def test_a_question_too_long_for_the_context_is_still_422():
    engine = FakeEngine(context_size=256)
    messages = [*turns(2)[:-1], ChatMessage(new_id(), "user", "word " * 300)]
    with pytest.raises(PromptTooLong):
        fit(engine, messages, system=None, params=PARAMS)


def test_a_question_that_fits_only_without_the_answer_reserve_is_answered_alone():
    engine = FakeEngine(context_size=256)
    messages = [*turns(2)[:-1], ChatMessage(new_id(), "user", "word " * 220)]
    window = fit(engine, messages, system=None, params=PARAMS)
    assert window.start == len(messages) - 1


def test_strict_sends_everything_or_refuses():
    engine = FakeEngine(context_size=256)
    assert fit(engine, turns(3), system=None, params=PARAMS, policy="strict").start == 0
    with pytest.raises(PromptTooLong):
        fit(engine, turns(40), system=None, params=PARAMS, policy="strict")


def test_continuing_an_answer_keeps_its_question():
    engine = FakeEngine(context_size=256)
    messages = turns(40)[:-1]  # ends with an answer to continue
    window = fit(engine, messages, system=None, params=PARAMS, continue_last=True)
    assert 0 < window.start <= len(messages) - 2 and messages[window.start].role == "user"
    assert engine.continued[-1] is True


def summary_of(dropped, text="They talked about words."):
    return Summary(new_id(), "0" * 8 + "-0000-0000-0000-" + "0" * 12, dropped[-1].id, text, 1.0)


def test_summary_takes_the_place_of_what_was_left_out_within_the_room_kept_for_it():
    engine = FakeEngine(context_size=256)
    messages = turns(40)
    asked = []

    def summarize(dropped):
        asked.append(list(dropped))
        return summary_of(dropped), None

    window = fit(
        engine, messages, system="Be brief.", params=PARAMS, policy="summary", summarize=summarize, summary_room=30
    )
    assert asked == [messages[: window.start]]
    assert window.summary is not None and window.note is None
    system = engine.prompts[-1][0]
    assert system["role"] == "system" and system["content"].startswith(
        "Be brief.\n\nSummary of the earlier conversation:"
    )
    assert window.prompt.n_tokens <= 256 - answer_reserve(PARAMS, 256)
    assert window.info(256).summary_id == window.summary.id
    plain = fit(FakeEngine(context_size=256), messages, system="Be brief.", params=PARAMS)
    assert window.start >= plain.start  # the summary's room comes out of the window


def test_without_a_summary_the_window_goes_on_and_says_why():
    engine = FakeEngine(context_size=256)
    window = fit(
        engine,
        turns(40),
        system=None,
        params=PARAMS,
        policy="summary",
        summarize=lambda dropped: (None, "the summariser is unreachable"),
        summary_room=30,
    )
    assert window.start > 0 and window.summary is None
    assert window.note == "the summariser is unreachable"
    assert window.info(256).policy == "summary"
