"""The page's answer statistics and keyboard shortcuts, run under CPython (the browser runs the same files)."""

from __future__ import annotations

import pytest

from shared.chunks import Timings, Usage, final_chunk, parse_chunk
from webapp.page.shortcuts import shortcut_for
from webapp.page.state.answer_stats import AnswerStats


def test_the_final_chunk_gives_the_answers_statistics():
    chunk = final_chunk(
        "c1",
        0,
        "m",
        finish_reason="stop",
        usage=Usage(prompt_tokens=120, completion_tokens=48),
        timings=Timings(queue_ms=0.0, ttft_ms=182.4, total_ms=1530.0, tokens_per_second=35.26, cached_prompt_tokens=96),
        message_id="a1",
    )
    stats = AnswerStats.from_delta(parse_chunk(chunk))
    assert stats is not None
    assert stats.parts() == [
        "48 tokens",
        "35.3 tokens/s",
        "first token after 182 ms",
        "1.53 s in all",
        "prompt 120 tokens, 96 cached",
    ]
    assert stats.text() == " · ".join(stats.parts())


def test_a_content_chunk_has_no_statistics_and_unknown_figures_are_left_out():
    content = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}
    assert AnswerStats.from_delta(parse_chunk(content)) is None
    assert AnswerStats(completion_tokens=3).parts() == ["3 tokens"]
    assert AnswerStats(queue_ms=2500, ttft_ms=40).parts() == ["first token after 40 ms", "2.50 s queued"]
    assert AnswerStats(queue_ms=12, ttft_ms=40).parts() == ["first token after 40 ms"]
    assert AnswerStats().text() == ""


KEYS = {"ctrl": False, "meta": False, "shift": False, "alt": False, "typing": False, "generating": False}


@pytest.mark.parametrize(
    ("key", "pressed", "command"),
    [
        ("O", {"ctrl": True, "shift": True}, "new-chat"),
        ("o", {"meta": True, "shift": True, "typing": True}, "new-chat"),
        ("o", {"ctrl": True}, ""),  # the browser's Open file
        ("Escape", {"generating": True, "typing": True}, "stop"),
        ("Escape", {}, ""),
        ("Escape", {"shift": True}, "focus-input"),
        ("Escape", {"shift": True, "generating": True}, "focus-input"),
        ("/", {}, "focus-input"),
        ("/", {"typing": True}, ""),  # a slash typed into a field is text
        ("/", {"ctrl": True}, ""),
        ("Enter", {}, ""),
        ("Enter", {"ctrl": True, "shift": True, "typing": True}, "regenerate"),
        ("Enter", {"ctrl": True, "shift": True, "generating": True}, ""),
        ("Enter", {"ctrl": True}, ""),
        ("k", {"ctrl": True, "typing": True}, "search"),
        ("K", {"meta": True}, "search"),
        ("k", {"ctrl": True, "shift": True}, ""),
        ("k", {"typing": True}, ""),
    ],
)
def test_shortcuts(key: str, pressed: dict[str, bool], command: str):
    assert shortcut_for(key, **{**KEYS, **pressed}) == command
