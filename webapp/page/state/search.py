"""The sidebar's search: the query, the merged hits, and which answer is still awaited."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.search import SearchHit, merge_hits


@dataclass
class Search:
    """The sidebar's search: the query, the merged hits, and which answer is still awaited."""

    query: str = ""
    hits: list[SearchHit] = field(default_factory=list)
    asked: int = 0
    """Counts the queries sent: answers to an older one are dropped (typing outruns the services)."""

    def ask(self, query: str) -> int | None:
        """Start a search for ``query``: its ticket, or None when there is nothing to ask."""
        self.query = query
        self.asked += 1
        if not query.strip():
            self.hits = []
            return None
        return self.asked

    def answered(self, ticket: int, lists: list[list[SearchHit]]) -> bool:
        """Take the services' hits for ``ticket``, merged; False (and nothing kept) if it is stale."""
        if ticket != self.asked:
            return False
        self.hits = merge_hits(*lists)
        return True

    def clear(self) -> None:
        self.ask("")
