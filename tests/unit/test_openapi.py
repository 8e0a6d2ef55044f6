"""The OpenAPI document: exactly the app's routes, valid OpenAPI 3.1, bounds as the code."""

from __future__ import annotations

import re
import uuid

import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from engine.http.openapi_schemas import NUMBER_RANGES
from shared.schemas import (
    DEFAULT_LIMITS,
    MAX_STOP_CHARS,
    MAX_STOPS,
    MAX_TOKENS_ASKED,
    ChatRequest,
    GenerationParams,
    SchemaError,
    SessionPatch,
)
from tests.unit.test_app import chat_body

DOCUMENTED = {"get", "post", "patch", "delete", "put"}


def app_routes(app: Flask) -> set[tuple[str, str]]:
    """(path in OpenAPI form, method) of every rule; HEAD and OPTIONS come with Flask."""
    routes = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routes |= {(path, m.lower()) for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}
    return routes


@pytest.fixture
def spec(client: FlaskClient) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.is_json
    return response.get_json()


def test_the_document_is_valid_openapi_3_1(spec: dict):
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # raises on any violation of the OpenAPI 3.1 schema


def test_the_document_lists_exactly_the_apps_routes(app: Flask, spec: dict):
    documented = {(path, method) for path, item in spec["paths"].items() for method in item if method in DOCUMENTED}
    assert documented == app_routes(app)


def test_every_operation_documents_the_errors_any_request_can_get(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in DOCUMENTED:
                assert {"403", "405"} <= set(operation["responses"]), (path, method)


def test_documented_objects_match_what_the_service_returns(client: FlaskClient, spec: dict):
    """Real answers of the scripted service validate against their documented schemas."""
    body = chat_body()
    client.post("/api/chat", json=body).get_data()
    sid = body["session_id"]
    answer = client.get(f"/api/sessions/{sid}").get_json()["messages"][1]
    cases = [
        ("/healthz", "get", client.get("/healthz")),
        ("/api/info", "get", client.get("/api/info")),
        ("/api/sessions", "get", client.get("/api/sessions")),
        ("/api/sessions/{session_id}", "get", client.get(f"/api/sessions/{sid}")),
        ("/api/sessions/{session_id}", "patch", client.patch(f"/api/sessions/{sid}", json={"title": "T"})),
        (
            "/api/sessions/{session_id}/messages/{message_id}/stop",
            "post",
            client.post(f"/api/sessions/{sid}/messages/{answer['id']}/stop"),
        ),
        ("/v1/models", "get", client.get("/v1/models")),
        (
            "/v1/chat/completions",
            "post",
            client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "Hi"}]}),
        ),
        ("/api/sessions/{session_id}", "get", client.get(f"/api/sessions/{uuid.uuid4()}")),
        ("/api/chat", "post", client.post("/api/chat", data="nope")),
    ]
    for path, method, response in cases:
        declared = spec["paths"][path][method]["responses"][str(response.status_code)]
        if "$ref" in declared:
            declared = spec["components"]["responses"][declared["$ref"].rsplit("/", 1)[1]]
        schema = declared["content"]["application/json"]["schema"]
        jsonschema.validate(
            response.get_json(), {**schema, "components": spec["components"]}, format_checker=jsonschema.FormatChecker()
        )


@pytest.mark.parametrize("name", sorted(NUMBER_RANGES))
def test_documented_number_ranges_are_the_ones_enforced(name: str):
    low, high = NUMBER_RANGES[name]
    assert getattr(GenerationParams.from_dict({name: low}), name) == low
    assert getattr(GenerationParams.from_dict({name: high}), name) == high
    for outside in (low - 0.01, high + 0.01):
        with pytest.raises(SchemaError):
            GenerationParams.from_dict({name: outside})


def test_documented_limits_are_the_ones_enforced(spec: dict):
    chat = spec["components"]["schemas"]["ChatRequest"]
    request = chat["properties"]
    assert request["max_completion_tokens"]["maximum"] == MAX_TOKENS_ASKED
    assert chat["else"]["properties"]["max_tokens"]["maximum"] == MAX_TOKENS_ASKED
    # max_tokens counts only without max_completion_tokens, as documented.
    both = {"max_tokens": MAX_TOKENS_ASKED + 1, "max_completion_tokens": 8}
    assert GenerationParams.from_dict(both).max_tokens == 8
    GenerationParams.from_dict({"max_tokens": MAX_TOKENS_ASKED})
    with pytest.raises(SchemaError):
        GenerationParams.from_dict({"max_tokens": MAX_TOKENS_ASKED + 1})
    stop = request["stop"]["anyOf"]
    assert stop[1]["maxItems"] == MAX_STOPS and stop[0]["maxLength"] == MAX_STOP_CHARS
    GenerationParams.from_dict({"stop": ["x" * MAX_STOP_CHARS] * MAX_STOPS})
    for bad in (["x"] * (MAX_STOPS + 1), "x" * (MAX_STOP_CHARS + 1)):
        with pytest.raises(SchemaError):
            GenerationParams.from_dict({"stop": bad})
    assert request["messages"]["maxItems"] == DEFAULT_LIMITS.max_messages
    many = chat_body()
    many["messages"] = [{"role": "user", "content": "x"}] * (DEFAULT_LIMITS.max_messages + 1)
    with pytest.raises(SchemaError):
        ChatRequest.from_dict(many)
    title = spec["components"]["schemas"]["SessionPatch"]["properties"]["title"]
    assert title["maxLength"] == DEFAULT_LIMITS.max_title_chars
    with pytest.raises(SchemaError):
        SessionPatch.from_dict({"title": "x" * (DEFAULT_LIMITS.max_title_chars + 1)})


def test_operation_ids_are_the_flask_views(app: Flask, spec: dict):
    views = {
        (re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), method.lower()): rule.endpoint.rsplit(".", 1)[-1]
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    ids = {
        (path, m): op["operationId"]
        for path, item in spec["paths"].items()
        for m, op in item.items()
        if m in DOCUMENTED
    }
    assert ids == views
    for item in spec["paths"].values():  # every link names a documented operation
        for operation in (op for m, op in item.items() if m in DOCUMENTED):
            for response in operation["responses"].values():
                for link in response.get("links", {}).values():
                    assert link["operationId"] in ids.values()
