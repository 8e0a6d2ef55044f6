from __future__ import annotations

import dataclasses
import uuid

import pytest

from shared.chunks import Timings, Usage, completion_chunk, final_chunk, parse_chunk
from shared.openai_schemas import CompletionRequest
from shared.responses import ErrorInfo, ServiceInfo
from shared.schemas import (
    ChatRequest,
    GenerationParams,
    Limits,
    Message,
    SchemaError,
    Session,
    SessionPatch,
    check_uuid,
)

SID = str(uuid.uuid4())


def body(**overrides):
    data = {"session_id": SID, "messages": [{"id": str(uuid.uuid4()), "role": "user", "content": "Hi"}]}
    data.update(overrides)
    return data


def test_chat_request_round_trips():
    request = ChatRequest.from_dict(body(max_tokens=64, temperature=0.2, top_p=0.5, system="Be brief."))
    again = ChatRequest.from_dict(request.to_dict())
    assert again == request
    assert request.params.max_tokens == 64 and request.params.temperature == 0.2
    assert request.system == "Be brief."


def test_message_without_id_gets_a_uuid():
    request = ChatRequest.from_dict(body(messages=[{"role": "user", "content": "Hi"}]))
    assert uuid.UUID(request.messages[0].id)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"session_id": "not-a-uuid"}, "session_id"),
        ({"session_id": 7}, "session_id"),
        ({"messages": []}, "messages"),
        ({"messages": "hello"}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "role"),
        ({"messages": [{"role": "user", "content": 5}]}, "content"),
        ({"messages": [{"role": "user"}]}, "content"),
        ({"messages": [{"role": "assistant", "content": "x"}]}, "messages"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": "12"}, "max_tokens"),
        ({"max_tokens": 2**31}, "max_tokens"),
        ({"temperature": True}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
    ],
)
def test_chat_request_rejects_bad_input(overrides, field):
    with pytest.raises(SchemaError) as caught:
        ChatRequest.from_dict(body(**overrides))
    assert caught.value.field == field
    assert caught.value.status == 400


def test_chat_request_rejects_non_object():
    with pytest.raises(SchemaError):
        ChatRequest.from_dict(["not", "an", "object"])


def test_duplicate_message_ids_are_rejected():
    mid = str(uuid.uuid4())
    with pytest.raises(SchemaError, match="unique"):
        ChatRequest.from_dict(
            body(messages=[{"id": mid, "role": "user", "content": "a"}, {"id": mid, "role": "user", "content": "b"}])
        )


def test_too_many_or_too_long_messages_are_413():
    limits = Limits(max_messages=2, max_message_chars=10)
    many = [{"role": "user", "content": "x"}] * 3
    with pytest.raises(SchemaError) as caught:
        ChatRequest.from_dict(body(messages=many), limits)
    assert (caught.value.status, caught.value.code) == (413, "too_large")
    with pytest.raises(SchemaError) as caught:
        ChatRequest.from_dict(body(messages=[{"role": "user", "content": "x" * 11}]), limits)
    assert caught.value.status == 413


