"""The chat list in pages (shared.sidebar): merging, the frontier, date groups."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.history import Tombstone
from shared.schemas import Session
from shared.sidebar import Listing, behind, date_groups, date_label, frontier, sidebar_plan


def chat(sid: str, updated_at: float, title: str = "T") -> Session:
    return Session(sid, title, 0.0, updated_at)


def test_only_chats_no_older_than_the_frontier_are_shown():
    fast = Listing([chat("f9", 9), chat("f5", 5)], cursor="more")
    capable = Listing([chat("c8", 8), chat("c6", 6), chat("c3", 3)], cursor="more")
    assert frontier([fast, capable]) == (5, "f5")
    shown, _, _ = sidebar_plan({"fast": fast, "capable": capable})
    # c3 is loaded, but fast may hold chats between 5 and 3 not loaded yet
    assert [s.id for s in shown] == ["f9", "c8", "c6", "f5"]
    assert behind({"fast": fast, "capable": capable}) == ["fast"]


def test_a_service_that_sent_everything_sets_no_frontier():
    fast = Listing([chat("f9", 9)], cursor=None)
    capable = Listing([chat("c8", 8), chat("c2", 2)], cursor="more")
    shown, _, _ = sidebar_plan({"fast": fast, "capable": capable})
    assert [s.id for s in shown] == ["f9", "c8", "c2"]
    capable.add_page([chat("c1", 1)], None)
    assert frontier([fast, capable]) is None and behind({"fast": fast, "capable": capable}) == []
    assert [s.id for s in sidebar_plan({"fast": fast, "capable": capable})[0]] == ["f9", "c8", "c2", "c1"]


def test_a_chat_stored_on_both_shows_once_at_its_newest_copy():
    fast = Listing([chat("a", 9, "New"), chat("b", 4)], cursor=None)
    capable = Listing([chat("b", 7), chat("a", 2, "Old")], cursor=None)
    shown, _, renames = sidebar_plan({"fast": fast, "capable": capable})
    assert [(s.id, s.updated_at, s.title) for s in shown] == [("a", 9, "New"), ("b", 7, "T")]
    assert renames == {"capable": [("a", "New")]}


def test_renames_are_pushed_only_for_chats_shown():
    fast = Listing([chat("x", 9), chat("a", 8, "New")], cursor="more")
    capable = Listing([chat("z", 20), chat("a", 1, "Old")], cursor=None)
    # shown: z, x (frontier is fast's oldest, a at 8): a's newest copy is loaded and shown
    assert sidebar_plan({"fast": fast, "capable": capable})[2] == {"capable": [("a", "New")]}
    fast2 = Listing([chat("x", 9)], cursor="more")
    capable2 = Listing([chat("a", 1, "Old"), chat("q", 0.5)], cursor=None)
    assert sidebar_plan({"fast": fast2, "capable": capable2})[2] == {}


def test_tombstones_hide_a_chat_wherever_it_loads():
    fast = Listing([chat("a", 9)], cursor="more", tombstones=[Tombstone("old", 5)])
    capable = Listing([chat("b", 8)], cursor=None)
    fast.add_page([chat("old", 2), chat("c", 1)], None)
    shown, deletions, _ = sidebar_plan({"fast": fast, "capable": capable})
    assert [s.id for s in shown] == ["a", "b", "c"] and deletions == {"fast": ["old"]}


def test_a_fresh_first_page_keeps_the_place_reached_and_moves_changed_chats():
    listing = Listing([chat("e", 5), chat("d", 4)], cursor="c1")
    listing.add_page([chat("c", 3), chat("b", 2)], "c2")
    # "c" was written to (now newest), "e" deleted, "n" is new; the page is three long
    listing.take_first_page([chat("c", 10), chat("n", 9), chat("d", 4)], "fresh", [])
    assert [s.id for s in listing.sessions] == ["c", "n", "d", "b"] and listing.cursor == "c2"
    assert listing.version == 1


def test_a_first_page_deeper_than_what_was_loaded_replaces_it():
    listing = Listing([chat("b", 5)], cursor="old")
    listing.take_first_page([chat("n", 9), chat("b", 5), chat("a", 3)], "new", [Tombstone("z", 1)])
    assert [s.id for s in listing.sessions] == ["n", "b", "a"] and listing.cursor == "new"
    assert listing.tombstones == [Tombstone("z", 1)]
    listing.take_first_page([chat("n", 9)], None, [])  # the whole list now
    assert [s.id for s in listing.sessions] == ["n"] and not listing.more


def test_a_page_adds_no_chat_twice_and_drop_and_retitle_change_one():
    listing = Listing([chat("a", 5)], cursor="x")
    listing.add_page([chat("a", 5), chat("b", 4)], None)
    listing.retitle("b", "Renamed")
    listing.drop("a")
    assert [(s.id, s.title) for s in listing.sessions] == [("b", "Renamed")]


NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC).timestamp()
HOUR = 3600.0


def at(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_date_labels_in_utc():
    assert date_label(at(2026, 11, 26, 0, 1), NOW) == "Today"
    assert date_label(NOW + 60, NOW) == "Today"  # a clock a little ahead
    assert date_label(at(2026, 11, 25, 23, 59), NOW) == "Yesterday"
    assert date_label(at(2026, 11, 24, 12), NOW) == "Previous 7 days"
    assert date_label(at(2026, 11, 19, 0, 0), NOW) == "Previous 7 days"
    assert date_label(at(2026, 11, 18, 23, 0), NOW) == "November 2026"
    assert date_label(at(2026, 10, 31, 23, 0), NOW) == "October 2026"
    assert date_label(at(2025, 12, 1), NOW) == "December 2025"


def test_date_labels_follow_the_local_offset():
    # 10:00 UTC is 01:00 the same day at UTC-9, so 23:00 UTC the day before is 14:00 "yesterday"...
    west = lambda _t: -9 * HOUR  # noqa: E731
    assert date_label(at(2026, 11, 25, 23), NOW, west) == "Yesterday"
    # ...but at UTC-9, 08:00 UTC is still the 25th (23:00): yesterday, though UTC says today
    assert date_label(at(2026, 11, 26, 8), NOW, west) == "Yesterday"
    east = lambda _t: 14 * HOUR  # noqa: E731  # 10:00 UTC is midnight of the 27th at UTC+14
    assert date_label(at(2026, 11, 26, 9), NOW, east) == "Yesterday"
    assert date_label(at(2026, 10, 31, 12), NOW, east) == "November 2026"


def test_date_groups_keep_the_order_and_run_by_label():
    sessions = [
        chat("a", NOW - HOUR),
        chat("b", NOW - 2 * HOUR),
        chat("c", NOW - 30 * HOUR),
        chat("d", NOW - 4 * 24 * HOUR),
        chat("e", at(2026, 10, 3)),
        chat("f", at(2026, 9, 30)),
    ]
    groups = date_groups(sessions, NOW)
    assert [(label, [s.id for s in items]) for label, items in groups] == [
        ("Today", ["a", "b"]),
        ("Yesterday", ["c"]),
        ("Previous 7 days", ["d"]),
        ("October 2026", ["e"]),
        ("September 2026", ["f"]),
    ]
    assert date_groups([], NOW) == []
