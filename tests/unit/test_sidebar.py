"""The chat list in pages (shared.sidebar): merging, the frontier, date groups."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

import shared.sidebar
from shared.history import Tombstone
from shared.schemas import TITLE_SOURCES, Session
from shared.sidebar import PAGE_SIZE, Listing, behind, date_groups, date_label, frontier, sidebar_more, sidebar_plan


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


def push(listings: dict[str, Listing], deletions: dict[str, list[str]], renames: dict[str, list[tuple[str, str]]]):
    """What the page does with a plan's deletions and renames (webapp.page.actions.history: apply)."""
    for service_id, session_ids in deletions.items():
        for session_id in session_ids:
            listings[service_id].drop(session_id)
    for service_id, pairs in renames.items():
        for session_id, title in pairs:
            listings[service_id].retitle(session_id, title)


def services_of(seed: int) -> tuple[dict[str, list[Session]], dict[str, list[Tombstone]]]:
    """Two services' full lists (newest first), chats on one or both with titles of every
    source, ties in time, and tombstones that bury some copies but not others."""
    rng = random.Random(seed)
    lists: dict[str, list[Session]] = {"fast": [], "capable": []}
    for n in range(rng.randrange(5, 60)):
        for service in rng.choice([("fast",), ("capable",), ("fast", "capable")]):
            source = rng.choice(TITLE_SOURCES)
            lists[service].append(
                Session(f"c{n}", f"{service} {n} {source}", 0.0, rng.randrange(200), title_source=source)
            )
    stones = {
        service: [Tombstone(f"c{rng.randrange(60)}", rng.randrange(200)) for _ in range(rng.randrange(6))]
        for service in lists
    }
    return {service: sorted(chats, key=shared.sidebar.key, reverse=True) for service, chats in lists.items()}, stones


def pages(chats: list[Session], size: int) -> Iterator[tuple[list[Session], str | None]]:
    for start in range(0, len(chats), size):
        yield chats[start : start + size], "more" if start + size < len(chats) else None


@pytest.mark.parametrize("seed", range(150))
def test_loading_more_shows_what_a_full_merge_would(seed: int):
    lists, stones = services_of(seed)
    size = 1 + seed % 5
    served = {service: pages(chats, size) for service, chats in lists.items()}
    listings = {service: Listing() for service in lists}
    for service, listing in listings.items():
        first, cursor = next(served[service], ([], None))
        listing.take_first_page(first, cursor, stones[service])
    shown, deletions, renames = sidebar_plan(listings)
    push(listings, deletions, renames)
    edge = frontier(listings.values())
    while edge is not None:
        for service in behind(listings):
            listings[service].add_page(*next(served[service]))
        plan = sidebar_more(listings, shown, edge)
        extended = list(shown)
        for place, session in plan.changed:
            extended[place] = session
        extended += plan.added
        want, want_deletions, want_renames = sidebar_plan(listings)
        assert extended == want
        assert plan.deletions == want_deletions
        assert {k: sorted(v) for k, v in plan.renames.items()} == {k: sorted(v) for k, v in want_renames.items()}
        push(listings, plan.deletions, plan.renames)
        shown, edge = extended, frontier(listings.values())
    assert [s.id for s in shown] == [s.id for s in sidebar_plan(listings)[0]]


def test_a_page_loaded_below_can_retitle_a_chat_shown_above():
    fast = Listing([chat("a", 9), chat("f8", 8)], cursor="more")
    capable = Listing([Session("b", "Mine", 0.0, 2, title_source="user")], cursor=None)
    shown, _, _ = sidebar_plan({"fast": fast, "capable": capable})
    assert [s.id for s in shown] == ["a", "f8"]
    fast.add_page([Session("b", "Opening words", 0.0, 1)], None)  # the user's rename was made on capable
    plan = sidebar_more({"fast": fast, "capable": capable}, shown, (8, "f8"))
    assert [(s.id, s.title) for s in plan.added] == [("b", "Mine")] and plan.renames == {"fast": [("b", "Mine")]}
    capable.add_page([], None)
    # An older copy of a chat shown changes its title in place.
    fast = Listing([chat("a", 9), chat("f8", 8)], cursor="more")
    capable = Listing([Session("a", "Mine", 0.0, 1, title_source="user")], cursor=None)
    shown = sidebar_plan({"fast": fast, "capable": Listing(cursor="more")})[0]
    plan = sidebar_more({"fast": fast, "capable": capable}, shown, (8, "f8"))
    assert plan.added == [] and [(p, s.title) for p, s in plan.changed] == [(0, "Mine")]


def listed(depth: int) -> tuple[dict[str, Listing], list[Session]]:
    """``depth`` chats loaded from the fast service (which has more), some of them also on
    the capable one (which sent all it has); and what the sidebar shows."""
    fast = Listing(cursor="more")
    for start in range(0, depth, PAGE_SIZE):
        fast.add_page([chat(f"f{n}", 10_000 - n) for n in range(start, start + PAGE_SIZE)], "more")
    capable = Listing(
        [chat("x", 30_000), *(chat(f"f{n}", 20_000 - n, "Newer") for n in range(0, depth, 10)), chat(f"f{depth}", 5)],
        cursor=None,
    )
    listings = {"fast": fast, "capable": capable}
    return listings, sidebar_plan(listings)[0]


def load_one_more(depth: int, monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], int]:
    """Load the next page below ``depth`` chats listed: (sessions merged, keys looked at)."""
    listings, shown = listed(depth)
    assert len(shown) == 1 + depth and shown[0].id == "x"
    edge = frontier(listings.values())
    assert edge is not None
    # The next page: older chats, one of them (f<depth>) also on capable, and an old copy of
    # x (shown at the top) renamed by the user.
    page = [chat(f"f{n}", 10_000 - n) for n in range(depth, depth + PAGE_SIZE)]
    listings["fast"].add_page([*page, Session("x", "Mine", 0.0, 1, title_source="user")], "more")
    merged: list[int] = []
    looked_at: list[int] = []
    real_merge, real_key = shared.sidebar.merge_sessions, shared.sidebar.key

    def merge(*lists: list[Session]) -> list[Session]:
        merged.append(sum(map(len, lists)))
        return real_merge(*lists)

    def key(session: Session) -> tuple[float, str]:
        looked_at.append(1)
        return real_key(session)

    monkeypatch.setattr(shared.sidebar, "merge_sessions", merge)
    monkeypatch.setattr(shared.sidebar, "key", key)
    plan = sidebar_more(listings, shown, edge)
    assert [s.id for s in plan.added] == [s.id for s in page]
    assert [(place, s.id, s.title) for place, s in plan.changed] == [(0, "x", "Mine")]
    assert plan.renames == {"capable": [("x", "Mine")]}
    monkeypatch.undo()
    return merged, len(looked_at)


def test_loading_more_costs_the_page_not_what_is_listed(monkeypatch: pytest.MonkeyPatch):
    merged_100, looked_at_100 = load_one_more(100, monkeypatch)
    merged_1000, looked_at_1000 = load_one_more(1000, monkeypatch)
    # Merged: the page's chats and their copies on capable (f<depth>, x), once each, at any depth...
    assert merged_100 == merged_1000 == [PAGE_SIZE + 1 + 2]
    # ...and the chats looked at are the page's (and the services' ends): a bisection to find
    # x in the list shown is all that grows with it.
    assert looked_at_100 < 3 * PAGE_SIZE
    assert looked_at_100 <= looked_at_1000 <= looked_at_100 + 4


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
