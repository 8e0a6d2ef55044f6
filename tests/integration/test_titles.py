"""Titles written by the model, against real services: the capable service asks the fast
one, which writes at low priority and gives way to users' requests."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from engine.chat.titles import strip_echo
from tests.support import Process, chat_body, iter_chunks, read_stream, service_process, wait_until

WAIT = 120
"""Seconds a title may take on a loaded 2-core machine (it is written in well under one alone)."""


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, Process]]:
    folder = tmp_path_factory.mktemp("titles")
    # One slot on the fast service: a user's request finds it taken by a background job.
    common = ("--titles", "on", "--cpu-dir", str(folder / "cpu"))
    fast = service_process(
        "backend_tinyllama", folder / "fast.sqlite3", folder / "fast.log", *common, "--parallel", "1"
    )
    fast.start()
    try:
        capable = service_process(
            "backend_qwen", folder / "capable.sqlite3", folder / "capable.log", *common, "--summarizer", fast.url
        )
        capable.start()
        try:
            yield fast, capable
        finally:
            capable.stop()
    finally:
        fast.stop()


def metric(service: Process, name: str, labels: str = "") -> float:
    """A counter or gauge of ``GET /metrics`` (0 if not there yet)."""
    text = requests.get(service.url + "/metrics", timeout=10).text
    found = re.search(rf"^{re.escape(name + (('{' + labels + '}') if labels else ''))} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def titles_done(service: Process) -> float:
    return sum(metric(service, "ruschat_titles_total", f'outcome="{o}"') for o in ("stored", "kept", "failed"))


def ask(service: Process, text: str, **extra: Any) -> dict[str, Any]:
    body = chat_body(text, max_tokens=12, **extra)
    with requests.post(service.url + "/api/chat", json=body, stream=True, timeout=WAIT) as response:
        assert response.status_code == 200, response.text
        assert read_stream(response)[1]
    return body


def session(service: Process, session_id: str) -> dict[str, Any]:
    return requests.get(f"{service.url}/api/sessions/{session_id}", timeout=10).json()


def test_the_fast_model_titles_a_chat_after_its_first_answer(services: tuple[Process, Process]):
    fast, capable = services
    before = metric(fast, "ruschat_background_jobs_total", 'finish_reason="stop"') + metric(
        fast, "ruschat_background_jobs_total", 'finish_reason="length"'
    )
    body = ask(capable, "How do I bake sourdough bread at home?")
    sid = body["session_id"]
    titled = wait_until(lambda: session(capable, sid)["title_source"] == "model" or None, WAIT, "a model title")
    assert titled
    chat = session(capable, sid)
    title = chat["title"]
    assert title and len(title) <= 60 and "\n" not in title and '"' not in title and "*" not in title
    assert strip_echo(title) == title, title  # no "This conversation is about", no instruction
    # The capable service asked the fast one, which wrote it as a background job.
    after = metric(fast, "ruschat_background_jobs_total", 'finish_reason="stop"') + metric(
        fast, "ruschat_background_jobs_total", 'finish_reason="length"'
    )
    assert after > before
    assert metric(capable, "ruschat_titles_total", 'outcome="stored"') >= 1
    listed = [s for s in requests.get(capable.url + "/api/sessions", timeout=10).json()["sessions"] if s["id"] == sid]
    assert [(s["title"], s["title_source"]) for s in listed] == [(title, "model")]

    # Search finds the chat by its title: the hit names its first message, the title is the snippet.
    hits = requests.get(capable.url + "/api/search", params={"q": title}, timeout=10).json()["hits"]
    [hit] = [h for h in hits if h["session_id"] == sid and h["snippet"] == title]
    assert hit["message_id"] == body["messages"][0]["id"] and hit["role"] == "user" and hit["marks"]

    # A second question brings no second title.
    done = titles_done(capable)
    answer = chat["messages"][1]
    history = body["messages"] + [{"id": answer["id"], "role": "assistant", "content": answer["content"]}]
    ask(capable, "And without yeast?", session_id=sid, history=history, parent_id=answer["id"])
    time.sleep(1)  # give a wrongly started title job the time to show
    assert titles_done(capable) == done and session(capable, sid)["title"] == title


def test_a_title_the_user_set_is_never_replaced(services: tuple[Process, Process]):
    fast, capable = services
    done = titles_done(capable)
    early = ask(capable, "What is the tallest mountain in Africa?")["session_id"]
    # Renamed at once: before the model's title can come (or, if it came first, over it).
    renamed = requests.patch(f"{capable.url}/api/sessions/{early}", json={"title": "Kilimanjaro"}, timeout=10)
    assert renamed.json()["title_source"] == "user"
    wait_until(lambda: titles_done(capable) > done or None, WAIT, "the title job to end")
    assert (session(capable, early)["title"], session(capable, early)["title_source"]) == ("Kilimanjaro", "user")

    late = ask(fast, "Which planet has the most moons?")["session_id"]
    wait_until(lambda: session(fast, late)["title_source"] == "model" or None, WAIT, "a model title")
    requests.patch(f"{fast.url}/api/sessions/{late}", json={"title": "Moons"}, timeout=10)
    again = ask(fast, "Which planet has the most moons?", session_id=late)  # a regenerated first answer
    assert again["session_id"] == late
    time.sleep(1)
    assert (session(fast, late)["title"], session(fast, late)["title_source"]) == ("Moons", "user")


def test_a_users_request_takes_the_slot_of_a_background_one(services: tuple[Process, Process]):
    """A title is a background request (``priority: 1``): here one made long on purpose holds
    the fast service's only slot when a user's chat arrives, and gives it up at once."""
    fast, _ = services
    preempted = metric(fast, "ruschat_background_jobs_total", 'finish_reason="preempted"')
    body = {
        "messages": [{"role": "user", "content": "Count from 1 to 300, separated by commas."}],
        "max_tokens": 600,
        "temperature": 0,
        "stream": True,
        "priority": 1,
    }
    ended: list[dict[str, Any]] = []
    first_token = threading.Event()

    def background() -> None:
        with requests.post(fast.url + "/v1/chat/completions", json=body, stream=True, timeout=WAIT) as response:
            for _, chunk in iter_chunks(response):
                if chunk and chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
                    first_token.set()
                if chunk and chunk.get("ruschat", {}).get("finish_reason"):
                    ended.append(chunk)

    thread = threading.Thread(target=background)
    thread.start()
    try:
        assert first_token.wait(WAIT), "the background request never started"
        assert metric(fast, "ruschat_background_active") == 1
        assert requests.get(fast.url + "/api/info", timeout=10).json()["state"] == "idle"
        ask(fast, "Say hello.")
        thread.join(WAIT)
    finally:
        thread.join(WAIT)
    assert ended and ended[-1]["ruschat"]["finish_reason"] == "preempted"
    assert ended[-1]["ruschat"]["error"]["code"] == "preempted"
    assert metric(fast, "ruschat_background_jobs_total", 'finish_reason="preempted"') == preempted + 1
