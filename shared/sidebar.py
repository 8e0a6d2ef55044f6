"""The chat list in pages: what each service has sent so far, merged, and grouped by date.

Each service lists its chats newest first by (``updated_at``, ``id``), a page at a time
(``GET /api/sessions?limit=&cursor=``). The page keeps a :class:`Listing` per service and
shows the merged chats no older than the *frontier*: the oldest chat loaded from any
service that has more to send. Anything not loaded yet is older than that, so the order
shown is always the true one; scrolling to the end loads the next page of the service(s)
at the frontier.

Pure functions, standard library only: tested under CPython, run in the page (Pyodide).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from shared.history import Tombstone, sync_plan
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

    @property
    def more(self) -> bool:
        return self.cursor is not None

    def oldest(self) -> Key | None:
        return key(self.sessions[-1]) if self.sessions else None

    def add_page(self, sessions: Sequence[Session], cursor: str | None) -> None:
        """Append the page that followed the loaded ones."""
        known = {s.id for s in self.sessions}
        self.sessions.extend(s for s in sessions if s.id not in known)
        self.cursor = cursor

    def take_first_page(self, sessions: Sequence[Session], cursor: str | None, tombstones: Sequence[Tombstone]) -> None:
        """Merge a fresh first page with what is loaded, keeping the place reached.

        A chat only ever moves up (its ``updated_at`` grows), so a loaded chat newer than
        the page's last one that the page lacks was deleted or moved into the page: it
        goes. Loaded chats older than that stay, unless they moved into the page."""
        self.version += 1
        self.tombstones = list(tombstones)
        page = list(sessions)
        oldest = self.oldest()
        if cursor is None or not page or oldest is None or oldest >= key(page[-1]):
            self.sessions, self.cursor = page, cursor
            return
        ids, edge = {s.id for s in page}, key(page[-1])
        self.sessions = page + [s for s in self.sessions if key(s) < edge and s.id not in ids]

    def drop(self, session_id: str) -> None:
        self.sessions = [s for s in self.sessions if s.id != session_id]

    def retitle(self, session_id: str, title: str) -> None:
        self.sessions = [replace(s, title=title) if s.id == session_id else s for s in self.sessions]


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
