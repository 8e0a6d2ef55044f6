"""Full-text search over one service's messages, and its chats' titles.

SQLite's FTS5 index (migration m006) where the database has it; PostgreSQL's own full-text
search (its GIN index, migration m010) there; a plain LIKE scan elsewhere (a SQLite built
without FTS5). The user's words are always quoted (FTS5 phrases; PostgreSQL lexemes), the
last one as a prefix, so no input is query syntax.

Titles the model or the user wrote are searched too (LIKE: a few thousand short strings),
and their hits come first (rank TITLE_RANK): the hit names the chat's first message here,
its snippet is the title. A chat still titled by its opening words is found by that
message itself.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import OperationalError

from engine.store.migrations import SEARCHED_CHARS
from shared.search import MAX_QUERY_CHARS, SearchHit, marked

_START, _END = "\ue000", "\ue001"
"""Private-use characters FTS5 puts around a match; taken out again before the wire."""
_SNIPPET_TOKENS = 16
_FALLBACK_CONTEXT = 60
TITLE_RANK = 100.0
"""The rank of a title hit: above any message's (a negated BM25 score is far below)."""


class SearchQueryError(ValueError):
    """The query cannot be searched for: empty, too long, or rejected by the index."""


def terms(query: str) -> list[str]:
    """The query's words, checked; raises :class:`SearchQueryError`."""
    if len(query) > MAX_QUERY_CHARS:
        raise SearchQueryError(f"q is over {MAX_QUERY_CHARS} characters")
    # Control characters (NUL ends FTS5's string) and our snippet markers become spaces.
    cleaned = "".join(" " if c in (_START, _END) or unicodedata.category(c) == "Cc" else c for c in query)
    words = [w for w in cleaned.split() if any(c.isalnum() for c in w)]
    if not words:
        raise SearchQueryError("q needs at least one word to search for")
    return words


def fts_query(words: list[str], prefix_last: bool = True) -> str:
    """An FTS5 MATCH expression: every word as a quoted phrase (all must match), the last a prefix."""
    phrases = ['"' + w.replace('"', '""') + '"' for w in words]
    if prefix_last:
        phrases[-1] += "*"
    return " ".join(phrases)


def has_index(engine: Engine) -> bool:
    if engine.dialect.name == "postgresql":
        return True  # full-text search is built in; m010 adds its index
    return engine.dialect.name == "sqlite" and inspect(engine).has_table("message_search")


def ts_query(words: list[str], prefix_last: bool = True) -> str:
    """A PostgreSQL ``to_tsquery`` expression: every run of letters and digits of the
    words as a quoted lexeme (all must match), the last one a prefix (``:*``). The runs
    hold no quote, backslash or operator, so no input is tsquery syntax."""
    runs = [run for word in words for run in re.findall(r"[^\W_]+", word)]
    lexemes = [f"'{run}'" for run in runs]
    if prefix_last:
        lexemes[-1] += ":*"
    return " & ".join(lexemes)


_PG_TEXT = f"left(m.content, {SEARCHED_CHARS})"
"""What m010's index covers; the query names the very same expression so the index serves it."""
_PG_SEARCH = text(
    "SELECT m.session_id, m.id, m.role, m.created_at, s.title,"
    f" ts_headline('simple'::regconfig, {_PG_TEXT}, q.query, :options) AS snippet,"
    f" ts_rank(to_tsvector('simple'::regconfig, {_PG_TEXT}), q.query) AS score"
    " FROM messages m JOIN sessions s ON s.id = m.session_id,"
    " (SELECT to_tsquery('simple'::regconfig, :match) AS query) q"
    f" WHERE to_tsvector('simple'::regconfig, {_PG_TEXT}) @@ q.query"
    " ORDER BY score DESC, m.created_at DESC LIMIT :limit"
)
_PG_HEADLINE = (
    f"StartSel={_START}, StopSel={_END}, MaxWords={_SNIPPET_TOKENS}, MinWords={_SNIPPET_TOKENS // 2},"
    " ShortWord=0, MaxFragments=1, FragmentDelimiter=…"
)


def search(engine: Engine, query: str, limit: int, *, fts: bool | None = None) -> list[SearchHit]:
    """The best ``limit`` hits for ``query``: titles, then messages; ``fts``: force (or
    refuse) the FTS5 index. One hit per message (a title hit names the chat's first)."""
    words = terms(query)
    titles = _title_search(engine, words, limit)
    if fts is None:
        fts = has_index(engine)
    if not fts:
        messages = _like_search(engine, words, limit)
    elif engine.dialect.name == "postgresql":
        messages = _pg_search(engine, words, limit, prefix_last=not query[-1:].isspace())
    else:
        messages = _fts_search(engine, query, words, limit)
    named = {hit.message_id for hit in titles}
    return (titles + [hit for hit in messages if hit.message_id not in named])[:limit]


