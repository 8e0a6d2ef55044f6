"""Deleting a chat leaves nothing of it in any file: the SQLite database, its WAL and
shared-memory files, and the KV states saved of it (on disk and parked in RAM)."""

from __future__ import annotations

import struct
import threading
import uuid
from array import array
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from engine.inference.kv_disk import HEADER, MAGIC, KvDiskCache, _name
from engine.inference.kv_park import KvParking
from engine.store.storage import Store
from shared.schemas import ChatMessage, Message
from tests.fakes import FakeEngine
from tests.unit.test_app import chat_body
from tests.unit.test_kv_park import SYSTEM, FakeContext, FakeLlama

SECRET = "zyxquorblenfip"
"""A word found nowhere else: if its bytes are in a file, the chat is."""


def files_holding(folder: Path, needle: bytes) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes())


def store_chat(store: Store, words: str) -> str:
    session_id = str(uuid.uuid4())
    question = store.add_user_message(session_id, ChatMessage(str(uuid.uuid4()), "user", f"Tell me about {words}"))
    answer = Message(str(uuid.uuid4()), session_id, "assistant", "", 1.0, finish_reason="generating")
    store.add_answer(Message(**{**answer.__dict__, "parent_id": question.id}))
    for n in range(5):  # an answer that grew: every save leaves an old version behind
        store.save_progress(answer.id, f"{words} is a word I know. " * (n + 1))
    store.finish_answer(answer.id, f"{words} is a word I know.", "stop", None)
    store.update_session(session_id, title=f"All about {words}")
    return session_id


def test_a_deleted_chat_leaves_no_byte_in_the_sqlite_files(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'chat.db'}")
    kept = store_chat(store, "marmalade")
    gone = store_chat(store, SECRET)
    assert store.search(SECRET, 5)
    assert files_holding(tmp_path, SECRET.encode())  # the test would see the chat
    assert store.delete_session(gone)
    # While the service runs: the database, its WAL, the FTS5 segments.
    assert files_holding(tmp_path, SECRET.encode()) == []
    assert store.search(SECRET, 5) == [] and store.search("marmalade", 5)
    store.close()
    assert files_holding(tmp_path, SECRET.encode()) == []
    again = Store(f"sqlite:///{tmp_path / 'chat.db'}")  # and after a restart, the other chat is whole
    assert again.get_session(gone) is None and again.get_session(kept) is not None
    assert [t.session_id for t in again.list_tombstones()] == [gone]
    again.close()
    assert files_holding(tmp_path, SECRET.encode()) == []


def test_every_sqlite_connection_deletes_securely(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'chat.db'}")
    with store.db.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    store.close()


def test_a_deleted_chats_states_leave_the_disk_also_across_a_restart(tmp_path: Path):
    mine, other = SYSTEM + [1, 2, 3], SYSTEM + [7, 8, 9]
    cache = KvDiskCache(tmp_path, 10**6)
    assert cache.save(mine, b"mine" * 100, "chat-a") and cache.save(other, b"other" * 100, "chat-b")
    cache.close()
    again = KvDiskCache(tmp_path, 10**6)  # a restart: the chats are read back from the headers
    assert again.chats() == {"chat-a", "chat-b"}
    assert again.forget("chat-a") == 1
    assert files_holding(tmp_path, b"mine") == [] and again.best(mine, 0.5) != tuple(mine)
    assert again.load(other) == bytearray(b"other" * 100)
    again.close()
    assert KvDiskCache(tmp_path, 10**6).chats() == {"chat-b"}


def test_a_state_being_written_when_its_chat_is_deleted_is_not_kept(tmp_path: Path):
    cache = KvDiskCache(tmp_path, 10**7)
    tokens = SYSTEM + [4, 5, 6]
    for n in range(3):  # queued behind each other: some still pending at the forget
        assert cache.save(tokens + [n], b"s" * 1_000_000, "chat-a")
    cache.forget("chat-a")  # waits for the writes under way, and deletes them
    assert list(tmp_path.iterdir()) == [] and cache.chats() == set()
    cache.close()
    assert list(tmp_path.iterdir()) == []


