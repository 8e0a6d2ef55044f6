"""The page's search state and "open a hit", run under CPython (the browser runs the same files)."""

from __future__ import annotations

from shared.schemas import Message
from shared.search import SearchHit
from webapp.page.state.chat import Chat
from webapp.page.state.search import Search


def hit(message_id: str, rank: float) -> SearchHit:
    return SearchHit("s", message_id, "user", "x", (), "T", 1.0, rank)


def test_hits_of_both_services_are_merged_and_a_stale_answer_is_dropped():
    search = Search()
    first = search.ask("osl")
    second = search.ask("oslo")
    assert first is not None and second is not None
    assert not search.answered(first, [[hit("old", 9.0)]])
    assert search.hits == []
    assert search.answered(second, [[hit("a", 1.0), hit("b", 2.0)], [hit("a", 3.0)]])
    assert [(h.message_id, h.rank) for h in search.hits] == [("a", 3.0), ("b", 2.0)]


def test_an_empty_query_clears_the_hits_and_outdates_any_answer_on_the_way():
    search = Search()
    ticket = search.ask("oslo")
    assert ticket is not None
    search.clear()
    assert search.query == "" and search.hits == []
    assert not search.answered(ticket, [[hit("a", 1.0)]]) and search.hits == []
    assert search.ask("   ") is None


def test_revealing_a_message_in_a_hidden_branch_chooses_that_branch():
    def message(mid: str, parent: str | None, at: float, role: str = "assistant") -> Message:
        return Message(mid, "s", role, mid, at, parent_id=parent)

    chat = Chat(
        session_id="s",
        messages=[
            message("q", None, 1.0, "user"),
            message("a1", "q", 2.0),
            message("q2", "a1", 3.0, "user"),
            message("a2", "q", 4.0),  # the newer answer is shown by default
        ],
    )
    assert [m.id for m in chat.shown()] == ["q", "a2"]
    assert chat.reveal("q2")
    assert [m.id for m in chat.shown()] == ["q", "a1", "q2"]
    assert not chat.reveal("missing")
    assert [m.id for m in chat.shown()] == ["q", "a1", "q2"]
