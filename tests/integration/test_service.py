"""Against a real service process on a free port, running the real bundled model."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket
from openai import OpenAI

from tests.support import (
    Process,
    chat_body,
    content_of,
    iter_chunks,
    read_stream,
    service_process,
    text_of,
    wait_until,
)

pytestmark = pytest.mark.integration

LONG = "Write a long story about a lighthouse keeper and a storm, with many details."


def chat(service: Process, body: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    with requests.post(service.url + "/api/chat", json=body, stream=True, timeout=120) as response:
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/event-stream")
        return read_stream(response)


def info(service: Process) -> dict[str, Any]:
    return requests.get(service.url + "/api/info", timeout=10).json()


def session(service: Process, session_id: str) -> dict[str, Any]:
    return requests.get(f"{service.url}/api/sessions/{session_id}", timeout=10).json()


def start_long_answer(service: Process, body: dict[str, Any]) -> requests.Response:
    response = requests.post(service.url + "/api/chat", json=body, stream=True, timeout=120)
    assert response.status_code == 200
    return response


def test_streamed_chat_arrives_in_chunks_and_ends_with_final_event(each_engine: Process):
    service = each_engine  # in-process, then a gateway to llama-server
    body = chat_body("Name three colours.", max_tokens=48)
    chunks, done = chat(service, body)
    assert done
    content_chunks = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(content_chunks) >= 3
    final = chunks[-1]
    assert final["choices"][0]["finish_reason"] in ("stop", "length")
    assert final["usage"]["completion_tokens"] > 0 and final["usage"]["prompt_tokens"] > 0
    assert final["ruschat"]["timings"]["tokens_per_second"] > 0
    stored = session(service, body["session_id"])["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert stored[1]["id"] == final["ruschat"]["message_id"]
    assert stored[1]["content"] == text_of(chunks)
    assert stored[1]["model"] == info(service)["model"]


def test_second_turn_reuses_the_cached_prefix(service: Process):
    first = chat_body("What is the capital of France?", max_tokens=24)
    chunks, _ = chat(service, first)
    history = first["messages"] + [{"role": "assistant", "content": text_of(chunks)}]
    second = chat_body("And of Italy?", session_id=first["session_id"], history=history, max_tokens=24)
    chunks, _ = chat(service, second)
    timings = chunks[-1]["ruschat"]["timings"]
    assert timings["cached_prompt_tokens"] >= chunks[-1]["usage"]["prompt_tokens"] // 2


def test_openai_client_streams_and_lists_models(service: Process):
    client = OpenAI(base_url=service.url + "/v1", api_key="not-needed", max_retries=0)
    models = [m.id for m in client.models.list()]
    assert models == ["SmolLM2-135M-Instruct Q4_1"]
    stream = client.chat.completions.create(
        model=models[0], stream=True, max_tokens=32, temperature=0, messages=[{"role": "user", "content": "Say hello."}]
    )
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert len([p for p in pieces if p]) >= 2 and "".join(pieces).strip()
    completion = client.chat.completions.create(
        model=models[0], max_tokens=16, temperature=0, messages=[{"role": "user", "content": "Say hello."}]
    )
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def answer_id_of(chunks: Iterator[tuple[float, dict[str, Any] | None]]) -> str:
    """The stored answer's id, from the first chunk of a /api/chat stream."""
    for _arrived, chunk in chunks:
        if chunk is not None and "ruschat" in chunk:
            return str(chunk["ruschat"]["message_id"])
    raise AssertionError("the stream named no answer")


def read_some(chunks: Iterator[tuple[float, dict[str, Any] | None]], pieces: int) -> str:
    """Read until ``pieces`` content chunks arrived; the text they carried."""
    text, seen = "", 0
    for _arrived, chunk in chunks:
        if chunk is not None and content_of(chunk):
            text += content_of(chunk)
            seen += 1
            if seen >= pieces:
                return text
    raise AssertionError("the stream ended early")


def stop(service: Process, session_id: str, answer_id: str) -> dict[str, Any]:
    response = requests.post(f"{service.url}/api/sessions/{session_id}/messages/{answer_id}/stop", timeout=60)
    assert response.status_code == 200, response.text
    return dict(response.json())


def ended(service: Process, session_id: str, answer_id: str) -> dict[str, Any]:
    def answer() -> dict[str, Any] | None:
        message = next(m for m in session(service, session_id)["messages"] if m["id"] == answer_id)
        return message if message["finish_reason"] != "generating" else None

    return dict(wait_until(answer, timeout=120, what="the answer to end"))


