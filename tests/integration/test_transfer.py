"""Export and import against a real service: round trip, idempotence, bad files."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from tests.support import Process, read_stream

pytestmark = pytest.mark.integration


def export(service: Process) -> dict:
    response = requests.get(service.url + "/api/export", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_export_delete_import_gives_the_same_chats_and_twice_adds_nothing(service: Process):
    sid = str(uuid.uuid4())
    body = {
        "session_id": sid,
        "messages": [{"id": str(uuid.uuid4()), "role": "user", "content": "Say hi."}],
        "max_tokens": 8,
        "system": "Be brief.",
    }
    with requests.post(service.url + "/api/chat", json=body, stream=True, timeout=120) as response:
        assert response.status_code == 200, response.text
        assert read_stream(response)[1]
    before = export(service)
    assert [s["id"] for s in before["sessions"]] == [sid] and len(before["sessions"][0]["messages"]) == 2

    assert requests.delete(f"{service.url}/api/sessions/{sid}", timeout=10).status_code == 204
    counts = requests.post(service.url + "/api/import", data=json.dumps(before), timeout=30).json()
    assert (counts["imported_sessions"], counts["imported_messages"]) == (1, 2)
    assert export(service)["sessions"] == before["sessions"]

    again = requests.post(service.url + "/api/import", json=before, timeout=30).json()
    assert (again["imported_sessions"], again["imported_messages"], again["skipped"]) == (0, 0, 3)
    assert export(service)["sessions"] == before["sessions"]


def test_a_bad_file_is_refused_and_stores_nothing(service: Process):
    before = export(service)["sessions"]
    hostile = [{"conv": {"id": "c"}, "messages": [{"id": 1, "role": "user", "content": "ok"}, {"id": 2, "parent": 2}]}]
    for body in (b"\xff not json", json.dumps({"format": "ruschat"}).encode(), json.dumps(hostile).encode()):
        response = requests.post(service.url + "/api/import", data=body, timeout=30)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] in ("invalid_json", "invalid_request")
    assert export(service)["sessions"] == before
