"""Hostile request bodies get our JSON errors (never a 500) and store nothing."""

from __future__ import annotations

import json
import uuid

import pytest
from flask.testing import FlaskClient

from shared.openai_schemas import CompletionRequest
from shared.responses import ServiceInfo
from shared.schemas import ChatSettings, GenerationParams, SchemaError
from tests.unit.test_app import assert_error, chat_body, history

SURROGATE = "\ud800"
HUGE = int("1" + "0" * 400)


def raw_post(client: FlaskClient, path: str, text: str, method: str = "POST"):
    return client.open(path, method=method, data=text.encode(), content_type="application/json")


def as_json(body: dict) -> str:
    # json.dumps escapes the lone surrogate as "\ud800", exactly as a hostile client sends it.
    return json.dumps(body)


def new_session(client: FlaskClient) -> str:
    body = chat_body()
    client.post("/api/chat", json=body).get_data()
    return body["session_id"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/chat", chat_body(text=SURROGATE), "content"),
        ("/api/chat", chat_body(system="be " + SURROGATE), "system"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": SURROGATE}]}, "content"),
        ("/v1/chat/completions", {"model": SURROGATE, "messages": [{"role": "user", "content": "Hi"}]}, "model"),
    ],
)
def test_a_lone_surrogate_in_text_is_400_naming_the_field(client: FlaskClient, path: str, body: dict, field: str):
    response = raw_post(client, path, as_json(body))
    assert_error(response, 400, "invalid_request")
    assert f"'{field}'" in response.get_json()["error"]["message"]
    assert history(client) == []


@pytest.mark.parametrize(
    ("patch", "field"), [({"title": "x" + SURROGATE}, "title"), ({"settings": {"system": SURROGATE}}, "system")]
)
def test_a_lone_surrogate_in_a_patch_is_400_and_changes_nothing(client: FlaskClient, patch: dict, field: str):
    sid = new_session(client)
    before = client.get(f"/api/sessions/{sid}").get_json()
    response = raw_post(client, f"/api/sessions/{sid}", as_json(patch), method="PATCH")
    assert_error(response, 400, "invalid_request")
    assert f"'{field}'" in response.get_json()["error"]["message"]
    assert client.get(f"/api/sessions/{sid}").get_json() == before


@pytest.mark.parametrize("key", ["temperature", "top_p", "min_p", "repeat_penalty"])
@pytest.mark.parametrize("path", ["/api/chat", "/v1/chat/completions"])
def test_a_huge_integer_in_a_float_field_is_400(client: FlaskClient, path: str, key: str):
    body = chat_body() if path == "/api/chat" else {"messages": [{"role": "user", "content": "Hi"}]}
    text = as_json(body)[:-1] + f', "{key}": {HUGE}}}'
    response = raw_post(client, path, text)
    assert_error(response, 400, "invalid_request")
    assert f"'{key}'" in response.get_json()["error"]["message"]


def test_a_huge_integer_in_settings_is_400(client: FlaskClient):
    sid = new_session(client)
    response = raw_post(client, f"/api/sessions/{sid}", f'{{"settings": {{"temperature": {HUGE}}}}}', "PATCH")
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "text",
    [
        '{"messages": [], "max_tokens": ' + "9" * 5000 + "}",  # int() refuses over 4,300 digits
        "[" * 10_000 + "]" * 10_000,  # RecursionError in the decoder
        '{"a": ' * 10_000 + "1" + "}" * 10_000,
        '{"title": "\\ud800',  # an unterminated string
        "\xff\xfe",
    ],
    ids=["long-int", "deep-array", "deep-object", "unterminated", "not-utf8"],
)
@pytest.mark.parametrize("path", ["/api/chat", "/v1/chat/completions"])
def test_unparseable_json_is_400_invalid_json(client: FlaskClient, path: str, text: str):
    response = raw_post(client, path, text)
    assert_error(response, 400, "invalid_json")


def test_unparseable_json_in_a_patch_is_400(client: FlaskClient):
    sid = new_session(client)
    response = raw_post(client, f"/api/sessions/{sid}", "[" * 10_000 + "]" * 10_000, method="PATCH")
    assert_error(response, 400, "invalid_json")


def test_schemas_refuse_surrogates_and_huge_numbers_directly():
    with pytest.raises(SchemaError) as error:
        CompletionRequest.from_dict({"messages": [{"role": "user", "content": "a" + SURROGATE}]})
    assert error.value.field == "content"
    with pytest.raises(SchemaError) as error:
        GenerationParams.from_dict({"top_p": HUGE})
    assert error.value.field == "top_p"
    with pytest.raises(SchemaError):
        ChatSettings.from_dict({"system": SURROGATE})
    info = {"service": "s", "label": "S", "model": "m", "model_file": "f", "context_size": 1, "state": "idle"}
    with pytest.raises(SchemaError) as error:  # an unbounded float field: float() would overflow
        ServiceInfo.from_dict({**info, "queue_depth": 0, "max_queue": 1, "tokens_per_second": HUGE})
    assert error.value.field == "tokens_per_second"
    assert GenerationParams.from_dict({"temperature": 2}).temperature == 2.0


def test_valid_non_ascii_text_is_still_accepted(client: FlaskClient):
    body = chat_body(text="Привет 👋")
    assert client.post("/api/chat", json=body).status_code == 200
    assert uuid.UUID(history(client)[0]["id"])
