from __future__ import annotations

import pytest

from shared.sse import ServerSentEvent, SSEDecoder

STREAM = (
    'data: {"a":1}\n\n'
    ": keep-alive\n\n"
    "event: status\n"
    'data: {"state":"queued"}\n\n'
    "data: line one\r\n"
    "data: line two\r\n\r\n"
    "id: 7\ndata:no-space\n\n"
    "data: [DONE]\n\n"
)
EXPECTED = [
    ServerSentEvent('{"a":1}'),
    ServerSentEvent('{"state":"queued"}', event="status"),
    ServerSentEvent("line one\nline two"),
    ServerSentEvent("no-space", id="7"),
    ServerSentEvent("[DONE]", id="7"),
]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(STREAM)])
def test_events_decode_the_same_whatever_the_chunking(size: int):
    decoder = SSEDecoder()
    events = []
    for start in range(0, len(STREAM), size):
        events += decoder.feed(STREAM[start : start + size])
    assert events == EXPECTED


def test_an_unfinished_event_is_held_back():
    decoder = SSEDecoder()
    assert decoder.feed("data: partial") == []
    assert decoder.feed("\n") == []
    assert decoder.feed("\n") == [ServerSentEvent("partial")]


def test_event_name_without_data_is_dropped():
    assert SSEDecoder().feed("event: status\n\ndata: x\n\n") == [ServerSentEvent("x")]
