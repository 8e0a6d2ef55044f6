"""The HTTP layer against a scripted engine: contract, persistence, errors, safety."""

from __future__ import annotations

import json
import uuid

import pytest
from flask.testing import FlaskClient

from engine.app import create_app, shutdown
from engine.config import ServiceConfig
from tests.conftest import sse_events
from tests.fakes import FakeEngine

ORIGIN = "http://localhost:8080"


def chat_body(session_id: str | None = None, text: str = "Hello there", **extra) -> dict:
    return {
        "session_id": session_id or str(uuid.uuid4()),
        "messages": [{"id": str(uuid.uuid4()), "role": "user", "content": text}],
        **extra,
    }


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "type", "param", "status"}
    assert (error["code"], error["status"]) == (code, status)
    assert "Traceback" not in error["message"]


def history(client: FlaskClient) -> list:
    return client.get("/api/sessions").get_json()["sessions"]


def test_chat_streams_chunks_then_final_event_then_done(client: FlaskClient):
    body = chat_body()
    response = client.post("/api/chat", json=body)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    events = sse_events(response.get_data(as_text=True))
    assert events[-1] == "[DONE]"
    chunks = [e for e in events[:-1] if "choices" in e]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "Hello, world!"
    final = chunks[-1]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["usage"]["completion_tokens"] == 4
    extra = final["ruschat"]
    assert extra["finish_reason"] == "stop" and extra["session_id"] == body["session_id"]
    assert {"ttft_ms", "tokens_per_second", "queue_ms"} <= set(extra["timings"])

    session = client.get(f"/api/sessions/{body['session_id']}").get_json()
    assert [(m["role"], m["content"]) for m in session["messages"]] == [
        ("user", "Hello there"),
        ("assistant", "Hello, world!"),
    ]
    answer = session["messages"][1]
    assert answer["id"] == extra["message_id"]
    assert (answer["model"], answer["finish_reason"], answer["service"]) == ("Fake Model 1B", "stop", "test")


def test_a_chat_joined_midway_is_titled_after_its_opening_question(client: FlaskClient):
    body = chat_body()
    body["messages"] = [
        {"role": "user", "content": "Plan a trip to Oslo"},
        {"role": "assistant", "content": "Sure."},
        {"role": "user", "content": "And the budget?"},
    ]
    client.post("/api/chat", json=body).get_data()
    assert history(client)[0]["title"] == "Plan a trip to Oslo"


def test_system_prompt_and_history_reach_the_engine(client: FlaskClient, engine: FakeEngine):
    body = chat_body(system="Answer in French.")
    body["messages"] = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "un"},
        {"role": "user", "content": "two"},
    ]
    client.post("/api/chat", json=body).get_data()
    assert engine.prompts[-1] == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "un"},
        {"role": "user", "content": "two"},
    ]


def test_length_limit_is_reported(client: FlaskClient):
    events = sse_events(client.post("/api/chat", json=chat_body(max_tokens=2)).get_data(as_text=True))
    assert events[-2]["ruschat"]["finish_reason"] == "length"
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1]) == "Hello,"


def test_generation_failure_is_stored_with_a_reason(client: FlaskClient, engine: FakeEngine):
    engine.fail_with = RuntimeError("boom: secret internals")
    body = chat_body()
    events = sse_events(client.post("/api/chat", json=body).get_data(as_text=True))
    final = events[-2]["ruschat"]
    assert final["finish_reason"] == "error" and final["error"]["code"] == "generation_failed"
    assert "secret internals" not in json.dumps(events)
    stored = client.get(f"/api/sessions/{body['session_id']}").get_json()["messages"]
    assert stored[-1]["finish_reason"] == "error" and stored[-1]["error"]


