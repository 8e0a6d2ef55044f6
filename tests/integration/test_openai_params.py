"""The OpenAI parameters, through the official ``openai`` client, on the real model."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
import requests
from openai import OpenAI

from tests.support import Process, chat_body, read_stream, text_of

pytestmark = pytest.mark.integration

QUESTION = [{"role": "user", "content": "Tell me about the sea."}]


@pytest.fixture(scope="module")
def client(service: Process) -> Iterator[OpenAI]:
    with OpenAI(base_url=service.url + "/v1", api_key="not-needed", max_retries=0, timeout=120) as client:
        yield client


def ask(client: OpenAI, **extra):
    return client.chat.completions.create(model="any", messages=extra.pop("messages", QUESTION), **extra)


def test_the_same_seed_gives_the_same_answer(client: OpenAI):
    first, again, other = (ask(client, seed=s, temperature=1, max_tokens=24) for s in (7, 7, 8))
    assert first.choices[0].message.content == again.choices[0].message.content
    assert first.choices[0].message.content != other.choices[0].message.content


def test_stop_ends_the_answer_before_the_stop_string(client: OpenAI):
    free = ask(client, temperature=0, max_tokens=24).choices[0].message.content
    word = free.split()[2]  # a stop string the model is sure to write
    stopped = ask(client, temperature=0, max_tokens=24, stop=[word, "zzzz"]).choices[0]
    assert stopped.finish_reason == "stop" and word not in stopped.message.content
    assert free.startswith(stopped.message.content)
    streamed = ask(client, temperature=0, max_tokens=24, stop=word, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == stopped.message.content


def test_json_object_answers_are_json(client: OpenAI):
    messages = [{"role": "user", "content": "Return a JSON object with keys name and age for Tom, aged 30."}]
    answer = ask(client, messages=messages, temperature=0, max_tokens=100, response_format={"type": "json_object"})
    assert answer.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(answer.choices[0].message.content), dict)


def test_json_schema_answers_follow_the_schema(client: OpenAI):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    answer = ask(
        client,
        messages=[{"role": "user", "content": "Invent a person."}],
        temperature=0.7,
        seed=3,
        max_tokens=60,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
    )
    person = json.loads(answer.choices[0].message.content)
    assert set(person) == {"name", "age"}
    assert isinstance(person["name"], str) and isinstance(person["age"], int)


def test_logprobs_are_log_probabilities_with_sorted_alternatives(client: OpenAI):
    answer = ask(client, temperature=0, max_tokens=8, logprobs=True, top_logprobs=3).choices[0]
    content = answer.logprobs.content
    assert "".join(entry.token for entry in content) == answer.message.content
    for entry in content:
        assert entry.logprob <= 0 and bytes(entry.bytes).decode("utf-8", "replace") == entry.token
        tops = [t.logprob for t in entry.top_logprobs]
        assert len(tops) == 3 and tops == sorted(tops, reverse=True) and tops[0] >= entry.logprob - 1e-4
        assert entry.top_logprobs[0].token == entry.token  # greedy: the likeliest was taken
    streamed = ask(client, temperature=0, max_tokens=8, logprobs=True, stream=True)
    tokens = [e.token for c in streamed if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    assert tokens == [entry.token for entry in content]


def test_n_gives_several_answers(client: OpenAI):
    answer = ask(client, n=2, temperature=1, seed=11, max_tokens=16)
    assert [c.index for c in answer.choices] == [0, 1]
    assert all(c.message.content for c in answer.choices)
    streamed = list(ask(client, n=2, temperature=1, seed=11, max_tokens=16, stream=True))
    texts = {0: "", 1: ""}
    for chunk in streamed:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    assert texts == {c.index: c.message.content for c in answer.choices}


def test_include_usage_ends_with_a_usage_chunk(client: OpenAI):
    chunks = list(ask(client, max_tokens=8, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + chunks[-1].usage.completion_tokens


def test_a_prompt_too_long_is_context_length_exceeded(client: OpenAI):
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, max_tokens=8, messages=[{"role": "user", "content": "sea " * 7000}])
    assert caught.value.code == "context_length_exceeded"


def test_what_clients_send_on_every_request_is_accepted(client: OpenAI):
    answer = ask(
        client,
        max_tokens=4096,
        temperature=0,
        messages=[
            {"role": "developer", "content": "Answer in one word."},
            {"role": "user", "content": [{"type": "text", "text": "Say"}, {"type": "text", "text": "yes."}]},
        ],
        presence_penalty=0.5,
        frequency_penalty=0.5,
    )
    assert answer.choices[0].message.content


def test_api_chat_takes_seed_and_stop_too(service: Process):
    def answer(**extra) -> tuple[str, str]:
        body = chat_body("Tell me about the sea.", temperature=1, seed=5, max_tokens=24, **extra)
        with requests.post(service.url + "/api/chat", json=body, stream=True, timeout=120) as response:
            chunks, done = read_stream(response)
        assert done
        return text_of(chunks), chunks[-1]["ruschat"]["finish_reason"]

    text, finish = answer()
    assert answer() == (text, finish)  # another chat, the same seed: the same words
    word = text.split()[3]
    stopped, finish = answer(stop=word)
    assert finish == "stop" and word not in stopped and text.startswith(stopped)
