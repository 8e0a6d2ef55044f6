"""Deletes and renames that stick: the page's reconciliation of the services' lists."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from shared.history import Tombstone, sync_plan
from shared.schemas import Session


def chat(sid: str, title: str, updated_at: float) -> Session:
    return Session(sid, title, 1.0, updated_at)


def test_a_chat_deleted_while_a_service_was_down_is_deleted_there_and_hidden():
    listings = {"fast": [chat("b", "Kept", 5.0)], "capable": [chat("a", "Gone", 3.0), chat("b", "Kept", 5.0)]}
    merged, deletions, renames = sync_plan(listings, [Tombstone("a", 4.0)])
    assert [s.id for s in merged] == ["b"]
    assert deletions == {"capable": ["a"]} and renames == {}


def test_a_copy_changed_after_the_deletion_stays():
    listings = {"capable": [chat("a", "Written to again", 9.0)]}
    merged, deletions, _ = sync_plan(listings, [Tombstone("a", 4.0), Tombstone("a", 2.0)])
    assert [s.id for s in merged] == ["a"] and deletions == {}


def test_the_newest_deletion_counts():
    merged, deletions, _ = sync_plan({"fast": [chat("a", "T", 5.0)]}, [Tombstone("a", 2.0), Tombstone("a", 6.0)])
    assert merged == [] and deletions == {"fast": ["a"]}


def test_a_rename_made_while_a_service_was_down_is_pushed_to_it():
    listings = {"fast": [chat("a", "New name", 8.0)], "capable": [chat("a", "Old name", 3.0)]}
    merged, deletions, renames = sync_plan(listings, [])
    assert [s.title for s in merged] == ["New name"]
    assert renames == {"capable": [("a", "New name")]} and deletions == {}


def test_a_model_title_never_beats_a_user_title_set_elsewhere():
    from dataclasses import replace

    renamed = replace(chat("a", "My trip", 3.0), title_source="user")
    modelled = replace(chat("a", "Travel plans to Norway", 9.0), title_source="model")
    merged, _, renames = sync_plan({"fast": [modelled], "capable": [renamed]}, [])
    assert [(s.title, s.title_source) for s in merged] == [("My trip", "user")]
    assert renames == {"fast": [("a", "My trip")]}  # the PATCH makes it the user's there too


def test_a_model_title_beats_the_opening_words_and_is_not_pushed():
    from dataclasses import replace

    modelled = replace(chat("a", "Travel plans to Norway", 3.0), title_source="model")
    merged, _, renames = sync_plan({"fast": [modelled], "capable": [chat("a", "where is oslo", 9.0)]}, [])
    assert [(s.title, s.title_source) for s in merged] == [("Travel plans to Norway", "model")]
    assert renames == {}


def test_nothing_to_do_when_the_copies_agree():
    listings = {"fast": [chat("a", "Same", 8.0)], "capable": [chat("a", "Same", 3.0)]}
    assert sync_plan(listings, [Tombstone("other", 1.0)])[1:] == ({}, {})


def test_a_tombstone_round_trips():
    stone = Tombstone("a", 4.5)
    assert Tombstone.from_dict(stone.to_dict()) == stone


def test_a_deleted_chat_leaves_a_tombstone_listed_with_the_sessions(app: Flask, client: FlaskClient):
    import time
    import uuid

    from shared.schemas import ChatMessage

    store = app.extensions["ruschat"].store
    kept, gone = str(uuid.uuid4()), str(uuid.uuid4())
    for sid in (kept, gone):
        store.add_user_message(sid, ChatMessage(str(uuid.uuid4()), "user", "hi"))
    before = time.time()
    assert client.delete(f"/api/sessions/{gone}").status_code == 204
    body = client.get("/api/sessions").get_json()
    assert [s["id"] for s in body["sessions"]] == [kept]
    [stone] = body["tombstones"]
    assert stone["session_id"] == gone and stone["deleted_at"] >= before
    # Deleting again (another page, the same tombstone pushed twice) is a 404 and keeps one tombstone.
    assert client.delete(f"/api/sessions/{gone}").status_code == 404
    assert len(client.get("/api/sessions").get_json()["tombstones"]) == 1


def test_m007_adds_tombstones_to_a_database_of_the_previous_release(tmp_path: Path):

    from engine.store.migrations import m007_tombstones
    from engine.store.storage import Store
    from tests.support import chat_before

    path = tmp_path / "m006.sqlite3"
    sid = chat_before(path, m007_tombstones)

    store = Store(f"sqlite:///{path}")
    assert store.list_tombstones() == []
    assert store.delete_session(sid)
    assert [t.session_id for t in store.list_tombstones()] == [sid]
    store.close()


def test_a_rename_is_the_users_and_a_model_title_never_replaces_it(app: Flask, client: FlaskClient):
    import uuid

    from shared.schemas import ChatMessage

    store = app.extensions["ruschat"].store
    sid = str(uuid.uuid4())
    store.add_user_message(sid, ChatMessage(str(uuid.uuid4()), "user", "where is oslo"))
    assert store.title_source(sid) == "opening"
    updated_at = store.get_session(sid).updated_at
    assert store.set_model_title(sid, "Oslo's location")
    assert store.get_session(sid).updated_at == updated_at  # the chat keeps its place
    assert not store.set_model_title(sid, "A second model title")  # one model title per chat
    renamed = client.patch(f"/api/sessions/{sid}", json={"title": "Mine"}).get_json()
    assert (renamed["title"], renamed["title_source"]) == ("Mine", "user")
    assert not store.set_model_title(sid, "Late model title")
    assert client.get(f"/api/sessions/{sid}").get_json()["title"] == "Mine"
    assert store.title_source(str(uuid.uuid4())) is None


def test_an_import_brings_a_deleted_chat_back_everywhere(client):
    body = {
        "session_id": "5b0a2f0e-0000-4000-8000-000000000001",
        "messages": [{"id": "5b0a2f0e-0000-4000-8000-000000000002", "role": "user", "content": "Hi"}],
    }
    client.post("/api/chat", json=body).get_data()
    exported = client.get("/api/export?format=json").get_json()
    assert client.delete(f"/api/sessions/{body['session_id']}").status_code == 204
    assert [t["session_id"] for t in client.get("/api/sessions").get_json()["tombstones"]] == [body["session_id"]]
    assert client.post("/api/import", json=exported).status_code == 200
    listing = client.get("/api/sessions").get_json()
    assert [s["id"] for s in listing["sessions"]] == [body["session_id"]] and listing["tombstones"] == []
    # Another service's tombstone goes when the page asks it to forget.
    client.delete(f"/api/sessions/{body['session_id']}")
    forget = {"session_ids": [body["session_id"]]}
    assert client.post("/api/tombstones/forget", json=forget).get_json() == {"forgotten": 1}
    assert client.get("/api/sessions").get_json()["tombstones"] == []
    for bad in ({"session_ids": "x"}, {"session_ids": ["not-an-id"]}, [], {"session_ids": ["0"] * 10_001}):
        response = client.post("/api/tombstones/forget", json=bad)
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_request"