def test_completion_request_accepts_openai_names():
    request = CompletionRequest.from_dict(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "max_completion_tokens": 9,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    assert request.params.max_tokens == 9 and request.stream and request.include_usage
    with pytest.raises(SchemaError):
        CompletionRequest.from_dict({"messages": [{"role": "user", "content": "x"}], "stream": "yes"})


def test_message_and_session_round_trip():
    message = Message(
        id=str(uuid.uuid4()),
        session_id=SID,
        role="assistant",
        content="hi",
        created_at=1.5,
        model="M",
        service="qwen",
        finish_reason="cancelled",
    )
    assert Message.from_dict(message.to_dict()) == message
    session = Session(id=SID, title="T", created_at=1.0, updated_at=2.0, message_count=1, messages=(message,))
    assert Session.from_dict(session.to_dict()) == session
    with pytest.raises(SchemaError):
        Message.from_dict({**message.to_dict(), "finish_reason": "exploded"})


def test_session_patch_needs_a_title():
    assert SessionPatch.from_dict({"title": "  Trip  "}).title == "Trip"
    for bad in ({}, {"title": ""}, {"title": 3}):
        with pytest.raises(SchemaError):
            SessionPatch.from_dict(bad)


def test_error_shape_is_pinned():
    info = ErrorInfo(code="session_not_found", message="no such session", status=404)
    assert info.to_dict() == {
        "error": {
            "code": "session_not_found",
            "message": "no such session",
            "type": "not_found_error",
            "param": None,
            "status": 404,
        }
    }
    assert ErrorInfo.from_dict(info.to_dict()) == info
    bad_field = ErrorInfo(code="invalid_request", message="'n' must be at most 4", param="n")
    assert ErrorInfo.from_dict(bad_field.to_dict()) == bad_field


def test_service_info_round_trips_and_validates_state():
    info = ServiceInfo(
        service="qwen",
        label="Capable",
        model="M",
        model_file="m.gguf",
        context_size=4096,
        state="busy",
        queue_depth=2,
        max_queue=8,
        tokens_per_second=91.5,
        version="0.1.0",
        threads=1,
        max_threads=2,
        threads_reason="sharing",
    )
    assert ServiceInfo.from_dict(info.to_dict()) == info
    with pytest.raises(SchemaError):
        ServiceInfo.from_dict({**info.to_dict(), "state": "sleeping"})
    with pytest.raises(SchemaError):
        ServiceInfo.from_dict({**info.to_dict(), "threads_reason": 3})
    assert ServiceInfo.from_dict({**info.to_dict(), "threads_reason": "new"}).threads_reason == "new"
    older = {k: v for k, v in info.to_dict().items() if k not in ("threads", "max_threads", "threads_reason")}
    assert ServiceInfo.from_dict(older).threads_reason == "idle"  # a service of the previous release


def test_stream_chunks_follow_openai_format_and_parse_back():
    chunk = completion_chunk("chatcmpl-1", 10, "M", content="Hel")
    assert chunk == {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 10,
        "model": "M",
        "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}],
    }
    assert parse_chunk(chunk).content == "Hel"

    last = final_chunk(
        "chatcmpl-1",
        10,
        "M",
        finish_reason="cancelled",
        usage=Usage(5, 3),
        timings=Timings(ttft_ms=12.0, tokens_per_second=90.0),
        message_id="mid",
        session_id=SID,
    )
    assert last["choices"][0]["finish_reason"] == "stop"  # OpenAI clients know only stop/length
    assert last["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    delta = parse_chunk(last)
    assert (delta.finish_reason, delta.message_id) == ("cancelled", "mid")
    assert delta.timings is not None and delta.timings.tokens_per_second == 90.0
    assert delta.usage == Usage(5, 3)


def test_parse_chunk_reads_errors():
    delta = parse_chunk(ErrorInfo("queue_full", "busy", 503).to_dict())
    assert delta.finish_reason == "error" and delta.error is not None and delta.error.code == "queue_full"


def test_context_policy_is_validated_in_requests_and_settings():
    from shared.schemas import ChatSettings

    request = ChatRequest.from_dict(body(context="summary"))
    assert request.context == "summary" and ChatRequest.from_dict(request.to_dict()) == request
    assert ChatRequest.from_dict(body()).context is None
    assert ChatSettings.from_dict({}).context == "window"
    for bad in ("forget", 3):
        with pytest.raises(SchemaError) as caught:
            ChatRequest.from_dict(body(context=bad))
        assert caught.value.field == "context"
        with pytest.raises(SchemaError):
            ChatSettings.from_dict({"context": bad})


def test_answers_carry_their_context_and_sessions_their_summaries():
    from shared.chunks import ContextInfo
    from shared.history import merge_sessions
    from shared.schemas import Summary

    answer = Message(
        id=str(uuid.uuid4()),
        session_id=SID,
        role="assistant",
        content="hi",
        created_at=1.5,
        prompt_tokens=1234,
        window_from=str(uuid.uuid4()),
    )
    assert set(answer.to_dict()) == {
        "id",
        "session_id",
        "role",
        "content",
        "created_at",
        "model",
        "service",
        "finish_reason",
        "error",
        "parent_id",
        "prompt_tokens",
        "window_from",
    }
    assert Message.from_dict(answer.to_dict()) == answer
    summary = Summary(str(uuid.uuid4()), SID, answer.id, "Earlier: greetings.", 2.0, "M", "tinyllama")
    session = Session(id=SID, title="T", created_at=1.0, updated_at=2.0, messages=(answer,), summaries=(summary,))
    assert Session.from_dict(session.to_dict()) == session
    assert "summaries" not in session.to_dict(with_messages=False)
    other = Summary(str(uuid.uuid4()), SID, answer.id, "Later.", 3.0)
    merged = merge_sessions([session], [dataclasses.replace(session, summaries=(summary, other))])
    assert merged[0].summaries == (summary, other)

    context = ContextInfo(used=1234, size=4096, policy="summary", visible_from=answer.id, summary_id=summary.id)
    chunk = final_chunk("c", 1, "m", finish_reason="stop", usage=Usage(), timings=Timings(), context=context)
    assert chunk["ruschat"]["context"] == {
        "used": 1234,
        "size": 4096,
        "policy": "summary",
        "visible_from": answer.id,
        "summary_id": summary.id,
        "note": None,
    }
    assert parse_chunk(chunk).context == context


def test_integer_fields_take_integral_floats_as_json_schema_does():
    # Found by the Schemathesis fuzz test: 64.0 is an integer to JSON Schema (and JSON).
    assert GenerationParams.from_dict({"max_tokens": 64.0}).max_tokens == 64
    for bad in (64.5, float("inf"), float("nan"), True):
        with pytest.raises(SchemaError):
            GenerationParams.from_dict({"max_tokens": bad})


@pytest.mark.parametrize("options", [False, "", [], 0])
def test_stream_options_must_be_an_object(options):
    # Found by the Schemathesis fuzz test: falsy non-objects were taken for "no options".
    with pytest.raises(SchemaError) as error:
        CompletionRequest.from_dict({"messages": [{"role": "user", "content": "Hi"}], "stream_options": options})
    assert error.value.field == "stream_options"


@pytest.mark.parametrize(
    "value", ["", "{" + SID + "}", "urn:uuid:" + SID, SID.replace("-", ""), SID + "\n", "-" + SID.replace("-", "")]
)
def test_ids_are_uuids_in_their_standard_form_only(value):
    # Found by the Schemathesis fuzz test: uuid.UUID also takes braces, URNs and stray hyphens,
    # forms the documented pattern (UUID_PATTERN) refuses.
    with pytest.raises(SchemaError):
        check_uuid(value, "id")
    assert check_uuid(SID.upper(), "id") == SID
