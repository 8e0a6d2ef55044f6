"""Search hits on the wire, and how the page merges the hits of both services.

A hit's ``snippet`` is plain text; ``marks`` are the ``[start, end)`` character spans of
the snippet that matched the query. The page wraps those spans in ``<mark>`` elements
it builds itself, so a message's text never reaches the page as HTML.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_QUERY_CHARS = 200
MAX_LIMIT = 50
DEFAULT_LIMIT = 20


@dataclass(frozen=True)
class SearchHit:
    session_id: str
    message_id: str
    role: str
    snippet: str
    marks: tuple[tuple[int, int], ...]
    title: str
    created_at: float
    rank: float
    """Higher is better: the negated BM25 score (0 where the service has no full-text index)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "message_id": self.message_id,
            "role": self.role,
            "snippet": self.snippet,
            "marks": [list(span) for span in self.marks],
            "title": self.title,
            "created_at": self.created_at,
            "rank": self.rank,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchHit:
        snippet = str(data.get("snippet", ""))
        marks = tuple(
            (int(span[0]), int(span[1]))
            for span in data.get("marks") or ()
            if isinstance(span, list | tuple) and len(span) == 2
        )
        return cls(
            session_id=str(data["session_id"]),
            message_id=str(data["message_id"]),
            role=str(data.get("role", "")),
            snippet=snippet,
            marks=marks,
            title=str(data.get("title", "")),
            created_at=float(data.get("created_at", 0.0)),
            rank=float(data.get("rank", 0.0)),
        )


def marked(text: str, start_mark: str, end_mark: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """``text`` without the two marker characters, and the spans they enclosed."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    start: int | None = None
    length = 0
    for char in text:
        if char == start_mark:
            start = length
        elif char == end_mark:
            if start is not None and length > start:
                spans.append((start, length))
            start = None
        else:
            out.append(char)
            length += 1
    return "".join(out), tuple(spans)


def snippet_parts(hit: SearchHit) -> list[tuple[str, bool]]:
    """The snippet as ``(text, matched)`` pieces in order; bad or overlapping spans are ignored."""
    parts: list[tuple[str, bool]] = []
    at = 0
    for start, end in sorted(hit.marks):
        if start < at or end <= start or end > len(hit.snippet):
            continue
        if start > at:
            parts.append((hit.snippet[at:start], False))
        parts.append((hit.snippet[start:end], True))
        at = end
    if at < len(hit.snippet) or not parts:
        parts.append((hit.snippet[at:], False))
    return parts


def merge_hits(*lists: Iterable[SearchHit], limit: int = DEFAULT_LIMIT) -> list[SearchHit]:
    """The hits of every service, one per message (its best), best first, newest first on ties."""
    best: dict[str, SearchHit] = {}
    for hits in lists:
        for hit in hits:
            kept = best.get(hit.message_id)
            if kept is None or hit.rank > kept.rank:
                best[hit.message_id] = hit
    return sorted(best.values(), key=lambda h: (-h.rank, -h.created_at, h.message_id))[:limit]