def _fts_search(engine: Engine, query: str, words: list[str], limit: int) -> list[SearchHit]:
    sql = text(
        "SELECT m.session_id, m.id, m.role, m.created_at, s.title,"
        " snippet(message_search, 0, :start, :end, '…', :tokens) AS snippet,"
        " bm25(message_search) AS score"
        " FROM message_search JOIN messages m ON m.rowid = message_search.rowid"
        " JOIN sessions s ON s.id = m.session_id"
        " WHERE message_search MATCH :match ORDER BY score, m.created_at DESC LIMIT :limit"
    )
    params = {"start": _START, "end": _END, "tokens": _SNIPPET_TOKENS, "limit": limit}
    params["match"] = fts_query(words, prefix_last=not query[-1:].isspace())
    try:
        with engine.connect() as conn:
            rows = conn.execute(sql, params).all()
    except OperationalError as error:
        if any(word in str(error).lower() for word in ("fts5", "syntax", "unterminated", "match")):
            raise SearchQueryError("the search index rejected this query") from None
        raise
    hits = []
    for session_id, message_id, role, created_at, title, snippet, score in rows:
        plain, marks = marked(snippet, _START, _END)
        hits.append(SearchHit(session_id, message_id, role, plain, marks, title, created_at, round(-score, 6)))
    return hits


def _pg_search(engine: Engine, words: list[str], limit: int, prefix_last: bool) -> list[SearchHit]:
    """PostgreSQL's own full-text search ('simple' configuration: no language's stemming)."""
    params = {"match": ts_query(words, prefix_last), "options": _PG_HEADLINE, "limit": limit}
    with engine.connect() as conn:
        rows = conn.execute(_PG_SEARCH, params).all()
    hits = []
    for session_id, message_id, role, created_at, title, snippet, score in rows:
        plain, marks = marked(snippet, _START, _END)
        hits.append(SearchHit(session_id, message_id, role, plain, marks, title, created_at, round(score, 6)))
    return hits


def _like(column: str, words: list[str], limit: int) -> tuple[str, dict[str, object]]:
    """A WHERE clause: every word anywhere in ``column`` (case-insensitive), and its parameters."""
    clauses = " AND ".join(f"lower({column}) LIKE :w{i} ESCAPE '\\'" for i in range(len(words)))
    params: dict[str, object] = {"limit": limit}
    for i, word in enumerate(words):
        escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params[f"w{i}"] = f"%{escaped}%"
    return clauses, params


def _title_search(engine: Engine, words: list[str], limit: int) -> list[SearchHit]:
    """Chats whose title (the model's or the user's) has every word, newest first."""
    clauses, params = _like("s.title", words, limit)
    first = (  # the chat's root: a question stored before its answer on a coarse clock too
        "SELECT f.id FROM messages f WHERE f.session_id = s.id"
        " ORDER BY f.parent_id IS NOT NULL, f.created_at, f.id LIMIT 1"
    )
    sql = text(
        "SELECT s.id, m.id, m.role, m.created_at, s.title FROM sessions s JOIN messages m ON m.id = "
        f"({first}) WHERE s.title_source != 'opening' AND {clauses} ORDER BY s.updated_at DESC LIMIT :limit"
    )
    with engine.connect() as conn:
        rows = conn.execute(sql, params).all()
    return [
        SearchHit(session_id, message_id, role, *_excerpt(title, words), title, created_at, TITLE_RANK)
        for session_id, message_id, role, created_at, title in rows
    ]


def _like_search(engine: Engine, words: list[str], limit: int) -> list[SearchHit]:
    """Every word anywhere in the text (case-insensitive), newest first."""
    clauses, params = _like("m.content", words, limit)
    sql = text(
        "SELECT m.session_id, m.id, m.role, m.created_at, s.title, m.content"
        " FROM messages m JOIN sessions s ON s.id = m.session_id"
        f" WHERE {clauses} ORDER BY m.created_at DESC LIMIT :limit"
    )
    with engine.connect() as conn:
        rows = conn.execute(sql, params).all()
    return [
        SearchHit(session_id, message_id, role, *_excerpt(content, words), title, created_at, 0.0)
        for session_id, message_id, role, created_at, title, content in rows
    ]


def _excerpt(content: str, words: list[str]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """A window of ``content`` around the first word found, with every word's occurrences marked."""
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.IGNORECASE)
    first = pattern.search(content)
    at = first.start() if first else 0
    start, end = max(0, at - _FALLBACK_CONTEXT), min(len(content), at + _FALLBACK_CONTEXT * 2)
    lead, tail = ("…" if start > 0 else ""), ("…" if end < len(content) else "")
    snippet = lead + content[start:end] + tail
    marks = tuple((m.start(), m.end()) for m in pattern.finditer(snippet))
    return snippet, marks
