"""/v1/chat/completions against the scripted engine: what OpenAI clients send and expect."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from engine.app import create_app, shutdown
from tests.conftest import sse_events
from tests.fakes import FakeEngine

URL = "/v1/chat/completions"


def ask(**extra) -> dict:
    return {"model": "any", "messages": [{"role": "user", "content": "hi"}], **extra}


def openai_error(response, status: int, code: str, param: str | None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert (error["code"], error["type"], error["param"]) == (code, "invalid_request_error", param)
    assert set(error) >= {"message", "type", "param", "code"}


def test_text_content_parts_are_joined(client: FlaskClient, engine: FakeEngine):
    parts = [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]
    response = client.post(URL, json=ask(messages=[{"role": "user", "content": parts}]))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert engine.prompts[-1] == [{"role": "user", "content": "first\nsecond"}]


def test_other_content_parts_are_refused(client: FlaskClient):
    image = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
    response = client.post(URL, json=ask(messages=[{"role": "user", "content": image}]))
    openai_error(response, 400, "invalid_request", "content")


def test_the_developer_role_is_a_system_message(client: FlaskClient, engine: FakeEngine):
    messages = [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert client.post(URL, json=ask(messages=messages)).status_code == 200
    assert engine.prompts[-1][0] == {"role": "system", "content": "Be brief."}


@pytest.mark.parametrize("key", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_above_the_limit_is_capped_by_the_context(client: FlaskClient, key: str):
    completion = client.post(URL, json=ask(**{key: 4096})).get_json()
    assert completion["choices"][0]["message"]["content"] == "Hello, world!"


def test_unknown_parameters_are_ignored(client: FlaskClient):
    response = client.post(URL, json=ask(user="u-1", parallel_tool_calls=False, service_tier="auto", store=False))
    assert response.status_code == 200


def test_a_prompt_too_long_is_openais_400_context_length_exceeded(client: FlaskClient):
    response = client.post(URL, json=ask(messages=[{"role": "user", "content": "word " * 300}]))
    openai_error(response, 400, "context_length_exceeded", "messages")


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"presence_penalty": 5}, "presence_penalty"),
        ({"frequency_penalty": -2.5}, "frequency_penalty"),
        ({"temperature": 2.5}, "temperature"),
        ({"response_format": {"type": "sound"}}, "type"),
        ({"response_format": "json"}, "response_format"),
        ({"n": 0}, "n"),
        ({"n": 2}, "n"),  # more than the service's slots (1 here)
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"logprobs": "yes"}, "logprobs"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": 7}, "stop"),
        ({"seed": 1.5}, "seed"),
        ({"stream_options": {"include_usage": "yes"}}, "include_usage"),
    ],
)
def test_out_of_range_values_are_refused_as_openai_does(client: FlaskClient, extra: dict, param: str):
    openai_error(client.post(URL, json=ask(**extra)), 400, "invalid_request", param)


def test_the_stream_ends_with_done(client: FlaskClient):
    events = sse_events(client.post(URL, json=ask(stream=True)).get_data(as_text=True))
    assert events[-1] == "[DONE]"


def stream_chunks(client: FlaskClient, **extra) -> list[dict]:
    response = client.post(URL, json=ask(stream=True, **extra))
    assert response.status_code == 200, response.get_data(as_text=True)
    events = sse_events(response.get_data(as_text=True))
    assert events[-1] == "[DONE]"
    return events[:-1]


def streamed_text(chunks: list[dict], index: int = 0) -> str:
    return "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"][0]["index"] == index)


def test_stop_ends_the_answer_before_the_stop_string(client: FlaskClient):
    completion = client.post(URL, json=ask(stop=["world"])).get_json()
    assert completion["choices"][0]["message"]["content"] == "Hello, "
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert completion["usage"]["completion_tokens"] == 3


def test_a_stop_string_split_across_chunks_never_reaches_the_stream(client: FlaskClient):
    chunks = stream_chunks(client, stop=", w")  # "," and " world" are two pieces
    assert streamed_text(chunks) == "Hello"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_stop_seed_and_penalties_reach_the_engine(client: FlaskClient, engine: FakeEngine):
    client.post(URL, json=ask(stop="x", seed=42, presence_penalty=1.5, frequency_penalty=-0.5)).get_data()
    params = engine.params[-1]
    assert (params.stop, params.seed, params.presence_penalty, params.frequency_penalty) == (("x",), 42, 1.5, -0.5)


def test_include_usage_adds_a_usage_chunk_with_no_choices(client: FlaskClient):
    chunks = stream_chunks(client, stream_options={"include_usage": True})
    last = chunks[-1]
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 4
    assert last["usage"]["total_tokens"] == last["usage"]["prompt_tokens"] + 4
    # Clients add up every usage they read: the others carry none.
    assert all(c.get("usage") is None for c in chunks[:-1])
    without = stream_chunks(client)
    assert without[-1]["choices"] and without[-1]["usage"]["completion_tokens"] == 4


def test_response_format_becomes_a_grammar(client: FlaskClient, engine: FakeEngine):
    client.post(URL, json=ask(response_format={"type": "json_object"})).get_data()
    assert engine.params[-1].grammar is not None and "object" in engine.params[-1].grammar
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    client.post(URL, json=ask(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}))
    assert '\\"name\\"' in (engine.params[-1].grammar or "")
    client.post(URL, json=ask(response_format={"type": "text"})).get_data()
    assert engine.params[-1].grammar is None


def test_logprobs_come_in_openais_shape(client: FlaskClient):
    completion = client.post(URL, json=ask(logprobs=True, top_logprobs=2)).get_json()
    content = completion["choices"][0]["logprobs"]["content"]
    assert [e["token"] for e in content] == ["Hello", ",", " world", "!"]
    assert content[0] == {
        "token": "Hello",
        "logprob": -0.25,
        "bytes": list(b"Hello"),
        "top_logprobs": [
            {"token": "alt0", "logprob": -1.0, "bytes": list(b"alt0")},
            {"token": "alt1", "logprob": -2.0, "bytes": list(b"alt1")},
        ],
    }
    assert client.post(URL, json=ask()).get_json()["choices"][0]["logprobs"] is None


def test_logprobs_are_streamed_with_their_text(client: FlaskClient):
    chunks = stream_chunks(client, logprobs=True)
    texts = [c for c in chunks if c["choices"][0]["delta"].get("content")]
    assert [[e["token"] for e in c["choices"][0]["logprobs"]["content"]] for c in texts] == [
        ["Hello"],
        [","],
        [" world"],
        ["!"],
    ]
    assert all(e["top_logprobs"] == [] for c in texts for e in c["choices"][0]["logprobs"]["content"])


@pytest.fixture
def two_slots(config) -> Iterator[FlaskClient]:
    app = create_app(config, engine=FakeEngine(slots=2))
    yield app.test_client()
    shutdown(app)


def test_n_answers_come_as_choices(two_slots: FlaskClient):
    completion = two_slots.post(URL, json=ask(n=2, seed=5)).get_json()
    assert [c["index"] for c in completion["choices"]] == [0, 1]
    assert all(c["message"]["content"] == "Hello, world!" for c in completion["choices"])
    assert completion["usage"]["completion_tokens"] == 8
    assert completion["usage"]["total_tokens"] == completion["usage"]["prompt_tokens"] + 8


def test_n_streams_interleave_by_index(two_slots: FlaskClient):
    chunks = stream_chunks(two_slots, n=2, stream_options={"include_usage": True})
    assert streamed_text(chunks[:-1], 0) == streamed_text(chunks[:-1], 1) == "Hello, world!"
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert sorted(c["choices"][0]["index"] for c in finals) == [0, 1]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 8


def test_api_chat_honours_stop_too(client: FlaskClient):
    body = {"session_id": str(uuid.uuid4()), "messages": [{"role": "user", "content": "Hi"}], "stop": ["!"]}
    client.post("/api/chat", json=body).get_data()
    session = client.get(f"/api/sessions/{body['session_id']}").get_json()
    answer = session["messages"][-1]
    assert (answer["content"], answer["finish_reason"]) == ("Hello, world", "stop")


def test_a_priority_above_zero_runs_in_the_background_and_gives_way(config):
    import threading
    import time

    engine = FakeEngine(pieces=[str(i) for i in range(500)], delay=0.01, slots=1)
    app = create_app(config, engine=engine)
    try:
        client = app.test_client()
        answers = []
        background = threading.Thread(
            target=lambda: answers.append(app.test_client().post(URL, json=ask(priority=1, max_tokens=400)))
        )
        background.start()
        scheduler = app.extensions["ruschat"].scheduler
        deadline = time.monotonic() + 10
        while not engine.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert scheduler.status().background == 1 and scheduler.status().state == "idle"
        user = client.post(URL, json=ask(max_tokens=5))
        background.join(10)
        assert user.status_code == 200 and user.get_json()["choices"][0]["finish_reason"] == "length"
        assert answers[0].status_code == 503 and answers[0].get_json()["error"]["code"] == "preempted"
        assert answers[0].headers["Retry-After"] == "1"
        assert scheduler.status().preempted == 1
        metrics = client.get("/metrics").get_data(as_text=True)
        assert 'ruschat_background_jobs_total{finish_reason="preempted"} 1.0' in metrics
        assert 'ruschat_answers_total{finish_reason="preempted"}' not in metrics
    finally:
        shutdown(app)


@pytest.mark.parametrize("priority", ["1", 1.5, True, 2**31])
def test_priority_must_be_a_whole_number_in_range(client: FlaskClient, priority):
    openai_error(client.post(URL, json=ask(priority=priority)), 400, "invalid_request", "priority")