def test_sessions_rename_and_delete(client: FlaskClient):
    body = chat_body(text="Plan a trip to Bergen")
    client.post("/api/chat", json=body).get_data()
    sid = body["session_id"]
    assert history(client)[0]["title"] == "Plan a trip to Bergen"
    renamed = client.patch(f"/api/sessions/{sid}", json={"title": "Bergen"})
    assert renamed.status_code == 200 and renamed.get_json()["title"] == "Bergen"
    assert client.delete(f"/api/sessions/{sid}").status_code == 204
    assert_error(client.get(f"/api/sessions/{sid}"), 404, "session_not_found")
    assert history(client) == []


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/sessions/{sid}"),
        ("patch", "/api/sessions/{sid}"),
        ("delete", "/api/sessions/{sid}"),
        ("get", "/api/sessions/not-a-uuid"),
    ],
)
def test_unknown_session_is_404(client: FlaskClient, method: str, path: str):
    response = getattr(client, method)(path.format(sid=uuid.uuid4()), json={"title": "x"})
    assert_error(response, 404, "session_not_found")


def test_unknown_route_and_method_use_the_error_shape(client: FlaskClient):
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.put("/api/chat"), 405, "method_not_allowed")


def test_bad_inputs_get_documented_errors_and_store_nothing(client: FlaskClient, config):
    keep = chat_body(text="keep me")
    client.post("/api/chat", json=keep).get_data()
    before = client.get(f"/api/sessions/{keep['session_id']}").get_json()

    assert_error(client.post("/api/chat", data="{not json", content_type="application/json"), 400, "invalid_json")
    assert_error(client.post("/api/chat", json={"session_id": 5, "messages": []}), 400, "invalid_request")
    assert_error(client.post("/api/chat", json=chat_body(max_tokens="many")), 400, "invalid_request")
    assert_error(client.post("/api/chat", json=chat_body(text="x" * (config.max_body_bytes + 1))), 413, "too_large")
    many = chat_body()
    many["messages"] = [{"role": "user", "content": "x"}] * (config.limits.max_messages + 1)
    assert_error(client.post("/api/chat", json=many), 413, "too_large")
    assert_error(client.post("/api/chat", json=chat_body(text="word " * 300)), 422, "context_length_exceeded")
    assert_error(client.patch(f"/api/sessions/{keep['session_id']}", json={"title": ""}), 400, "invalid_request")

    assert [s["id"] for s in history(client)] == [keep["session_id"]]
    assert client.get(f"/api/sessions/{keep['session_id']}").get_json() == before


def test_full_queue_is_503_with_retry_after(client: FlaskClient, engine: FakeEngine, config):
    engine.pieces = ["x"] * 500
    engine.delay = 0.01
    streams = [client.post("/api/chat", json=chat_body(), buffered=False) for _ in range(1 + config.max_queue)]
    try:
        rejected_body = chat_body()
        response = client.post("/api/chat", json=rejected_body)
        assert_error(response, 503, "queue_full")
        assert int(response.headers["Retry-After"]) >= 1
        assert rejected_body["session_id"] not in [s["id"] for s in history(client)]
    finally:
        for stream in streams:
            stream.close()


def test_foreign_host_and_origin_are_refused(client: FlaskClient):
    assert_error(client.get("/api/sessions", headers={"Host": "evil.example:8000"}), 403, "forbidden_host")
    assert_error(
        client.post("/api/chat", json=chat_body(), headers={"Origin": "http://evil.example"}), 403, "forbidden_origin"
    )
    assert history(client) == []
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 200


def test_cors_allows_only_the_web_app(client: FlaskClient):
    preflight = client.options(
        "/api/chat",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    ok = client.get("/api/info", headers={"Origin": ORIGIN})
    assert ok.headers["Access-Control-Allow-Origin"] == ORIGIN
    foreign = client.options(
        "/api/chat", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert foreign.status_code == 403 and "Access-Control-Allow-Origin" not in foreign.headers


def test_info_health_and_models(client: FlaskClient):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    info = client.get("/api/info").get_json()
    assert info["model"] == "Fake Model 1B" and info["state"] == "idle" and info["context_size"] == 256
    assert (info["threads"], info["threads_reason"]) == (0, "idle") and info["max_threads"] >= 1
    models = client.get("/v1/models").get_json()
    assert [m["id"] for m in models["data"]] == ["Fake Model 1B"]


def test_openai_completion_non_stream_and_stream(client: FlaskClient):
    request = {"model": "anything", "messages": [{"role": "user", "content": "hi"}]}
    completion = client.post("/v1/chat/completions", json=request).get_json()
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": "Hello, world!"}
    assert completion["usage"]["total_tokens"] == completion["usage"]["prompt_tokens"] + 4
    events = sse_events(client.post("/v1/chat/completions", json={**request, "stream": True}).get_data(as_text=True))
    assert events[-1] == "[DONE]"
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1]) == "Hello, world!"
    assert history(client) == []  # the OpenAI endpoint is stateless