def test_states_of_the_version_that_named_no_chat_are_deleted_at_start(tmp_path: Path):
    tokens = SYSTEM + [1]
    old = tmp_path / _name(tokens)  # version 1: magic, version, tokens, state length; no chat
    old.write_bytes(struct.pack("<4sIIQ", MAGIC, 1, len(tokens), 5) + array("i", tokens).tobytes() + b"state")
    cache = KvDiskCache(tmp_path, 10**6)
    assert not old.exists() and cache.chats() == set()
    cache.close()
    assert HEADER.size == 22


def test_forgetting_a_chat_drops_its_parked_states_from_ram_and_disk(tmp_path: Path):
    llama = FakeLlama()
    park = KvParking(llama, FakeContext(llama), 10**6, KvDiskCache(tmp_path, 10**7))
    mine, other = list(range(1000, 1070)), list(range(2000, 2070))  # no common prefix
    llama.states[0] = b"mine" * 10
    park.park(0, mine, "chat-a")
    llama.states[0] = b"other" * 10
    park.park(0, other, "chat-b")
    assert park.forget("chat-a") == 2  # one in RAM, one on disk (written or being written)
    assert park.restore(1, mine + [5]) is None  # neither RAM nor disk has it
    assert park.restore(1, other + [5]) == other
    park.close()
    assert files_holding(tmp_path, b"mine") == [] and files_holding(tmp_path, b"other")


def test_deleting_a_chat_tells_the_engine_to_forget_it(client: FlaskClient, app: Flask, engine: FakeEngine):
    body = chat_body()
    client.post("/api/chat", json=body).get_data()
    assert engine.chats == [body["session_id"]]  # the engine knows whose tokens it caches
    assert client.delete(f"/api/sessions/{body['session_id']}").status_code == 204
    assert engine.forgotten == [body["session_id"]]
    assert client.delete(f"/api/sessions/{body['session_id']}").status_code == 404


def test_a_v1_request_may_ask_that_its_prompt_cache_is_not_kept(client: FlaskClient, engine: FakeEngine):
    ask = {"messages": [{"role": "user", "content": f"About {SECRET}"}], "max_tokens": 4}
    assert client.post("/v1/chat/completions", json=ask).status_code == 200
    assert client.post("/v1/chat/completions", json={**ask, "cache_prompt": False}).status_code == 200
    assert engine.kept == [True, False]
    refused = client.post("/v1/chat/completions", json={**ask, "cache_prompt": "no"})
    assert refused.status_code == 400 and refused.get_json()["error"]["param"] == "cache_prompt"


def test_summaries_leave_no_cache_of_the_chat_they_summarise(config, tmp_path: Path):
    """Summaries (and titles) of a chat are written by the fast service, over real HTTP or by
    this service's own model: neither keeps a KV cache of the chat's text, which deleting the
    chat could not reach (the cache of the fast service is keyed by no chat of its own)."""
    from dataclasses import replace

    from werkzeug.serving import make_server

    from engine.app import create_app, shutdown
    from engine.chat.writer import HttpWriter, LocalWriter

    fast_engine = FakeEngine()
    fast = create_app(replace(config, database_url=f"sqlite:///{tmp_path / 'fast.sqlite3'}"), engine=fast_engine)
    server = make_server("127.0.0.1", 0, fast, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        HttpWriter(f"http://127.0.0.1:{server.server_port}", timeout=10)([{"role": "user", "content": SECRET}], 8)
        service = fast.extensions["ruschat"]
        LocalWriter(fast_engine, service.scheduler, "test", timeout=10)([{"role": "user", "content": SECRET}], 8)
    finally:
        server.shutdown()
        thread.join(5)
        shutdown(fast)
    assert fast_engine.kept == [False, False]
