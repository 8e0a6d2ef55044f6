"""One chat, many services: merging histories and walking a chat's message tree.

Pure functions over the wire types of :mod:`shared.schemas`, standard library only: the
services and the page (under Pyodide) merge and walk chats with the same code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.schemas import TITLE_SOURCES, Message, Session


def _message_order(message: Message) -> tuple[float, int, str]:
    # A user message and its answer can share a timestamp on a coarse clock: the
    # question goes first.
    return (message.created_at, 0 if message.role == "user" else 1, message.id)


def merge_messages(*lists: Iterable[Message]) -> list[Message]:
    """Messages of one chat from several services: one per id, in time order.

    The chat's tree is the union: each message names its parent, whichever service
    stored that parent."""
    by_id: dict[str, Message] = {}
    for messages in lists:
        for message in messages:
            by_id.setdefault(message.id, message)
    return sorted(by_id.values(), key=_message_order)


def children(messages: Iterable[Message]) -> dict[str | None, list[Message]]:
    """Each message's children (``None``: the chat's first messages), oldest first.

    A message whose parent is not among ``messages`` (stored only by a service that is
    down now) counts as a first message, so that what can be reached is still shown."""
    ordered = sorted(messages, key=_message_order)
    ids = {m.id for m in ordered}
    tree: dict[str | None, list[Message]] = {}
    for message in ordered:
        tree.setdefault(message.parent_id if message.parent_id in ids else None, []).append(message)
    return tree


def branch(messages: Iterable[Message], chosen: Mapping[str | None, str] | None = None) -> list[Message]:
    """The conversation shown: from the root, at each fork the child in ``chosen`` (keyed
    by parent id, ``None`` for the roots), else the newest one."""
    tree = children(messages)
    chosen = chosen or {}
    path: list[Message] = []
    parent: str | None = None
    while tree.get(parent):
        options = tree[parent]
        pick = next((m for m in options if m.id == chosen.get(parent)), options[-1])
        path.append(pick)
        parent = pick.id
    return path


def path_to(messages: Iterable[Message], message_id: str) -> list[Message]:
    """From the chat's root to ``message_id``: what the model sees when answering it."""
    by_id = {m.id: m for m in messages}
    path: list[Message] = []
    current = by_id.get(message_id)
    while current is not None and len(path) <= len(by_id):
        path.append(current)
        current = by_id.get(current.parent_id) if current.parent_id else None
    return path[::-1]


def title_rank(session: Session) -> tuple[int, float]:
    """Which copy's title wins: the user's over the model's over the opening words; among
    equals the copy changed last."""
    source = TITLE_SOURCES.index(session.title_source) if session.title_source in TITLE_SOURCES else 0
    return (source, session.updated_at)


def merge_sessions(*lists: Iterable[Session]) -> list[Session]:
    """Merge several services' session lists into one history, newest chat first.

    One entry per session id. Its title comes from the copy whose title ranks highest
    (:func:`title_rank`: a user's rename, then a model's title, newest first), its settings
    from the copy whose settings changed last, its messages are deduplicated by id and
    sorted by time, and it counts as created when
    its first copy was and as updated when its last copy was.
    """
    groups: dict[str, list[Session]] = {}
    for sessions in lists:
        for session in sessions:
            groups.setdefault(session.id, []).append(session)
    merged = []
    for copies in groups.values():
        latest = max(copies, key=lambda s: s.updated_at)
        titled = max(copies, key=title_rank)
        configured = max(copies, key=lambda s: (s.settings is not None, s.settings_updated_at))
        messages = merge_messages(*(s.messages for s in copies))
        summaries = {x.id: x for s in copies for x in s.summaries}
        count = len(messages) if messages else max(s.message_count for s in copies)
        merged.append(
            Session(
                id=latest.id,
                title=titled.title,
                title_source=titled.title_source,
                created_at=min(s.created_at for s in copies),
                updated_at=latest.updated_at,
                message_count=count,
                messages=tuple(messages),
                settings=configured.settings,
                settings_updated_at=configured.settings_updated_at,
                summaries=tuple(sorted(summaries.values(), key=lambda x: (x.created_at, x.id))),
            )
        )
    merged.sort(key=lambda s: (s.updated_at, s.id), reverse=True)
    return merged


MAX_FORGET = 10_000
"""Most chat ids one ``POST /api/tombstones/forget`` may name."""


@dataclass(frozen=True)
class Tombstone:
    """A chat a service deleted, and when: kept so that other services' copies go too."""

    session_id: str
    deleted_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "deleted_at": self.deleted_at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tombstone:
        return cls(str(data["session_id"]), float(data["deleted_at"]))


def deleted(tombstones: Iterable[Tombstone]) -> dict[str, float]:
    """When each chat was last deleted, by id."""
    latest: dict[str, float] = {}
    for stone in tombstones:
        latest[stone.session_id] = max(stone.deleted_at, latest.get(stone.session_id, stone.deleted_at))
    return latest


def is_buried(session: Session, deleted_at: Mapping[str, float]) -> bool:
    """Whether a copy of a chat was deleted after it last changed (newest wins: a copy
    changed after the deletion, say a chat written to again on another service, stays)."""
    when = deleted_at.get(session.id)
    return when is not None and session.updated_at <= when


def outranked(copy: Session, best: Session) -> bool:
    """Whether ``copy`` should take ``best``'s title: a rename it missed."""
    return best.title_source != "model" and copy.title != best.title and title_rank(copy) < title_rank(best)


def sync_plan(
    listings: Mapping[str, Iterable[Session]], tombstones: Iterable[Tombstone]
) -> tuple[list[Session], dict[str, list[str]], dict[str, list[tuple[str, str]]]]:
    """Reconcile the services' chat lists (by service id) with every service's tombstones.

    Returns the merged history without the deleted chats; by service, the chats it still
    holds that were deleted elsewhere after they last changed (to DELETE there); and by
    service, ``(session id, title)`` where its copy's title is outranked by a rename (made
    while it was down: to PATCH there, which makes it a user's title there too). A model's
    title is not copied: it wins the merge anyway, and a PATCH would make it the user's.
    """
    deleted_at = deleted(tombstones)
    kept = {service: [s for s in sessions if not is_buried(s, deleted_at)] for service, sessions in listings.items()}
    deletions = {
        service: [s.id for s in sessions if is_buried(s, deleted_at)] for service, sessions in listings.items()
    }
    merged = merge_sessions(*kept.values())
    best: dict[str, Session] = {}
    for session in (s for sessions in kept.values() for s in sessions):
        if session.id not in best or title_rank(session) > title_rank(best[session.id]):
            best[session.id] = session
    renames = {
        service: [(s.id, best[s.id].title) for s in sessions if outranked(s, best[s.id])]
        for service, sessions in kept.items()
    }
    return (
        merged,
        {k: v for k, v in deletions.items() if v},
        {k: v for k, v in renames.items() if v},
    )
