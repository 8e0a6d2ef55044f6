"""Long chats over HTTP with the scripted engine: the context policies, the context info in
the stream, what is stored for the page, summaries and their fallback."""

from __future__ import annotations

import dataclasses
import socket
import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.app import create_app, shutdown
from engine.config import ServiceConfig
from tests.conftest import sse_events
from tests.fakes import FakeEngine


def long_branch(turns: int) -> list[dict]:
    messages = []
    for turn in range(turns):
        messages.append({"id": str(uuid.uuid4()), "role": "user", "content": f"question {turn} " + "word " * 5})
        messages.append({"id": str(uuid.uuid4()), "role": "assistant", "content": f"answer {turn} " + "word " * 5})
    messages.append({"id": str(uuid.uuid4()), "role": "user", "content": "and now?"})
    return messages


def chunks_of(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [e for e in sse_events(response.get_data(as_text=True)) if isinstance(e, dict) and "choices" in e]


def test_strict_still_refuses_a_chat_too_long(client: FlaskClient):
    body = {"session_id": str(uuid.uuid4()), "messages": long_branch(30), "context": "strict"}
    response = client.post("/api/chat", json=body)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "context_length_exceeded"


def test_an_unknown_policy_is_400(client: FlaskClient):
    body = {"session_id": str(uuid.uuid4()), "messages": long_branch(1), "context": "forget"}
    response = client.post("/api/chat", json=body)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_request"


def test_window_answers_a_long_chat_and_says_what_the_model_saw(client: FlaskClient, engine: FakeEngine):
    sid, branch = str(uuid.uuid4()), long_branch(30)
    chunks = chunks_of(client.post("/api/chat", json={"session_id": sid, "messages": branch}))
    first, final = chunks[0]["ruschat"]["context"], chunks[-1]["ruschat"]["context"]
    assert first == final
    assert first["size"] == 256 and first["policy"] == "window" and first["summary_id"] is None
    seen = engine.prompts[-1]
    assert first["used"] == len(" ".join(m["content"] for m in seen).split()) + 2 * len(seen)
    start = next(i for i, m in enumerate(branch) if m["id"] == first["visible_from"])
    assert start > 0 and branch[start]["role"] == "user"
    assert seen == [{"role": m["role"], "content": m["content"]} for m in branch[start:]]

    stored = client.get(f"/api/sessions/{sid}").get_json()
    answer = stored["messages"][-1]
    assert (answer["prompt_tokens"], answer["window_from"]) == (first["used"], first["visible_from"])
    assert stored["summaries"] == []


def test_a_short_chat_sees_everything(client: FlaskClient):
    sid = str(uuid.uuid4())
    chunks = chunks_of(client.post("/api/chat", json={"session_id": sid, "messages": long_branch(1)}))
    assert chunks[0]["ruschat"]["context"]["visible_from"] is None
    assert client.get(f"/api/sessions/{sid}").get_json()["messages"][-1]["window_from"] is None


def test_summary_by_the_service_itself_is_stored_sent_and_reused(client: FlaskClient, engine: FakeEngine):
    sid, branch = str(uuid.uuid4()), long_branch(30)
    body = {"session_id": sid, "messages": branch, "context": "summary"}
    context = chunks_of(client.post("/api/chat", json=body))[0]["ruschat"]["context"]
    assert context["summary_id"] is not None and context["note"] is None
    summaries = client.get(f"/api/sessions/{sid}").get_json()["summaries"]
    assert [s["id"] for s in summaries] == [context["summary_id"]]
    start = next(i for i, m in enumerate(branch) if m["id"] == context["visible_from"])
    assert summaries[0]["through_id"] == branch[start - 1]["id"]
    assert summaries[0]["content"] == "Hello, world!"  # what the scripted model says
    assert engine.prompts[-1][0] == {"role": "system", "content": "Summary of the earlier conversation: Hello, world!"}

    # Next turn: the same start, so the same summary, and the model is not asked again.
    prepared = len(engine.prompts)
    answer = client.get(f"/api/sessions/{sid}").get_json()["messages"][-1]
    question = {"id": str(uuid.uuid4()), "role": "user", "content": "more?"}
    again = [*branch, {"id": answer["id"], "role": "assistant", "content": answer["content"]}, question]
    context2 = chunks_of(client.post("/api/chat", json={**body, "messages": again}))[0]["ruschat"]["context"]
    assert (context2["visible_from"], context2["summary_id"]) == (context["visible_from"], context["summary_id"])
    assert not any(p[0]["content"].startswith("Summarise") for p in engine.prompts[prepared:])
    assert len(client.get(f"/api/sessions/{sid}").get_json()["summaries"]) == 1


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def unreachable_app(config: ServiceConfig, engine: FakeEngine) -> Iterator[Flask]:
    config = dataclasses.replace(config, summarizer=f"http://127.0.0.1:{closed_port()}", summarizer_timeout=2.0)
    app = create_app(config, engine=engine)
    yield app
    shutdown(app)


def test_an_unreachable_summarizer_falls_back_to_the_window_and_says_so(unreachable_app: Flask):
    client = unreachable_app.test_client()
    sid = str(uuid.uuid4())
    body = {"session_id": sid, "messages": long_branch(30), "context": "summary"}
    chunks = chunks_of(client.post("/api/chat", json=body))
    context = chunks[-1]["ruschat"]["context"]
    assert context["policy"] == "summary" and context["summary_id"] is None
    assert context["visible_from"] is not None and "unreachable" in context["note"]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Hello, world!"
    assert client.get(f"/api/sessions/{sid}").get_json()["summaries"] == []
