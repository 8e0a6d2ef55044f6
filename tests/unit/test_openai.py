"""/v1/chat/completions against the scripted engine: what OpenAI clients send and expect."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

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
