"""Search against the real service: a stored question is found, a bad query is a 400."""

from __future__ import annotations

import requests

from tests.support import Process, chat_body, read_stream


def test_search_finds_a_stored_message_and_refuses_bad_queries(service: Process):
    body = chat_body("Say one word about the xylophonist Ingrid.", max_tokens=4)
    with requests.post(service.url + "/api/chat", json=body, stream=True, timeout=120) as response:
        assert response.status_code == 200, response.text
        read_stream(response)

    found = requests.get(service.url + "/api/search", params={"q": "xylophon"}, timeout=10)
    assert found.status_code == 200, found.text
    [hit] = [h for h in found.json()["hits"] if h["role"] == "user"]
    assert (hit["session_id"], hit["message_id"]) == (body["session_id"], body["messages"][-1]["id"])
    assert [hit["snippet"][a:b] for a, b in hit["marks"]] == ["xylophonist"]

    for query in ('"(', "", "x" * 500):
        bad = requests.get(service.url + "/api/search", params={"q": query}, timeout=10)
        assert bad.status_code == 400, (query, bad.text)
        assert bad.json()["error"]["code"] == "invalid_query"
