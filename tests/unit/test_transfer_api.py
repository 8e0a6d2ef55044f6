"""GET /api/export and POST /api/import on a service with the scripted engine."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.app import create_app, shutdown
from engine.config import ServiceConfig
from tests.fakes import FakeEngine
from tests.unit.test_app import assert_error, chat_body
from tests.unit.test_transfer import CHATGPT, our_chat


def stored_chat(client: FlaskClient) -> str:
    body = chat_body()
    client.post("/api/chat", json=body).get_data()
    return body["session_id"]


def exported(client: FlaskClient, query: str = "") -> dict:
    response = client.get(f"/api/export{query}")
    assert response.status_code == 200 and response.is_json
    assert "attachment" in response.headers["Content-Disposition"]
    return response.get_json()


def test_export_then_import_elsewhere_gives_the_same_chats(client: FlaskClient, config: ServiceConfig, tmp_path):
    sid = stored_chat(client)
    client.patch(f"/api/sessions/{sid}", json={"title": "Kept", "settings": {"system": "Be kind."}})
    envelope = exported(client)
    assert envelope["format"] == "ruschat" and [s["id"] for s in envelope["sessions"]] == [sid]
    other = create_app(replace(config, database_url=f"sqlite:///{tmp_path / 'other.sqlite3'}"), engine=FakeEngine())
    try:
        target = other.test_client()
        answer = target.post("/api/import", data=json.dumps(envelope))
        assert answer.get_json() == {"format": "ruschat", "imported_sessions": 1, "imported_messages": 2, "skipped": 0}
        assert exported(target)["sessions"] == envelope["sessions"]
        again = target.post("/api/import", json=envelope).get_json()
        assert (again["imported_sessions"], again["imported_messages"], again["skipped"]) == (0, 0, 3)
        assert exported(target)["sessions"] == envelope["sessions"]
    finally:
        shutdown(other)


def test_import_adds_missing_messages_to_a_chat_it_has_without_overwriting(client: FlaskClient):
    chat = our_chat()
    first = {"format": "ruschat", "version": 1, "exported_at": 1.0, "sessions": [chat.to_dict()]}
    partial = json.loads(json.dumps(first))
    partial["sessions"][0]["messages"] = partial["sessions"][0]["messages"][:1]
    partial["sessions"][0]["title"] = "Mine"
    assert client.post("/api/import", json=partial).get_json()["imported_messages"] == 1
    answer = client.post("/api/import", json=first).get_json()
    assert (answer["imported_sessions"], answer["imported_messages"], answer["skipped"]) == (0, 2, 2)
    stored = client.get(f"/api/sessions/{chat.id}").get_json()
    assert stored["title"] == "Mine" and len(stored["messages"]) == 3


def test_foreign_import_and_markdown_export(client: FlaskClient):
    answer = client.post("/api/import", json=CHATGPT).get_json()
    assert answer == {"format": "chatgpt", "imported_sessions": 1, "imported_messages": 3, "skipped": 1}
    sid = client.get("/api/sessions").get_json()["sessions"][0]["id"]
    markdown = client.get(f"/api/export?format=markdown&session_id={sid}")
    assert markdown.status_code == 200 and markdown.mimetype == "text/markdown"
    assert "## Paris trip" in markdown.get_data(as_text=True)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"hello": 1}',
        json.dumps([{"mapping": {"a": {"parent": "a", "message": None}}, "id": "x"}]).encode(),
    ],
)
def test_a_bad_file_is_400_and_stores_nothing(client: FlaskClient, body):
    assert_error(
        client.post("/api/import", data=body), 400, "invalid_json" if body.startswith(b"{n") else "invalid_request"
    )
    assert client.get("/api/sessions").get_json()["sessions"] == []


def test_a_file_failing_midway_stores_none_of_it(client: FlaskClient):
    good, bad = our_chat().to_dict(), our_chat().to_dict()
    bad["messages"][1]["role"] = "wizard"
    envelope = {"format": "ruschat", "version": 1, "exported_at": 1.0, "sessions": [good, bad]}
    assert_error(client.post("/api/import", json=envelope), 400, "invalid_request")
    assert client.get("/api/sessions").get_json()["sessions"] == []


def test_export_arguments(client: FlaskClient):
    assert_error(client.get("/api/export?format=pdf"), 400, "invalid_request")
    assert_error(client.get("/api/export?session_id=nope"), 404, "session_not_found")
    assert_error(client.get(f"/api/export?session_id={our_chat().id}"), 404, "session_not_found")
    assert exported(client)["sessions"] == []


def test_import_has_its_own_body_bound(config: ServiceConfig, engine: FakeEngine):
    app: Flask = create_app(replace(config, max_body_bytes=1000, max_import_bytes=100_000), engine=engine)
    try:
        client = app.test_client()
        envelope = {"format": "ruschat", "version": 1, "exported_at": 1.0, "sessions": [our_chat().to_dict()]}
        envelope["padding"] = "x" * 5000
        assert client.post("/api/import", json=envelope).status_code == 200
        assert_error(client.post("/api/chat", json=chat_body(text="y" * 5000)), 413, "too_large")
        envelope["padding"] = "x" * 200_000
        assert_error(client.post("/api/import", json=envelope), 413, "too_large")
    finally:
        shutdown(app)


def test_export_of_everything_is_every_chat_whole_newest_first(client: FlaskClient):
    first, second = stored_chat(client), stored_chat(client)
    envelope = exported(client)
    assert [s["id"] for s in envelope["sessions"]] == [second, first]
    assert envelope["sessions"] == [client.get(f"/api/sessions/{sid}").get_json() for sid in (second, first)]
