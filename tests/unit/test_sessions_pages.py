"""GET /api/sessions in pages: limit, cursor, tombstones on the first page, the index."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from engine.http.paging import decode_cursor, encode_cursor
from engine.store.storage import Store
from engine.store.tables import SessionRow
from shared.schemas import ChatMessage
from shared.sidebar import PAGE_SIZE


def fill(store: Store, n: int, same_time: bool = False) -> list[str]:
    """``n`` chats, newest last; with ``same_time`` they share one updated_at (ties by id)."""
    ids = []
    for i in range(n):
        sid = str(uuid.uuid4())
        store.add_user_message(sid, ChatMessage(str(uuid.uuid4()), "user", f"chat {i}"))
        ids.append(sid)
    if same_time:
        with store.db.begin() as conn:
            conn.execute(SessionRow.__table__.update().values(updated_at=1000.0))
    return ids


def walk(client: FlaskClient, limit: int) -> list[dict]:
    seen, cursor = [], None
    while True:
        query = f"/api/sessions?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(query).get_json()
        assert ("tombstones" in body) == (cursor is None)
        seen.extend(body["sessions"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


def test_pages_walk_the_whole_list_newest_first_also_on_ties(app: Flask, client: FlaskClient):
    store = app.extensions["ruschat"].store
    fill(store, 7)
    fill(store, 6, same_time=True)  # all 13 now share updated_at: the id breaks ties
    seen = walk(client, 4)
    assert len(seen) == 13 and len({s["id"] for s in seen}) == 13
    keys = [(s["updated_at"], s["id"]) for s in seen]
    assert keys == sorted(keys, reverse=True)
    assert all(s["message_count"] == 1 for s in seen)


def test_the_default_page_and_the_end(app: Flask, client: FlaskClient):
    fill(app.extensions["ruschat"].store, PAGE_SIZE + 1)
    first = client.get("/api/sessions").get_json()
    assert len(first["sessions"]) == PAGE_SIZE and first["next_cursor"] and first["tombstones"] == []
    last = client.get(f"/api/sessions?cursor={first['next_cursor']}").get_json()
    assert len(last["sessions"]) == 1 and last["next_cursor"] is None and "tombstones" not in last


@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten", "1.5", "", "٣"])
def test_a_bad_limit_is_400(client: FlaskClient, limit: str):
    response = client.get(f"/api/sessions?limit={limit}")
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "limit"


@pytest.mark.parametrize(
    "cursor",
    ["", "not base64!", "A" * 31, "A" * 33, base64.urlsafe_b64encode(b"[1.0]").decode(), "é" * 32, "A" * 31 + "="],
)
def test_a_malformed_cursor_is_400_in_the_one_error_shape(client: FlaskClient, cursor: str):
    response = client.get("/api/sessions", query_string={"cursor": cursor})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["code"], error["param"]) == ("invalid_request", "cursor")


def test_a_cursor_round_trips_exactly_and_any_of_its_form_reads():
    key = (1764124512.1234567, str(uuid.uuid4()))
    assert decode_cursor(encode_cursor(key)) == key
    assert isinstance(decode_cursor("_" * 32)[0], float)  # NaN: a page past nothing, not an error


def test_a_cursor_of_the_right_form_but_made_up_gives_a_page(client: FlaskClient):
    body = client.get("/api/sessions", query_string={"cursor": "_" * 32}).get_json()
    assert body["sessions"] == [] and body["next_cursor"] is None


def test_the_page_query_walks_the_index(app: Flask):
    store = app.extensions["ruschat"].store
    with store.db.connect() as conn:
        plan = " ".join(
            str(row[-1])
            for row in conn.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT id FROM sessions WHERE (updated_at, id) < (:u, :i)"
                    " ORDER BY updated_at DESC, id DESC LIMIT 51"
                ),
                {"u": 1.0, "i": "x"},
            )
        )
    assert "ix_sessions_updated_id" in plan and "TEMP B-TREE" not in plan


def test_m009_indexes_a_database_of_the_previous_release(tmp_path: Path):
    from engine.store.migrations import m009_sessions_page_index
    from tests.support import database_before

    path = tmp_path / "m007.sqlite3"
    db = database_before(path, m009_sessions_page_index)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    db.executemany(
        "insert into sessions (id, title, created_at, updated_at) values (?, 'Old', 1.0, ?)",
        [(sid, float(i)) for i, sid in enumerate(ids)],
    )
    db.commit()
    db.close()

    store = Store(f"sqlite:///{path}")
    try:
        with store.db.connect() as conn:
            indexes = {row[1] for row in conn.execute(text("PRAGMA index_list(sessions)"))}
        assert "ix_sessions_updated_id" in indexes and "ix_sessions_updated" not in indexes
        assert [s.id for s in store.list_sessions(2)] == ids[::-1][:2]
        assert [s.id for s in store.list_sessions(5, (1.0, ids[1]))] == [ids[0]]
    finally:
        store.close()
