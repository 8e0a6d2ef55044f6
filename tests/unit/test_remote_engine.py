"""The remote engine against a scripted OpenAI-compatible upstream on a free loopback port."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, Response, request
from werkzeug.serving import make_server

from engine.cpu.budget import FixedBudget
from engine.inference.protocol import Prompt, PromptTooLong
from engine.inference.remote import RemoteEngine, request_body
from engine.scheduling.jobs import Job, Token
from engine.scheduling.scheduler import Scheduler
from engine.scheduling.status import QueueFull
from shared.chunks import logprobs_of
from shared.schemas import GenerationParams
from tests.fakes import run_to_end


@dataclass
class Upstream:
    """What the scripted server answers, and what it saw."""

    url: str = ""
    pieces: list[str] = field(default_factory=lambda: ["Hello", ",", " world"])
    delay: float = 0.0
    status: int = 200
    retry_after: str | None = None
    bodies: list[dict[str, Any]] = field(default_factory=list)
    logprobs: bool = False
    """Send each piece's log-probability (as llama-server does, one token a chunk)."""
    closed: threading.Event = field(default_factory=threading.Event)
    """Set when a stream's client went away before its end."""


def scripted(upstream: Upstream) -> Flask:
    app = Flask("upstream")

    @app.get("/v1/models")
    def models() -> Any:
        return {"object": "list", "data": [{"id": "tiny.gguf", "meta": {"n_ctx_train": 2048}}]}

    @app.get("/props")
    def props() -> Any:
        return {"default_generation_settings": {"n_ctx": 1024}}

    @app.post("/tokenize")
    def tokenize() -> Any:
        return {"tokens": list(range(len(request.get_json()["content"].split())))}

    @app.post("/v1/chat/completions")
    def completions() -> Any:
        upstream.bodies.append(request.get_json())
        if upstream.status != 200:
            headers = {"Retry-After": upstream.retry_after} if upstream.retry_after else {}
            return {"error": {"message": "no slot free", "type": "unavailable"}}, upstream.status, headers

        def chunks() -> Iterator[str]:
            ended = False
            try:
                for piece in upstream.pieces:
                    time.sleep(upstream.delay)
                    choice: dict[str, Any] = {"index": 0, "delta": {"content": piece}}
                    if upstream.logprobs:
                        sampled = {"token": piece, "logprob": -0.5, "bytes": list(piece.encode())}
                        top = [sampled, {"token": "x", "logprob": -2.0}]
                        choice["logprobs"] = {"content": [{**sampled, "bytes": None, "top_logprobs": top}]}
                    yield f"data: {json.dumps({'choices': [choice]})}\n\n"
                final = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                yield f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n"
                ended = True
            finally:
                if not ended:
                    upstream.closed.set()

        return Response(chunks(), mimetype="text/event-stream")

    return app


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    script = Upstream()
    server = make_server("127.0.0.1", 0, scripted(script), threaded=True)
    script.url = f"http://127.0.0.1:{server.server_port}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield script
    finally:
        server.shutdown()


@pytest.fixture
def engine(upstream: Upstream) -> Iterator[RemoteEngine]:
    remote = RemoteEngine(upstream.url, slots=2)
    try:
        yield remote
    finally:
        remote.close()


@pytest.fixture
def scheduler(engine: RemoteEngine) -> Iterator[Scheduler]:
    running = Scheduler(engine, max_queue=2, budget=FixedBudget(1))
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_it_learns_the_model_and_the_context_each_slot_has(engine: RemoteEngine):
    assert engine.model_name == "tiny.gguf"
    assert engine.context_size == 1024  # llama-server's per-slot n_ctx, not the training context
    assert engine.degraded() is None


def test_prompts_are_counted_by_the_upstream_tokenizer(engine: RemoteEngine):
    prompt = engine.prepare([{"role": "user", "content": "one two three"}])
    assert prompt.messages == (("user", "one two three"),)
    assert prompt.n_tokens == 16 + 8 + 3
    with pytest.raises(PromptTooLong):
        engine.prepare([{"role": "user", "content": "word " * 1020}])


def test_an_answer_streams_through_the_scheduler(engine: RemoteEngine, scheduler: Scheduler, upstream: Upstream):
    prompt = engine.prepare([{"role": "user", "content": "Hi"}])
    job = Job(prompt=prompt, params=GenerationParams(max_tokens=40, temperature=0.3, seed=7))
    scheduler.submit(job)
    tokens, finished = run_to_end(job)
    assert "".join(tokens) == "Hello, world" and finished.finish_reason == "stop"
    sent = upstream.bodies[-1]
    assert sent["stream"] is True and sent["model"] == "tiny.gguf"
    assert sent["messages"] == [{"role": "user", "content": "Hi"}]
    assert sent["max_tokens"] == 40 and sent["temperature"] == 0.3 and sent["seed"] == 7