def start_and_hang_up(service: Process, body: dict[str, Any]) -> tuple[str, str]:
    """Start an answer, read some of it and go away (a reload, a closed tab); its id and
    the text seen."""
    response = start_long_answer(service, body)
    chunks = iter_chunks(response)
    answer_id = answer_id_of(chunks)
    seen = read_some(chunks, 5)
    response.close()
    return answer_id, seen


def test_a_dropped_connection_still_stores_the_whole_answer(each_engine: Process):
    service = each_engine  # in-process, then a gateway to llama-server
    body = chat_body(LONG, max_tokens=120)
    answer_id, seen = start_and_hang_up(service, body)
    answer = ended(service, body["session_id"], answer_id)
    assert answer["finish_reason"] in ("stop", "length")
    assert answer["content"].startswith(seen) and len(answer["content"]) > len(seen)


def test_reattach_returns_the_text_so_far_then_the_rest(each_engine: Process):
    service = each_engine  # in-process, then a gateway to llama-server
    body = chat_body(LONG, max_tokens=150)
    answer_id, seen = start_and_hang_up(service, body)
    url = f"{service.url}/api/sessions/{body['session_id']}/messages/{answer_id}/stream"
    with requests.get(url, stream=True, timeout=120) as again:
        assert again.headers["Content-Type"].startswith("text/event-stream")
        chunks, done = read_stream(again)
    assert done
    contents = [content_of(c) for c in chunks if content_of(c)]
    assert contents[0].startswith(seen)  # what was generated before, in one piece
    stored = ended(service, body["session_id"], answer_id)
    assert text_of(chunks) == stored["content"]
    assert chunks[-1]["ruschat"]["finish_reason"] == stored["finish_reason"]


def test_stop_keeps_the_partial_answer_and_frees_the_model(each_engine: Process):
    service = each_engine  # in-process, then a gateway to llama-server
    body = chat_body(LONG, max_tokens=1500)
    response = start_long_answer(service, body)
    chunks = iter_chunks(response)
    answer_id = answer_id_of(chunks)
    seen = read_some(chunks, 5)
    answer = stop(service, body["session_id"], answer_id)
    response.close()
    assert answer["finish_reason"] == "cancelled"
    assert answer["content"].startswith(seen) and len(answer["content"]) < 1500 * 3
    status = wait_until(lambda: (s := info(service))["state"] == "idle" and s, timeout=10, what="idle model")
    assert status["queue_depth"] == 0
    chunks, done = chat(service, chat_body("Say yes.", max_tokens=8))
    assert done and chunks[-1]["ruschat"]["finish_reason"] in ("stop", "length")


def test_openai_requests_still_end_when_their_client_hangs_up(each_engine: Process):
    service = each_engine  # in-process, then a gateway to llama-server
    body = {"messages": [{"role": "user", "content": LONG}], "max_tokens": 1500}
    streaming = requests.post(service.url + "/v1/chat/completions", json={**body, "stream": True}, stream=True)
    wait_until(lambda: info(service)["state"] == "busy", what="the model to be busy")
    streaming.close()
    wait_until(lambda: info(service)["state"] == "idle", timeout=10, what="the model to be free")
    # Not streaming: nothing is written until the end, yet the hang-up is seen.
    raw = json.dumps(body).encode()
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as connection:
        connection.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(raw)}\r\n\r\n".encode()
            + raw
        )
        wait_until(lambda: info(service)["state"] == "busy", what="the model to be busy")
    wait_until(lambda: info(service)["state"] == "idle", timeout=10, what="the model to be free")


def timed_chat(service: Process, body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[float]]:
    """The chunks of a streamed chat and the time each content chunk arrived."""
    chunks, times = [], []
    with requests.post(service.url + "/api/chat", json=body, stream=True, timeout=120) as response:
        assert response.status_code == 200
        for arrived, chunk in iter_chunks(response):
            if chunk is not None:
                chunks.append(chunk)
                if content_of(chunk):
                    times.append(arrived)
    return chunks, times