def test_first_chunk_names_the_answer_and_status_events_follow_the_queue(client: FlaskClient):
    body = client.post("/api/chat", json=chat_body()).get_data(as_text=True)
    first, final = sse_events(body)[0], sse_events(body)[-2]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert first["ruschat"]["message_id"] == final["ruschat"]["message_id"]
    states = [e["state"] for e in sse_events(body, "status")]
    assert states == ["queued", "generating"]


# --------------------------------------------------------------------------- trees


def ask(client: FlaskClient, session_id: str, branch: list[dict], **extra) -> list:
    """POST /api/chat with ``branch`` (root first) and return the chunks."""
    response = client.post("/api/chat", json={"session_id": session_id, "messages": branch, **extra})
    assert response.status_code == 200, response.get_data(as_text=True)
    return sse_events(response.get_data(as_text=True))


def stored(client: FlaskClient, session_id: str) -> list[dict]:
    return client.get(f"/api/sessions/{session_id}").get_json()["messages"]


def test_regenerate_and_edit_make_siblings(client: FlaskClient):
    sid = str(uuid.uuid4())
    question = {"id": str(uuid.uuid4()), "role": "user", "content": "Hello"}
    ask(client, sid, [question])
    ask(client, sid, [question])  # the same question again: a second answer to it
    first, second = [m for m in stored(client, sid) if m["role"] == "assistant"]
    assert first["parent_id"] == second["parent_id"] == question["id"]
    assert first["id"] != second["id"]

    follow = {"id": str(uuid.uuid4()), "role": "user", "content": "And then?"}
    answer = {"id": first["id"], "role": "assistant", "content": first["content"]}
    ask(client, sid, [question, answer, follow])
    edited = {"id": str(uuid.uuid4()), "role": "user", "content": "And after that?"}
    ask(client, sid, [question, answer, edited])
    messages = stored(client, sid)
    by_id = {m["id"]: m for m in messages}
    assert by_id[follow["id"]]["parent_id"] == by_id[edited["id"]]["parent_id"] == first["id"]
    assert by_id[question["id"]]["parent_id"] is None
    assert len(messages) == 7  # 1 question, 2 answers, 2 follow-ups and their 2 answers


@pytest.mark.parametrize("reuse", ["other text", "assistant id"])
def test_a_reused_id_with_other_content_is_a_conflict_and_stores_nothing(client: FlaskClient, reuse: str):
    sid = str(uuid.uuid4())
    question = {"id": str(uuid.uuid4()), "role": "user", "content": "Hello"}
    ask(client, sid, [question])
    before = stored(client, sid)
    answer_id = before[1]["id"]
    last = (
        {**question, "content": "Goodbye"}
        if reuse == "other text"
        else {"id": answer_id, "role": "user", "content": "Hello"}
    )
    history = [question, {"id": answer_id, "role": "assistant", "content": before[1]["content"]}]
    messages = [last] if reuse == "other text" else [*history[:1], last]
    response = client.post("/api/chat", json={"session_id": sid, "messages": messages})
    assert_error(response, 409, "id_conflict")
    assert stored(client, sid) == before