def test_stop_closes_the_upstream_stream(engine: RemoteEngine, scheduler: Scheduler, upstream: Upstream):
    upstream.pieces, upstream.delay = ["word "] * 200, 0.02
    job = Job(prompt=engine.prepare([{"role": "user", "content": "Go"}]), params=GenerationParams(max_tokens=400))
    scheduler.submit(job)
    assert job.next_event(timeout=5) is not None
    deadline = time.monotonic() + 5
    while not job.text() and time.monotonic() < deadline:
        time.sleep(0.02)
    job.cancel()
    assert upstream.closed.wait(5), "the upstream never saw the stream closed"
    assert job.wait_finished(5).finish_reason == "cancelled"


def test_a_busy_upstream_turns_new_requests_away_with_its_retry_after(
    engine: RemoteEngine, scheduler: Scheduler, upstream: Upstream
):
    upstream.status, upstream.retry_after = 503, "7"
    job = Job(prompt=engine.prepare([{"role": "user", "content": "Hi"}]), params=GenerationParams(max_tokens=8))
    scheduler.submit(job)
    _, finished = run_to_end(job)
    assert finished.finish_reason == "error" and "busy" in (finished.error or "")
    with pytest.raises(QueueFull) as refused:
        scheduler.submit(Job(prompt=job.prompt, params=job.params))
    assert 5 <= refused.value.retry_after <= 7


def test_an_upstream_refusal_ends_the_answer_with_its_message(engine: RemoteEngine, upstream: Upstream):
    upstream.status = 400
    key = object()
    engine.start(key, engine.prepare([{"role": "user", "content": "Hi"}]), GenerationParams(max_tokens=8))
    deadline, steps = time.monotonic() + 5, []
    while not steps and time.monotonic() < deadline:
        steps = engine.step()
    [(got, step)] = steps
    assert got is key and step.finish_reason == "error"
    assert "HTTP 400" in (step.error or "") and "no slot free" in (step.error or "")


def test_an_unreachable_upstream_is_reported_and_estimated():
    remote = RemoteEngine("http://127.0.0.1:9/v1", context_size=512)  # port 9: discard, never listening
    try:
        assert "did not answer" in (remote.degraded() or "")
        assert remote.model_name == "remote model" and remote.context_size == 512
        assert remote.prepare([{"role": "user", "content": "x" * 30}]).n_tokens == 16 + 8 + 11
    finally:
        remote.close()


def test_a_continued_answer_asks_the_upstream_to_resume_it():
    prompt = Prompt(tokens=(), messages=(("user", "Hi"), ("assistant", "Hel")), count=30, continue_last=True)
    body = request_body("m", prompt, GenerationParams(), 100)
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["messages"][-1] == {"role": "assistant", "content": "Hel"}


def test_log_probabilities_are_asked_for_and_passed_on(engine: RemoteEngine, scheduler: Scheduler, upstream: Upstream):
    upstream.logprobs = True
    job = Job(prompt=engine.prepare([{"role": "user", "content": "Hi"}]), params=GenerationParams(top_logprobs=2))
    scheduler.submit(job)
    run_to_end(job)
    sent = upstream.bodies[-1]
    assert (sent["logprobs"], sent["top_logprobs"]) == (True, 2)
    entries = [entry for event in job.reader().available() if isinstance(event, Token) for entry in event.logprobs]
    assert [e.token for e in entries] == ["Hello", ",", " world"]  # each with its text
    assert all(e.logprob == -0.5 and bytes(e.bytes) == e.token.encode() for e in entries)  # bytes: null -> UTF-8
    assert [t.token for t in entries[0].top] == ["Hello", "x"] and entries[0].top[1].bytes == tuple(b"x")


def test_without_log_probabilities_asked_none_are_requested(engine: RemoteEngine, upstream: Upstream):
    job = Job(prompt=engine.prepare([{"role": "user", "content": "Hi"}]), params=GenerationParams())
    body = request_body(engine.model_name, job.prompt, job.params, 16)
    assert "logprobs" not in body and "top_logprobs" not in body


def test_malformed_log_probabilities_are_skipped():
    entries = [{"token": "a", "logprob": "high"}, {"token": 3}, None, {"token": "b", "logprob": -1}]
    choice = {"logprobs": {"content": entries}}
    assert [(e.token, e.logprob) for e in logprobs_of(choice)] == [("b", -1.0)]
    assert logprobs_of({"logprobs": None}) == [] and logprobs_of({"logprobs": {"content": "x"}}) == []
