"""The chat list in pages: what each service has sent so far, merged, and grouped by date.

Each service lists its chats newest first by (``updated_at``, ``id``), a page at a time
(``GET /api/sessions?limit=&cursor=``). The page keeps a :class:`Listing` per service and
shows the merged chats no older than the *frontier*: the oldest chat loaded from any
service that has more to send. Anything not loaded yet is older than that, so the order
shown is always the true one; scrolling to the end loads the next page of the service(s)
at the frontier. What such a page adds is worked out from the chats older than the old
frontier alone (:func:`sidebar_more`), so loading more costs the same however many chats
are listed above.

Pure functions, standard library only: tested under CPython, run in the page (Pyodide).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from shared.history import Tombstone, deleted, is_buried, merge_sessions, outranked, sync_plan, title_rank
from shared.schemas import Session

PAGE_SIZE = 50
"""Chats per page when ``limit`` is not given."""
MAX_PAGE = 500
"""The largest ``limit`` a service accepts."""

Key = tuple[float, str]
"""A chat's place in a service's list: (updated_at, id), larger is newer."""


def key(session: Session) -> Key:
    return (session.updated_at, session.id)


@dataclass
class Listing:
    """One service's chats as far as loaded: a prefix of its list, newest first."""

    sessions: list[Session] = field(default_factory=list)
    cursor: str | None = None
    """Where the next page starts; None once the whole list is here."""
    tombstones: list[Tombstone] = field(default_factory=list)
    """The chats deleted on the service (sent whole with the first page)."""
    version: int = 0
    """Counts the first pages taken: a later page asked for before one is dropped."""
    reached: Key | None = field(init=False, compare=False)
    """The place of the oldest chat the service has sent: a chat dropped from the end of
    the list (deleted) does not move it back, so the frontier never rises over chats shown."""
    by_id: dict[str, Session] = field(init=False, repr=False, compare=False)
    """The loaded chats by id (kept in step by the methods below)."""
    deleted_at: dict[str, float] = field(init=False, repr=False, compare=False)
    """When each chat was last deleted on the service, from the tombstones."""

    def __post_init__(self) -> None:
        self.reached = key(self.sessions[-1]) if self.sessions else None
        self.by_id = {s.id: s for s in self.sessions}
        self.deleted_at = deleted(self.tombstones)

    @property
    def more(self) -> bool:
        return self.cursor is not None

    def oldest(self) -> Key | None:
        return self.reached

    def older_than(self, edge: Key) -> list[Session]:
        """The loaded chats older than ``edge``, newest first: the end of the list (looked at
        from the end, so it costs their number, not the listing's)."""
        start = len(self.sessions)
        while start and key(self.sessions[start - 1]) < edge:
            start -= 1
        return self.sessions[start:]

    def add_page(self, sessions: Sequence[Session], cursor: str | None) -> None:
        """Append the page that followed the loaded ones."""
        for session in sessions:
            if session.id not in self.by_id:
                self.sessions.append(session)
                self.by_id[session.id] = session
        if sessions:
            last = key(sessions[-1])
            self.reached = last if self.reached is None else min(self.reached, last)
        self.cursor = cursor

    def take_first_page(self, sessions: Sequence[Session], cursor: str | None, tombstones: Sequence[Tombstone]) -> None:
        """Merge a fresh first page with what is loaded, keeping the place reached.

        A chat only ever moves up (its ``updated_at`` grows), so a loaded chat newer than
        the page's last one that the page lacks was deleted or moved into the page: it
        goes. Loaded chats older than that stay, unless they moved into the page."""
        self.version += 1
        self.tombstones = list(tombstones)
        self.deleted_at = deleted(self.tombstones)
        page = list(sessions)
        oldest = self.oldest()
        if cursor is None or not page or oldest is None or oldest >= key(page[-1]):
            self.sessions, self.cursor = page, cursor
            self.reached = key(page[-1]) if page else None
        else:
            ids, edge = {s.id for s in page}, key(page[-1])
            self.sessions = page + [s for s in self.sessions if key(s) < edge and s.id not in ids]
        self.by_id = {s.id: s for s in self.sessions}

    def drop(self, session_id: str) -> None:
        if self.by_id.pop(session_id, None) is not None:
            self.sessions = [s for s in self.sessions if s.id != session_id]

    def retitle(self, session_id: str, title: str) -> None:
        if session_id in self.by_id:
            self.sessions = [replace(s, title=title) if s.id == session_id else s for s in self.sessions]
            self.by_id[session_id] = replace(self.by_id[session_id], title=title)


def frontier(listings: Iterable[Listing]) -> Key | None:
    """The oldest chat loaded from any service that has more; None when all are loaded."""
    edges = [edge for listing in listings if listing.more and (edge := listing.oldest()) is not None]
    return max(edges) if edges else None


def behind(listings: Mapping[str, Listing]) -> list[str]:
    """The services whose next page moves the frontier (the ones at it)."""
    edge = frontier(listings.values())
    return [sid for sid, listing in listings.items() if listing.more and listing.oldest() == edge]


