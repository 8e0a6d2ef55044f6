"""Service processes on a real PostgreSQL database: the history works as on SQLite, and two
processes writing the same database at once lose nothing and never cut each other's
answers off."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from engine.chat.live import SWEEP_EVERY
from engine.store.storage import STALE_AFTER
from tests.postgres import PostgresServer
from tests.support import Process, chat_body, iter_chunks, read_stream, service_process, wait_until

pytestmark = pytest.mark.integration

LONG = "Write a long story about a lighthouse keeper and a storm, with many details."


@pytest.fixture(scope="module")
def database(postgres: PostgresServer) -> str:
    return postgres.create_database("services")


@pytest.fixture(scope="module")
def pair(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, Process]]:
    """Two processes of one service on one PostgreSQL database (one thread each: the two
    share the machine's two cores)."""
    folder = tmp_path_factory.mktemp("pg-services")
    started: list[Process] = []
    try:
        for name in ("a", "b"):
            process = service_process(
                "backend_qwen", database, folder / f"{name}.log", "--threads", "1", data_dir=folder / name
            )
            started.append(process.start())
        yield started[0], started[1]
    finally:
        for process in started:
            process.stop()


def ask(service: Process, body: dict[str, Any]) -> None:
    with requests.post(service.url + "/api/chat", json=body, stream=True, timeout=120) as response:
        assert response.status_code == 200, response.text
        _, done = read_stream(response)
        assert done


def session(service: Process, session_id: str) -> dict[str, Any]:
    return requests.get(f"{service.url}/api/sessions/{session_id}", timeout=10).json()


def test_chat_history_search_and_delete(pair: tuple[Process, Process]):
    a, b = pair
    body = chat_body("Say one word about the xylophonist Ingrid.", max_tokens=4)
    ask(a, body)
    stored = session(b, body["session_id"])  # the other process reads the same database
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]
    assert stored["messages"][1]["finish_reason"] in ("stop", "length")

    found = requests.get(b.url + "/api/search", params={"q": "xylophon"}, timeout=10).json()["hits"]
    [hit] = [h for h in found if h["role"] == "user"]
    assert hit["message_id"] == body["messages"][-1]["id"]
    assert [hit["snippet"][x:y] for x, y in hit["marks"]] == ["xylophonist"]
    assert hit["rank"] > 0  # PostgreSQL's ranking, not the LIKE fallback's 0

    assert requests.delete(f"{a.url}/api/sessions/{body['session_id']}", timeout=10).status_code == 204
    assert requests.get(f"{b.url}/api/sessions/{body['session_id']}", timeout=10).status_code == 404
    listed = requests.get(b.url + "/api/sessions", timeout=10).json()
    assert body["session_id"] in {t["session_id"] for t in listed["tombstones"]}


def test_two_processes_writing_at_once_lose_nothing(pair: tuple[Process, Process]):
    a, b = pair
    shared = chat_body("Hello")["session_id"]
    bodies = [(service, chat_body(f"Name a colour, number {n}.", max_tokens=4)) for n in range(5) for service in pair]
    # Both processes also add turns to one chat at the same time (a model switch mid-chat).
    bodies += [
        (service, chat_body(f"Say hi {n}.", session_id=shared, max_tokens=4)) for n in range(2) for service in pair
    ]
    errors: list[BaseException] = []

    def run(service: Process, body: dict[str, Any]) -> None:
        try:
            ask(service, body)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=pair_) for pair_ in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert not errors, errors

    listed = {s["id"]: s for s in requests.get(a.url + "/api/sessions", timeout=10).json()["sessions"]}
    for _, body in bodies:
        messages = session(b, body["session_id"])["messages"]
        question = body["messages"][-1]["id"]
        assert question in {m["id"] for m in messages}
        [reply] = [m for m in messages if m["parent_id"] == question]
        assert reply["finish_reason"] in ("stop", "length") and reply["content"]
    assert listed[shared]["message_count"] == 4 * 2
    assert {body["session_id"] for _, body in bodies} <= set(listed)


def test_a_running_answer_is_left_alone_and_taken_over_only_when_its_process_dies(
    pair: tuple[Process, Process], database: str, tmp_path: Path
):
    _, b = pair
    c = service_process("backend_qwen", database, tmp_path / "c.log", "--threads", "1", data_dir=tmp_path).start()
    try:
        body = chat_body(LONG, max_tokens=1500)
        response = requests.post(c.url + "/api/chat", json=body, stream=True, timeout=120)
        chunks = iter_chunks(response)
        answer_id = next(str(x["ruschat"]["message_id"]) for _, x in chunks if x is not None and "ruschat" in x)

        def read() -> None:
            try:
                for _ in chunks:
                    pass
            except requests.RequestException:
                pass  # its process died

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        # Long enough for b to look for dead answers twice after the heartbeat would be stale.
        time.sleep(STALE_AFTER + 2 * SWEEP_EVERY + 1)
        answer = next(m for m in session(b, body["session_id"])["messages"] if m["id"] == answer_id)
        assert answer["finish_reason"] == "generating" and answer["content"]

        os.kill(c.worker_pid(), signal.SIGKILL)  # now its process dies mid-answer
        wait_until(
            lambda: (
                next(m for m in session(b, body["session_id"])["messages"] if m["id"] == answer_id)["finish_reason"]
                == "interrupted"
            ),
            timeout=STALE_AFTER + 4 * SWEEP_EVERY,
            what="the other process to mark the dead process's answer interrupted",
        )
        reader.join(10)
        response.close()
    finally:
        c.stop()
