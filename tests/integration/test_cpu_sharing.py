"""Both real services generating at once share the cores, and take them back afterwards."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
import websocket

from engine.cpu.budget import usable_cores
from tests.support import InfoWatch, Process, chat_body, read_stream, service_process, text_of, wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(usable_cores() < 2, reason="sharing needs at least two cores"),
]

LONG = "Write a long story about a lighthouse keeper and a storm, with many details."


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Process]]:
    """The fast and the capable service, meeting in a CPU folder of their own."""
    folder = tmp_path_factory.mktemp("sharing")
    cores = str(usable_cores())
    services = [
        service_process(
            module,
            folder / f"{module}.sqlite3",
            folder / f"{module}.log",
            "--threads",
            cores,
            "--cpu-dir",
            str(folder / "cpu"),
        )
        for module in ("backend_tinyllama", "backend_qwen")
    ]
    started: list[Process] = []
    try:
        for service in services:
            started.append(service.start())
        yield started
    finally:
        for service in started:
            service.stop()


def info(service: Process) -> dict[str, Any]:
    return requests.get(service.url + "/api/info", timeout=10).json()


def answer(service: Process, max_tokens: int) -> tuple[list[dict[str, Any]], bool]:
    body = chat_body(LONG, max_tokens=max_tokens)
    with requests.post(service.url + "/api/chat", json=body, stream=True, timeout=60) as response:
        assert response.status_code == 200, response.text
        return read_stream(response)


def test_two_services_generating_at_once_share_the_cores_and_both_finish(pair: list[Process]):
    cores = usable_cores()
    for service in pair:
        assert (info(service)["threads"], info(service)["threads_reason"], info(service)["max_threads"]) == (
            0,
            "idle",
            cores,
        )

    with InfoWatch([s.url for s in pair]) as watch, ThreadPoolExecutor(max_workers=2) as pool:
        started = time.monotonic()
        results = list(pool.map(lambda s: answer(s, 64), pair))
        elapsed = time.monotonic() - started

    # Liveness, not speed: before the budget, two services at once took minutes for this.
    assert elapsed < 60, f"two 64-token answers at once took {elapsed:.0f} s"
    for chunks, done in results:
        assert done and text_of(chunks)
        assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    both_busy = [infos for infos in watch.seen if all(i["state"] == "busy" for i in infos)]
    assert both_busy, "the two answers never overlapped"
    shared = [infos for infos in both_busy if all(i["threads_reason"] == "sharing" for i in infos)]
    seen = [[(i["threads"], i["threads_reason"]) for i in infos] for infos in both_busy]
    assert shared, f"no moment where both reported sharing: {seen}"
    for infos in shared:
        assert all(1 <= i["threads"] < cores for i in infos)
        assert sum(i["threads"] for i in infos) <= cores


def runs_on_every_core(service: Process) -> bool:
    """Whether the service reported all cores, alone, at some moment of one answer."""
    with InfoWatch([service.url]) as watch:
        answer(service, 96)
    return any(i["threads"] == usable_cores() and i["threads_reason"] == "alone" for (i,) in watch.seen)


def test_the_full_thread_count_returns_when_the_other_service_is_idle(pair: list[Process]):
    fast, capable = pair
    wait_until(lambda: info(fast)["state"] == "idle", what="the other service idle")
    # A few tries: on a shared machine a moment of foreign load may hold the count down.
    wait_until(lambda: runs_on_every_core(capable), timeout=60, what="a generation on every core")


def test_the_status_socket_reports_the_threads(pair: list[Process]):
    socket = websocket.create_connection(
        pair[0].url.replace("http://", "ws://") + "/ws/status", timeout=10, origin="http://localhost:8080"
    )
    try:
        pushed = json.loads(socket.recv())
    finally:
        socket.close()
    assert (pushed["threads"], pushed["threads_reason"], pushed["max_threads"]) == (0, "idle", usable_cores())


def test_a_killed_service_frees_its_share_at_once(pair: list[Process]):
    """A service killed mid-answer leaves no lock behind: the other gets every core."""
    fast, capable = pair
    answering = threading.Thread(target=lambda: answer_or_cut(fast), daemon=True)
    answering.start()
    wait_until(lambda: info(fast)["state"] == "busy", what="the fast service generating")
    os.kill(fast.worker_pid(), signal.SIGKILL)
    answering.join(30)
    wait_until(lambda: runs_on_every_core(capable), timeout=60, what="every core after the kill")


def answer_or_cut(service: Process) -> None:
    try:
        answer(service, 1500)
    except requests.RequestException:
        pass  # its worker was killed mid-answer: that is the point