def sidebar_plan(
    listings: Mapping[str, Listing],
) -> tuple[list[Session], dict[str, list[str]], dict[str, list[tuple[str, str]]]]:
    """What the sidebar shows and what to push to the services (see history.sync_plan).

    The chats shown are the merged ones no older than the frontier. Tombstones come whole
    with each first page, so a deleted chat is hidden (and deleted where a copy is loaded)
    wherever in the list it loads. Renames are pushed only for chats shown: their newest
    copy is surely loaded; an older copy further down is renamed once it loads."""
    stones = [t for listing in listings.values() for t in listing.tombstones]
    merged, deletions, renames = sync_plan({sid: x.sessions for sid, x in listings.items()}, stones)
    edge = frontier(listings.values())
    shown = [s for s in merged if edge is None or key(s) >= edge]
    ids = {s.id for s in shown}
    renames = {sid: kept for sid, pairs in renames.items() if (kept := [p for p in pairs if p[0] in ids])}
    return shown, deletions, renames


@dataclass
class MorePlan:
    """What pages loaded at the end of the list change in the sidebar (see sidebar_more)."""

    added: list[Session]
    """The chats now shown after the ones shown before, in order."""
    changed: list[tuple[int, Session]]
    """Chats shown before whose merge a copy loaded now changed (its title may come from
    it): (place in the list shown, the chat merged anew). Their place stays: a copy loaded
    now is older than the chat's copy that placed it."""
    deletions: dict[str, list[str]]
    renames: dict[str, list[tuple[str, str]]]


def sidebar_more(listings: Mapping[str, Listing], shown: Sequence[Session], before: Key) -> MorePlan:
    """What pages added at the end of the listings change, when ``shown`` is the list
    :func:`sidebar_plan` gave at the frontier ``before`` (the listings' then).

    The same result as ``sidebar_plan`` on the listings now, as changes to ``shown``, at a
    cost that grows with the chats older than ``before`` (about the pages loaded since),
    not with the chats shown. Every copy of a chat newly shown is older than ``before``;
    the chats shown before keep their place and change only where a copy of theirs is
    among the ones loaded since.
    """
    ids = dict.fromkeys(s.id for listing in listings.values() for s in listing.older_than(before))
    # Each chat's copies not deleted, with their service's id, in the services' order (as
    # sync_plan meets them: equal titles resolve alike).
    copies: dict[str, list[tuple[str, Session]]] = {}
    deletions: dict[str, list[str]] = {}
    for session_id in ids:
        when = [x.deleted_at[session_id] for x in listings.values() if session_id in x.deleted_at]
        deleted_at = {session_id: max(when)} if when else {}
        for service_id, listing in listings.items():
            if (copy := listing.by_id.get(session_id)) is None:
                continue
            if is_buried(copy, deleted_at):
                deletions.setdefault(service_id, []).append(session_id)
            else:
                copies.setdefault(session_id, []).append((service_id, copy))
    edge = frontier(listings.values())
    added: list[Session] = []
    changed: list[tuple[int, Session]] = []
    renames: dict[str, list[tuple[str, str]]] = {}
    for merged in merge_sessions([copy for pairs in copies.values() for _, copy in pairs]):
        place_of = key(merged)
        if edge is not None and place_of < edge:
            continue  # not shown yet: a service at the frontier may hold chats newer than it
        if place_of < before:
            added.append(merged)
        elif (place := _place(shown, place_of)) is not None and shown[place] != merged:
            changed.append((place, merged))
        best = max((copy for _, copy in copies[merged.id]), key=title_rank)
        for service_id, copy in copies[merged.id]:
            if outranked(copy, best):
                renames.setdefault(service_id, []).append((merged.id, best.title))
    return MorePlan(added, changed, deletions, renames)


def _place(shown: Sequence[Session], wanted: Key) -> int | None:
    """Where the chat at ``wanted`` is in ``shown`` (newest first), by bisection."""
    low, high = 0, len(shown)
    while low < high:
        middle = (low + high) // 2
        if key(shown[middle]) > wanted:
            low = middle + 1
        else:
            high = middle
    return low if low < len(shown) and key(shown[low]) == wanted else None


MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
DAY = 86_400


def _local(when: float, offset: Callable[[float], float]) -> datetime:
    """The wall-clock time at ``when`` where ``offset(when)`` is seconds east of UTC."""
    return datetime.fromtimestamp(when + offset(when), UTC)


def date_label(when: float, now: float, offset: Callable[[float], float] = lambda _t: 0.0) -> str:
    """Today, Yesterday, Previous 7 days, else the month ("November 2026"), in local time."""
    then, today = _local(when, offset), _local(now, offset)
    days = (today.date() - then.date()).days
    if days <= 0:  # today, or a clock ahead of ours
        return "Today"
    if days == 1:
        return "Yesterday"
    if days <= 7:
        return "Previous 7 days"
    return f"{MONTHS[then.month - 1]} {then.year}"


def date_groups(
    sessions: Iterable[Session], now: float, offset: Callable[[float], float] = lambda _t: 0.0
) -> list[tuple[str, list[Session]]]:
    """Chats (newest first) in runs under their date label, in order."""
    groups: list[tuple[str, list[Session]]] = []
    for session in sessions:
        label = date_label(session.updated_at, now, offset)
        if groups and groups[-1][0] == label:
            groups[-1][1].append(session)
        else:
            groups.append((label, [session]))
    return groups
