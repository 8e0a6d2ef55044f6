from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.store.search import SearchQueryError, fts_query
from engine.store.storage import Store
from shared.schemas import ChatMessage, Message
from shared.search import SearchHit, merge_hits, snippet_parts
from tests.support import database_before


def chat(store: Store, question: str, answer: str, at: float = 1.0) -> tuple[str, str, str]:
    sid, qid, aid = (str(uuid.uuid4()) for _ in range(3))
    store.add_user_message(sid, ChatMessage(qid, "user", question))
    store.add_answer(Message(aid, sid, "assistant", answer, at, "M", "qwen", "stop", parent_id=qid))
    return sid, qid, aid


def test_m006_indexes_the_messages_of_a_database_of_the_previous_release(tmp_path: Path):
    from engine.store.migrations import m006_message_search

    path = tmp_path / "m005.sqlite3"
    db = database_before(path, m006_message_search)
    sid, qid = str(uuid.uuid4()), str(uuid.uuid4())
    db.execute("insert into sessions (id, title, created_at, updated_at) values (?, 'Old chat', 1.0, 2.0)", (sid,))
    db.execute(
        "insert into messages (id, session_id, role, content, created_at) values (?, ?, 'user', ?, 1.0)",
        (qid, sid, "Which fjord is the longest?"),
    )
    db.commit()
    db.close()

    store = Store(f"sqlite:///{path}")
    [hit] = store.search("fjord", 10)
    assert (hit.session_id, hit.message_id, hit.title, hit.role) == (sid, qid, "Old chat", "user")
    assert [hit.snippet[a:b] for a, b in hit.marks] == ["fjord"]
    store.close()


def test_the_index_follows_inserts_updates_and_deletes(store: Store):
    sid, qid, aid = chat(store, "Tell me about Oslo", "Oslo is the capital of Norway.")
    assert {h.message_id for h in store.search("oslo", 10)} == {qid, aid}
    store.finish_answer(aid, "Bergen is rainy.", "stop", None)
    assert [h.message_id for h in store.search("bergen", 10)] == [aid]
    assert [h.role for h in store.search("oslo", 10)] == ["user"]
    store.delete_session(sid)
    assert store.search("oslo", 10) == [] and store.search("bergen", 10) == []


def test_best_hit_first_last_word_as_prefix_and_unicode(store: Store):
    chat(store, "a question", "Norway Norway Norway, and fjords in Norway")
    _, _, once = chat(store, "another question", "Sweden borders Norway once, with a very long sentence around it")
    hits = store.search("norw", 10)
    assert len(hits) == 2 and hits[0].rank > hits[1].rank and hits[1].message_id == once
    _, _, russian = chat(store, "вопрос", "Столица Норвегии — Осло, «город»")
    [hit] = store.search("норвег", 10)
    assert hit.message_id == russian and [hit.snippet[a:b] for a, b in hit.marks] == ["Норвегии"]
    assert store.search("norw ", 10) == []  # a trailing space ends the word


@pytest.mark.parametrize(
    "query",
    ['"', 'Oslo"', "NEAR(a b)", "a OR", "a AND NOT", "col:a", "^a", "*", "a*b", "(((", "';drop table x;--", "Oslo\x00"],
)
def test_hostile_queries_are_searched_as_words_never_as_syntax(store: Store, query: str):
    chat(store, "q", "Oslo a b x")
    try:
        hits = store.search(query, 10)
    except SearchQueryError:
        return  # no word in it: a clean 400
    assert all(isinstance(h, SearchHit) for h in hits)


def test_quoting_makes_every_word_a_phrase():
    assert fts_query(['say "hi"', "oslo"]) == '"say ""hi""" "oslo"*'
    assert fts_query(["a"], prefix_last=False) == '"a"'


def test_empty_and_too_long_queries_are_refused(store: Store):
    for query in ("", "   ", "!!! ...", "x" * 201):
        with pytest.raises(SearchQueryError):
            store.search(query, 10)


def test_like_fallback_finds_marks_and_escapes_wildcards(store: Store):
    _, _, aid = chat(store, "q", "It costs 100% of the price in Oslo")
    chat(store, "q2", "It costs 1000 of the price")
    [hit] = store.search("100%", 10, fts=False)
    assert hit.message_id == aid and hit.rank == 0.0
    assert [hit.snippet[a:b] for a, b in hit.marks] == ["100%"]
    assert [h.message_id for h in store.search("oslo 100", 10, fts=False)] == [aid]


def test_snippet_parts_split_on_marks_and_ignore_bad_spans():
    hit = SearchHit("s", "m", "user", "<b>Oslo</b> is big", ((3, 7), (5, 9), (50, 60)), "T", 1.0, 2.0)
    assert snippet_parts(hit) == [("<b>", False), ("Oslo", True), ("</b> is big", False)]


def test_merge_keeps_one_hit_per_message_best_first():
    def hit(mid: str, rank: float, at: float = 1.0) -> SearchHit:
        return SearchHit("s", mid, "user", "x", (), "T", at, rank)

    merged = merge_hits([hit("a", 1.0), hit("b", 3.0)], [hit("a", 5.0), hit("c", 3.0, at=2.0)], limit=3)
    assert [(h.message_id, h.rank) for h in merged] == [("a", 5.0), ("c", 3.0), ("b", 3.0)]


def test_search_endpoint(app: Flask, client: FlaskClient):
    store: Store = app.extensions["ruschat"].store
    sid, _, aid = chat(store, "Where is Oslo?", "Oslo is in Norway.")
    response = client.get("/api/search", query_string={"q": "norway", "limit": "5"})
    assert response.status_code == 200
    [hit] = response.get_json()["hits"]
    assert (hit["session_id"], hit["message_id"], hit["title"]) == (sid, aid, "Where is Oslo?")
    assert [hit["snippet"][a:b] for a, b in hit["marks"]] == ["Norway"]
    for query in ({"q": ""}, {}, {"q": "x" * 201}, {"q": "oslo", "limit": "0"}, {"q": "oslo", "limit": "²"}):
        response = client.get("/api/search", query_string=query)
        assert response.status_code == 400, query
        assert response.get_json()["error"]["code"] in ("invalid_query", "invalid_request")


@pytest.mark.parametrize("fts", [True, False])
def test_titles_by_the_model_or_the_user_are_found_first(store: Store, fts: bool):
    titled, qid, _ = chat(store, "What should I pack?", "A raincoat.")
    store.set_model_title(titled, "Packing for Bergen")
    renamed, rqid, _ = chat(store, "Hi", "Hello!")
    store.update_session(renamed, title="Bergen notes")
    chat(store, "Is Bergen rainy?", "Very.")
    chat(store, "Plain opening words about bergen", "The opening title is not searched twice.")
    hits = store.search("bergen", 10, fts=fts)
    assert [h.message_id for h in hits[:2]] == [rqid, qid]  # the newest titled chat first
    packing = hits[1]
    assert (packing.snippet, packing.title, packing.role) == ("Packing for Bergen", "Packing for Bergen", "user")
    assert [packing.snippet[a:b] for a, b in packing.marks] == ["Bergen"]
    assert len(hits) == 4 and len({h.message_id for h in hits}) == 4
    assert all(h.rank < hits[1].rank for h in hits[2:])
    assert len(store.search("bergen", 1, fts=fts)) == 1