def test_two_concurrent_chats_generate_together(service: Process):
    bodies = [chat_body("Tell me about cats.", max_tokens=60), chat_body("Tell me about dogs.", max_tokens=60)]
    results: list[Any] = [None, None]

    def run(i: int) -> None:
        results[i] = timed_chat(service, bodies[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for (chunks, _), body in zip(results, bodies, strict=True):
        assert text_of(chunks) and chunks[-1]["ruschat"]["finish_reason"] in ("stop", "length")
        assert len(session(service, body["session_id"])["messages"]) == 2
    # Batched, not queued: each chat received text while the other was still streaming.
    (_, first), (_, second) = results
    assert first[0] < second[-1] and second[0] < first[-1]


def test_interleaved_chats_keep_their_cached_prefix(service: Process):
    a = chat_body("What is the capital of France?", max_tokens=16)
    a_chunks, _ = chat(service, a)
    for other in ("Name a large ocean.", "Name a tall mountain."):  # other chats run in between
        chat(service, chat_body(other, max_tokens=16))
    history = a["messages"] + [{"role": "assistant", "content": text_of(a_chunks)}]
    chunks, _ = chat(service, chat_body("And of Spain?", session_id=a["session_id"], history=history, max_tokens=8))
    first = a_chunks[-1]["usage"]
    # The whole first turn is still cached, up to the answer's last token or so.
    reused = chunks[-1]["ruschat"]["timings"]["cached_prompt_tokens"]
    assert reused >= first["prompt_tokens"] + first["completion_tokens"] - 3


def test_health_and_history_answer_while_the_model_generates(each_engine: Process):
    service = each_engine  # in-process, then a gateway to llama-server
    body = chat_body(LONG, max_tokens=1500)
    response = start_long_answer(service, body)
    answer_id = answer_id_of(iter_chunks(response))
    try:
        wait_until(lambda: info(service)["state"] == "busy", what="the model to be busy")
        assert requests.get(service.url + "/healthz", timeout=5).json() == {"status": "ok"}
        assert requests.get(service.url + "/api/sessions", timeout=5).status_code == 200
        assert info(service)["state"] == "busy"  # still generating: we did not wait for it
    finally:
        stop(service, body["session_id"], answer_id)
        response.close()
    wait_until(lambda: info(service)["state"] == "idle", timeout=10, what="idle model")


def test_status_websocket_pushes_busy_and_idle(service: Process):
    ws_url = service.url.replace("http://", "ws://") + "/ws/status"
    ws = websocket.create_connection(ws_url, timeout=30, origin="http://localhost:8080")
    try:
        first = json.loads(ws.recv())
        assert first["model"] == "SmolLM2-135M-Instruct Q4_1" and first["state"] in ("idle", "busy")
        body = chat_body(LONG, max_tokens=200)
        response = start_long_answer(service, body)
        try:
            busy = wait_until(lambda: (m := json.loads(ws.recv()))["state"] == "busy" and m, what="busy status")
            assert busy["queue_depth"] == 0
        finally:
            stop(service, body["session_id"], answer_id_of(iter_chunks(response)))
            response.close()
        wait_until(lambda: json.loads(ws.recv())["state"] == "idle", what="idle status")
    finally:
        ws.close()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(ws_url, timeout=10, origin="http://evil.example")
    assert refused.value.status_code == 403


def test_bad_inputs_get_documented_errors_and_change_nothing(each_engine: Process):
    service = each_engine  # in-process, then a gateway to llama-server
    body = chat_body("Remember me.", max_tokens=8)
    chat(service, body)
    before_list = requests.get(service.url + "/api/sessions", timeout=10).json()
    before = session(service, body["session_id"])
    url = service.url + "/api/chat"

    def error(response: requests.Response, status: int, code: str) -> None:
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
        assert "Traceback" not in response.text

    error(
        requests.post(url, data=b"{oops", headers={"Content-Type": "application/json"}, timeout=10), 400, "invalid_json"
    )
    error(requests.post(url, json={**body, "messages": "hello"}, timeout=10), 400, "invalid_request")
    error(requests.post(url, json={**body, "temperature": "hot"}, timeout=10), 400, "invalid_request")
    error(requests.post(url, data=b"x" * (2 * 1024 * 1024), timeout=30), 413, "too_large")
    error(requests.post(url, json=chat_body("word " * 6000), timeout=30), 422, "context_length_exceeded")
    error(requests.get(f"{service.url}/api/sessions/{uuid.uuid4()}", timeout=10), 404, "session_not_found")
    error(
        requests.patch(f"{service.url}/api/sessions/{uuid.uuid4()}", json={"title": "x"}, timeout=10),
        404,
        "session_not_found",
    )
    error(
        requests.post(url, json=chat_body("hi"), headers={"Host": "attacker.example"}, timeout=10),
        403,
        "forbidden_host",
    )
    error(
        requests.post(url, json=chat_body("hi"), headers={"Origin": "http://attacker.example"}, timeout=10),
        403,
        "forbidden_origin",
    )
    error(
        requests.delete(
            f"{service.url}/api/sessions/{body['session_id']}",
            headers={"Origin": "http://attacker.example"},
            timeout=10,
        ),
        403,
        "forbidden_origin",
    )

    assert requests.get(service.url + "/api/sessions", timeout=10).json() == before_list
    assert session(service, body["session_id"]) == before


def test_history_survives_restart_and_a_crash_mid_answer(tmp_path: Path):
    db = tmp_path / "history.sqlite3"
    first = service_process("backend_tinyllama", db, tmp_path / "first.log").start()
    received: list[tuple[float, str]] = []
    try:
        body = chat_body("Hello!", max_tokens=16)
        chat(first, body)
        crash = chat_body(LONG, max_tokens=1500)
        response = start_long_answer(first, crash)
        chunks = iter_chunks(response)
        answer_id = answer_id_of(chunks)

        def read() -> None:
            try:
                for arrived, chunk in chunks:
                    if chunk is not None and content_of(chunk):
                        received.append((arrived, content_of(chunk)))
            except requests.RequestException:
                pass  # the service died

        reader = threading.Thread(target=read)
        reader.start()
        wait_until(lambda: received and time.perf_counter() - received[0][0] > 3, what="3 s of the answer")
        killed_at = time.perf_counter()
        os.kill(first.worker_pid(), signal.SIGKILL)  # the process holding the model dies mid-answer
        reader.join(30)
    finally:
        first.stop()

    # The database is readable on its own, and holds the question asked before the crash.
    with sqlite3.connect(db) as raw:
        assert raw.execute("pragma integrity_check").fetchone()[0] == "ok"
        contents = [r[0] for r in raw.execute("select content from messages where role = 'user'")]
    assert "Hello!" in contents and LONG in contents

    second = service_process("backend_tinyllama", db, tmp_path / "second.log").start()
    try:
        stored = session(second, body["session_id"])
        assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]
        assert stored["messages"][1]["content"]
        sessions = requests.get(second.url + "/api/sessions", timeout=10).json()["sessions"]
        assert {body["session_id"], crash["session_id"]} <= {s["id"] for s in sessions}
        # The cut-off answer kept what was written up to about a second before the crash. It
        # is marked interrupted once its heartbeat is seconds old (at start, or by the sweep
        # a few seconds later): until then it could be another process's live answer.
        partial = wait_until(
            lambda: (m := session(second, crash["session_id"])["messages"][1])["finish_reason"] == "interrupted" and m,
            timeout=20,
            what="the cut-off answer to be marked interrupted",
        )
        assert partial["id"] == answer_id
        streamed = "".join(text for _, text in received)
        older = "".join(text for arrived, text in received if arrived < killed_at - 1.5)
        assert streamed.startswith(partial["content"])
        assert partial["content"].startswith(older) and len(older) > 0
    finally:
        second.stop()


def test_a_chat_whose_slot_was_taken_comes_back_from_ram(tmp_path: Path):
    """With one slot, another chat evicts the first; its KV cache is parked, then restored."""
    one_slot = service_process("backend_qwen", tmp_path / "h.sqlite3", tmp_path / "one.log", "--parallel", "1").start()
    try:
        a = chat_body("Tell me three facts about owls.", max_tokens=40)
        a_chunks, _ = chat(one_slot, a)
        chat(one_slot, chat_body("Tell me three facts about whales.", max_tokens=40))  # takes the only slot
        history = a["messages"] + [{"role": "assistant", "content": text_of(a_chunks)}]
        again = chat_body("And one more?", session_id=a["session_id"], history=history, max_tokens=16)
        chunks, done = chat(one_slot, again)
        assert done and text_of(chunks)
        first = a_chunks[-1]["usage"]
        reused = chunks[-1]["ruschat"]["timings"]["cached_prompt_tokens"]
        assert reused >= first["prompt_tokens"] + first["completion_tokens"] - 3
    finally:
        one_slot.stop()
