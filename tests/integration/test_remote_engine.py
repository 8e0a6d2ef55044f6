"""A service whose answers come from a real OpenAI-compatible upstream: llama-cpp-python's
own server, started here on a free port with the bundled model."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support import (
    KINDS,
    Process,
    chat_body,
    gateway,
    iter_chunks,
    read_stream,
    start_upstream,
    text_of,
    wait_until,
)

LONG = "Count from 1 to 1000, one number per line."


@pytest.fixture(scope="module", params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def upstream(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    proc = start_upstream(kind, tmp_path_factory.mktemp("upstream") / "upstream.log")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def service(kind: str, upstream: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    proc = gateway(kind, tmp_path_factory.mktemp("gateway"), upstream)
    try:
        yield proc
    finally:
        proc.stop()


def first_words(chunks: Iterator[tuple[float, dict | None]]) -> dict:
    """Read the stream up to its first chunk with text; that chunk."""
    seen = []
    for _, chunk in chunks:
        if chunk is not None and text_of([chunk]):
            return chunk
        seen.append(chunk)
    raise AssertionError(f"the answer ended without text: {seen}")


def stored(service: Process, session_id: str) -> list[dict]:
    return requests.get(f"{service.url}/api/sessions/{session_id}", timeout=10).json()["messages"]


def test_info_names_the_upstream_model(service: Process, upstream: Process):
    info = requests.get(f"{service.url}/api/info", timeout=10).json()
    served = requests.get(f"{upstream.url}/v1/models", timeout=10).json()["data"][0]["id"]
    assert info["engine"] == "remote" and info["degraded"] is None
    assert info["model"] == served and info["context_size"] == 2048


def test_log_probabilities_come_from_the_upstream(kind: str, service: Process):
    # Early in the module: after the chats and the stopped answer below, llama-cpp-python's
    # server (0.3.36) was seen to answer a logprobs request with empty tokens only (its own
    # stream, read raw: "token": "" eight times), which is not ours to fix.
    body = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8, "logprobs": True}
    answer = requests.post(f"{service.url}/v1/chat/completions", json={**body, "top_logprobs": 2}, timeout=120)
    assert answer.status_code == 200
    choice = answer.json()["choices"][0]
    entries = choice["logprobs"]["content"]
    assert entries, choice
    assert "".join(e["token"] for e in entries) == choice["message"]["content"]
    assert all(e["logprob"] <= 0 for e in entries)
    # Passed on as the upstream sends them: llama-cpp-python's server adds the sampled token
    # to the likeliest two when it is not one of them.
    extra = 1 if kind == "llama-cpp-python" else 0
    assert all(2 <= len(e["top_logprobs"]) <= 2 + extra for e in entries)
    assert all(bytes(e["bytes"]).decode(errors="replace") == e["token"] for e in entries)


def test_an_answer_streams_from_the_upstream_and_is_stored(service: Process):
    body = chat_body("What is the capital of France? Answer in one word.", max_tokens=24)
    with requests.post(f"{service.url}/api/chat", json=body, stream=True, timeout=120) as response:
        assert response.status_code == 200
        chunks, done = read_stream(response)
    assert done and text_of(chunks).strip()
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    question, answer = stored(service, body["session_id"])
    assert question["content"] == body["messages"][0]["content"]
    assert answer["content"] == text_of(chunks) and answer["finish_reason"] in ("stop", "length")

    # The next turn sends the whole history upstream and is stored under the same chat.
    history = [{"id": m["id"], "role": m["role"], "content": m["content"]} for m in (question, answer)]
    follow = chat_body("And of Italy?", session_id=body["session_id"], history=history, max_tokens=24)
    with requests.post(f"{service.url}/api/chat", json=follow, stream=True, timeout=120) as response:
        chunks, done = read_stream(response)
    assert done and len(stored(service, body["session_id"])) == 4


def test_stop_frees_the_upstream_at_once(kind: str, service: Process, upstream: Process):
    """Both upstreams answer one request at a time: had the stopped answer gone on
    upstream (up to 1,900 more tokens, at least 12 s at the fastest rate measured here),
    the next request would wait for all of it."""
    body = chat_body(LONG, max_tokens=1900)
    with requests.post(f"{service.url}/api/chat", json=body, stream=True, timeout=120) as response:
        chunks = iter_chunks(response)
        answer_id = next(c for _, c in chunks if c is not None and "ruschat" in c)["ruschat"]["message_id"]
        first_words(chunks)
        stop = requests.post(f"{service.url}/api/sessions/{body['session_id']}/messages/{answer_id}/stop", timeout=30)
        assert stop.status_code == 200 and stop.json()["finish_reason"] == "cancelled"
    if kind == "llama-server":  # it says so itself
        slots = lambda: requests.get(f"{upstream.url}/slots", timeout=10).json()  # noqa: E731
        wait_until(lambda: not any(slot["is_processing"] for slot in slots()), 10, "llama-server's slot to be free")
    started = time.monotonic()
    quick = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
    assert requests.post(f"{upstream.url}/v1/chat/completions", json=quick, timeout=60).status_code == 200
    assert time.monotonic() - started < 8, "the upstream was still generating the stopped answer"


@pytest.mark.parametrize("kind", KINDS)
def test_an_upstream_killed_mid_answer_keeps_it_interrupted_and_degrades_the_service(kind: str, tmp_path: Path):
    upstream = start_upstream(kind, tmp_path / "upstream.log")
    service = None
    try:
        service = gateway(kind, tmp_path, upstream)
        body = chat_body(LONG, max_tokens=1900)
        with requests.post(f"{service.url}/api/chat", json=body, stream=True, timeout=120) as response:
            chunks = iter_chunks(response)
            seen = [first_words(chunks)]
            assert upstream.proc is not None
            upstream.proc.send_signal(signal.SIGKILL)
            rest = [c for _, c in chunks if c is not None]
        assert rest[-1]["ruschat"]["finish_reason"] == "interrupted"  # Continue resumes it
        answer = stored(service, body["session_id"])[-1]
        assert answer["finish_reason"] == "interrupted" and answer["content"].startswith(text_of(seen))
        degraded = wait_until(
            lambda: requests.get(f"{service.url}/api/info", timeout=10).json()["degraded"], 15, "degraded"
        )
        assert upstream.url.removeprefix("http://") in degraded
    finally:
        if service is not None:
            service.stop()
        upstream.stop()
