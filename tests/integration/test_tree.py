"""Conversation trees against a real service and the real model: siblings and continue."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from tests.support import Process, read_stream, text_of

pytestmark = pytest.mark.integration


def ask(service: Process, session_id: str, branch: list[dict[str, Any]], **extra: Any) -> list[dict[str, Any]]:
    body = {"session_id": session_id, "messages": branch, "temperature": 0, **extra}
    with requests.post(service.url + "/api/chat", json=body, stream=True, timeout=120) as response:
        assert response.status_code == 200, response.text
        chunks, done = read_stream(response)
    assert done
    return chunks


def stored(service: Process, session_id: str) -> list[dict[str, Any]]:
    return requests.get(f"{service.url}/api/sessions/{session_id}", timeout=10).json()["messages"]


def test_continue_resumes_a_cut_answer_as_the_same_message(each_engine: Process):
    service = each_engine  # in-process, then a gateway to llama-server (which resumes it upstream)
    sid = str(uuid.uuid4())
    question = {"id": str(uuid.uuid4()), "role": "user", "content": "Count from one to thirty in words."}
    ask(service, sid, [question], max_tokens=8)
    [_, cut] = stored(service, sid)
    assert cut["finish_reason"] == "length"

    chunks = ask(service, sid, [question, cut], max_tokens=24, **{"continue": True})
    more = text_of(chunks)
    assert more
    assert chunks[-1]["ruschat"]["message_id"] == cut["id"]
    [_, grown] = stored(service, sid)
    assert grown["id"] == cut["id"] and grown["parent_id"] == question["id"]
    assert grown["content"] == cut["content"] + more
    assert grown["finish_reason"] in ("stop", "length")
    # Resumed inside the answer, not as a new one: the model does not start over.
    assert not more.lstrip().lower().startswith(cut["content"].strip().lower()[:6])


def test_regenerated_answers_are_siblings_in_the_stored_tree(service: Process):
    sid = str(uuid.uuid4())
    question = {"id": str(uuid.uuid4()), "role": "user", "content": "Name a colour."}
    ask(service, sid, [question], max_tokens=12)
    ask(service, sid, [question], max_tokens=12, temperature=1.0)
    messages = stored(service, sid)
    answers = [m for m in messages if m["role"] == "assistant"]
    assert len(messages) == 3 and len(answers) == 2
    assert {a["parent_id"] for a in answers} == {question["id"]}


def test_a_chat_with_its_own_sampling_settings_runs_and_keeps_them(service: Process):
    sid = str(uuid.uuid4())
    question = {"id": str(uuid.uuid4()), "role": "user", "content": "Write a line about the sea."}
    settings = {"system": "You are a poet.", "temperature": 0.8, "min_p": 0.1, "repeat_penalty": 1.3, "top_p": 0.9}
    chunks = ask(service, sid, [question], max_tokens=24, **settings)
    assert text_of(chunks)
    session = requests.get(f"{service.url}/api/sessions/{sid}", timeout=10).json()
    assert session["settings"] == {
        **settings,
        "max_tokens": 24,
        "context": "window",
        "stop": [],
        "seed": None,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
    }