def test_continue_grows_the_stored_answer(client: FlaskClient, engine: FakeEngine):
    sid = str(uuid.uuid4())
    question = {"id": str(uuid.uuid4()), "role": "user", "content": "Hello"}
    ask(client, sid, [question], max_tokens=2)
    answer = stored(client, sid)[1]
    assert (answer["content"], answer["finish_reason"]) == ("Hello,", "length")

    chunks = ask(client, sid, [question, {**answer, "content": "ignored"}], **{"continue": True})
    assert chunks[0]["ruschat"]["message_id"] == answer["id"]
    assert engine.continued[-1] is True
    assert engine.prompts[-1][-1] == {"role": "assistant", "content": "Hello,"}  # the stored text
    grown = stored(client, sid)
    assert len(grown) == 2
    assert (grown[1]["id"], grown[1]["content"], grown[1]["finish_reason"]) == (
        answer["id"],
        "Hello,Hello, world!",
        "stop",
    )


def test_continue_needs_an_answer_stored_here(client: FlaskClient):
    sid = str(uuid.uuid4())
    question = {"id": str(uuid.uuid4()), "role": "user", "content": "Hello"}
    ask(client, sid, [question])
    unknown = {"id": str(uuid.uuid4()), "role": "assistant", "content": "x"}
    response = client.post("/api/chat", json={"session_id": sid, "messages": [question, unknown], "continue": True})
    assert_error(response, 404, "message_not_found")
    wrong_role = client.post("/api/chat", json={"session_id": sid, "messages": [question], "continue": True})
    assert_error(wrong_role, 400, "invalid_request")


# --------------------------------------------------------------------------- per-chat settings


def test_a_chat_keeps_the_settings_it_was_started_with_and_patch_replaces_them(client: FlaskClient):
    body = chat_body(
        system="Answer in French.",
        temperature=0.2,
        min_p=0.1,
        repeat_penalty=1.1,
        max_tokens=3,
        context="strict",
        stop="###",
        seed=7,
        presence_penalty=0.5,
    )
    client.post("/api/chat", json=body).get_data()
    session = client.get(f"/api/sessions/{body['session_id']}").get_json()
    assert session["settings"] == {
        "system": "Answer in French.",
        "max_tokens": 3,
        "temperature": 0.2,
        "top_p": 0.95,
        "min_p": 0.1,
        "repeat_penalty": 1.1,
        "stop": ["###"],
        "seed": 7,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.0,
        "context": "strict",
    }
    started = session["settings_updated_at"]
    assert started > 0

    patched = client.patch(
        f"/api/sessions/{body['session_id']}", json={"settings": {"system": "Be brief.", "temperature": 0}}
    )
    assert patched.status_code == 200
    after = client.get(f"/api/sessions/{body['session_id']}").get_json()
    assert after["settings"]["system"] == "Be brief." and after["settings"]["temperature"] == 0
    assert after["settings_updated_at"] >= started and after["title"] == session["title"]


@pytest.mark.parametrize(
    "patch",
    [
        {},
        {"settings": {"temperature": 9}},
        {"settings": {"repeat_penalty": 0}},
        {"settings": "warm"},
        {"settings": {"context": "forget"}},
    ],
)
def test_bad_patches_are_refused_and_change_nothing(client: FlaskClient, patch: dict):
    body = chat_body()
    client.post("/api/chat", json=body).get_data()
    before = client.get(f"/api/sessions/{body['session_id']}").get_json()
    assert_error(client.patch(f"/api/sessions/{body['session_id']}", json=patch), 400, "invalid_request")
    assert client.get(f"/api/sessions/{body['session_id']}").get_json() == before


def test_shutdown_lets_the_engine_finish_its_background_work(config: ServiceConfig):
    engine = FakeEngine()
    app = create_app(config, engine=engine)
    shutdown(app)
    assert engine.closed


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("TRACE", "/healthz", {"GET", "HEAD", "OPTIONS"}),
        ("PUT", "/api/chat", {"POST", "OPTIONS"}),
    ],
)
def test_405_names_the_allowed_methods(client: FlaskClient, method: str, path: str, allowed: set):
    # Found by the Schemathesis fuzz test: RFC 9110 requires Allow on a 405.
    response = client.open(path, method=method)
    assert_error(response, 405, "method_not_allowed")
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed
