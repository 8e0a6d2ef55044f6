"""The chat list in pages against the real service: cursors hold while chats are added."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import requests

from tests.support import Process, chat_body, read_stream


def database(service: Process) -> Path:
    return Path(service.command[service.command.index("--db") + 1])


def insert_chats(db: Path, stamps: list[float]) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in stamps]
    with sqlite3.connect(db, timeout=15) as conn:
        conn.executemany(
            "insert into sessions (id, title, created_at, updated_at) values (?, 'Chat', ?, ?)",
            [(sid, when, when) for sid, when in zip(ids, stamps, strict=True)],
        )
    return ids


def test_walking_the_pages_while_chats_are_added_sees_each_chat_once(service: Process):
    db = database(service)
    before = {s["id"] for s in requests.get(service.url + "/api/sessions?limit=500", timeout=10).json()["sessions"]}
    # 40 chats; ten of them share one updated_at, so the id orders them
    existing = insert_chats(db, [1_000_000.0 + i for i in range(30)] + [1_000_100.0] * 10)
    expected = before | set(existing)

    seen: list[str] = []
    cursor, pages = None, 0
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        response = requests.get(service.url + "/api/sessions", params=params, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert ("tombstones" in body) == (cursor is None)
        seen.extend(s["id"] for s in body["sessions"])
        cursor, pages = body["next_cursor"], pages + 1
        if cursor is None:
            break
        # New chats arrive meanwhile: newest of all, and one tied with the oldest pre-existing ones.
        insert_chats(db, [time.time(), 1_000_100.0])
        if pages == 1:  # and one asked the real way
            with requests.post(service.url + "/api/chat", json=chat_body("Hi", max_tokens=1), stream=True) as answer:
                assert answer.status_code == 200, answer.text
                read_stream(answer)

    assert len(seen) == len(set(seen)), "no chat twice"
    assert expected <= set(seen), "every chat there before the walk"
    assert pages >= 6


def test_a_bad_limit_or_cursor_is_a_400_in_the_one_error_shape(service: Process):
    for params in ({"limit": "0"}, {"limit": "501"}, {"limit": "x"}, {"cursor": "nonsense"}, {"cursor": "W10"}):
        response = requests.get(service.url + "/api/sessions", params=params, timeout=10)
        assert response.status_code == 400, (params, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_request" and error["param"] in params, error
