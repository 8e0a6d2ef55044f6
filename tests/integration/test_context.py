"""Long chats on a small context, against real services running the bundled model: the
window keeps answering, the fast service writes the summaries, strict still refuses."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import Process, read_stream, service_process, text_of

pytestmark = pytest.mark.integration

SMALL = ("--ctx", "512", "--threads", "1", "--parallel", "1")


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, Process]]:
    folder: Path = tmp_path_factory.mktemp("context")
    fast = service_process("backend_tinyllama", folder / "fast.sqlite3", folder / "fast.log", *SMALL)
    fast.start()
    capable = service_process(
        "backend_qwen", folder / "capable.sqlite3", folder / "capable.log", *SMALL, "--summarizer", fast.url
    )
    try:
        capable.start()
        yield fast, capable
    finally:
        capable.stop()
        fast.stop()


def history(turns: int) -> list[dict[str, str]]:
    """A made-up chat of ``turns`` questions and answers about numbered things."""
    messages = []
    for turn in range(turns):
        messages.append({"id": str(uuid.uuid4()), "role": "user", "content": f"Remember that box {turn} is blue."})
        messages.append({"id": str(uuid.uuid4()), "role": "assistant", "content": f"Noted: box {turn} is blue."})
    return messages


def ask(service: Process, session_id: str, branch: list[dict[str, str]], **extra: Any) -> tuple[str, dict, dict]:
    """The answer's text, its final chunk's ``ruschat`` and the first chunk's."""
    body = {"session_id": session_id, "messages": branch, "temperature": 0, "max_tokens": 12, **extra}
    with requests.post(service.url + "/api/chat", json=body, stream=True, timeout=180) as response:
        assert response.status_code == 200, response.text
        chunks, done = read_stream(response)
    assert done
    return text_of(chunks), chunks[-1]["ruschat"], chunks[0]["ruschat"]


def question(text: str) -> dict[str, str]:
    return {"id": str(uuid.uuid4()), "role": "user", "content": text}


def test_window_keeps_a_long_chat_answering_with_a_steady_start(services: tuple[Process, Process]):
    _, capable = services
    sid, branch = str(uuid.uuid4()), history(50)
    starts = []
    for turn in range(10):
        branch.append(question(f"What colour is box {turn}?"))
        text, final, first = ask(capable, sid, branch)
        assert final["finish_reason"] in ("stop", "length") and text.strip()
        context = final["context"]
        assert first["context"] == context
        assert context["size"] == 512 and context["used"] <= 512 - 12 and context["policy"] == "window"
        ids = [m["id"] for m in branch]
        assert context["visible_from"] in ids and branch[ids.index(context["visible_from"])]["role"] == "user"
        starts.append(context["visible_from"])
        branch.append({"id": final["message_id"], "role": "assistant", "content": text})
    # The start moves in blocks, not every turn: the KV cache keeps most of the window.
    assert len(set(starts)) <= 4, starts
    stored = requests.get(f"{capable.url}/api/sessions/{sid}", timeout=10).json()
    answer = stored["messages"][-1]
    assert (answer["prompt_tokens"], answer["window_from"]) == (context["used"], context["visible_from"])


def test_summary_comes_from_the_fast_service_is_stored_and_reused(services: tuple[Process, Process]):
    _, capable = services
    sid, branch = str(uuid.uuid4()), [*history(60), question("Which boxes did I mention?")]
    text, final, _ = ask(capable, sid, branch, context="summary")
    context = final["context"]
    assert text.strip() and final["finish_reason"] in ("stop", "length")
    assert context["policy"] == "summary" and context["note"] is None, context
    assert context["summary_id"] is not None and context["used"] <= 512

    stored = requests.get(f"{capable.url}/api/sessions/{sid}", timeout=10).json()
    summaries = stored["summaries"]
    assert [s["id"] for s in summaries] == [context["summary_id"]]
    ids = [m["id"] for m in branch]
    assert summaries[0]["through_id"] == ids[ids.index(context["visible_from"]) - 1]
    assert summaries[0]["content"].strip()
    assert stored["settings"]["context"] == "summary"

    # The next turn starts at the same place: the stored summary is used again.
    branch += [{"id": final["message_id"], "role": "assistant", "content": text}, question("And box 59?")]
    _, again, _ = ask(capable, sid, branch, context="summary")
    if again["context"]["visible_from"] == context["visible_from"]:
        assert again["context"]["summary_id"] == context["summary_id"]
    else:  # the window moved on: a new summary, written from the first one
        assert again["context"]["summary_id"] not in (None, context["summary_id"])


def test_strict_still_refuses_a_chat_too_long(services: tuple[Process, Process]):
    _, capable = services
    body = {"session_id": str(uuid.uuid4()), "messages": [*history(60), question("Hi?")], "context": "strict"}
    response = requests.post(capable.url + "/api/chat", json=body, timeout=60)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "context_length_exceeded"
