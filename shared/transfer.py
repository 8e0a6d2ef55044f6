"""Export and import of whole histories: our own JSON envelope and Markdown out; our
JSON, ChatGPT's, Open WebUI's and llama.cpp web UI's exports in.

Pure functions, standard library only: the services and the page (under Pyodide) use the
same code. Import never half-succeeds: any fault raises :class:`SchemaError` naming what
is wrong, before a single session is returned.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from shared.history import branch
from shared.importers import FOREIGN_FORMATS, Imported, check_tree, foreign_format
from shared.schemas import SchemaError, Session

FORMAT = "ruschat"
VERSION = 1
MAX_IMPORT_SESSIONS = 10_000
MAX_IMPORT_MESSAGES = 200_000
EXPORT_FORMATS = ("json", "markdown")


# --------------------------------------------------------------------------- export


def export_json(sessions: Iterable[Session], exported_at: float) -> dict[str, Any]:
    """The lossless envelope: every session whole (tree, settings, summaries, models)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": exported_at,
        "sessions": [s.to_dict() for s in sessions],
    }


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _fence(text: str) -> str:
    """A quote of ``text`` that keeps its own Markdown (code fences, headings) inside."""
    return "\n".join("> " + line if line else ">" for line in text.splitlines() or [""])


def export_markdown(
    sessions: Iterable[Session],
    exported_at: float,
    chosen: Mapping[str, Mapping[str | None, str]] | None = None,
) -> str:
    """A readable copy: one section per chat, its shown branch (at each fork the child
    ``chosen[session id]`` names, else the newest, as the page shows it); other versions
    are counted, not shown. The JSON export is the lossless one."""
    sessions = list(sessions)
    out = [f"# RusChat export\n\n{len(sessions)} chat(s), exported {_when(exported_at)}.\n"]
    for session in sessions:
        path = branch(session.messages, (chosen or {}).get(session.id))
        out.append(f"## {session.title or 'Untitled chat'}\n")
        out.append(f"*Started {_when(session.created_at)} · {len(session.messages)} message(s)*\n")
        if session.settings is not None and session.settings.system:
            out.append("**System prompt**\n\n" + _fence(session.settings.system) + "\n")
        others = len(session.messages) - len(path)
        for message in path:
            who = "You" if message.role == "user" else "System" if message.role == "system" else "Assistant"
            if message.role == "assistant" and message.model:
                who += f" ({message.model})"
            out.append(f"**{who}** · {_when(message.created_at)}\n\n{_fence(message.content)}\n")
        if others:
            out.append(f"*{others} message(s) in other versions of this chat are in the JSON export.*\n")
        out.append("---\n")
    return "\n".join(out)


# --------------------------------------------------------------------------- import


def parse_import(raw: str | bytes) -> Imported:
    """Read an export file of any supported format into our Sessions (SchemaError if not)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise SchemaError("the file is not UTF-8 text", field="file") from None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise SchemaError("the file is not valid JSON (or is nested too deeply)", field="file") from None
    return import_data(data)


def import_data(data: Any) -> Imported:
    """Already-parsed JSON of any supported format into our Sessions."""
    if isinstance(data, dict) and data.get("format") == FORMAT:
        imported = _ours(data)
    else:
        kind = foreign_format(data)
        if kind is None:
            raise SchemaError(
                "not a recognised export: expected RusChat's JSON, ChatGPT's conversations.json, "
                "Open WebUI's or llama.cpp web UI's chat export",
                field="file",
            )
        imported = FOREIGN_FORMATS[kind](data)
    _check_bounds(imported.sessions)
    return imported


def read_envelope(data: Any) -> list[Session]:
    """Sessions of our own export envelope (what ``GET /api/export?format=json`` answers)."""
    return list(_ours(data).sessions)


def _ours(data: Any) -> Imported:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SchemaError(f"'format' must be '{FORMAT}'", field="format")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= VERSION:
        raise SchemaError(f"'version' must be an integer from 1 to {VERSION}", field="version")
    raw = data.get("sessions")
    if not isinstance(raw, list):
        raise SchemaError("'sessions' must be a list", field="sessions")
    if len(raw) > MAX_IMPORT_SESSIONS:
        raise SchemaError(
            f"at most {MAX_IMPORT_SESSIONS} chats per file", field="sessions", code="too_large", status=413
        )
    sessions = []
    for i, item in enumerate(raw):
        try:
            session = Session.from_dict(item)
        except SchemaError as error:
            raise SchemaError(f"sessions[{i}]: {error.message}", field=error.field) from None
        for message in session.messages:
            if message.session_id != session.id or not math.isfinite(message.created_at):
                raise SchemaError(f"sessions[{i}]: message {message.id} is not this chat's", field="session_id")
        for summary in session.summaries:
            if summary.session_id != session.id:
                raise SchemaError(f"sessions[{i}]: summary {summary.id} is not this chat's", field="session_id")
        check_tree([(m.id, m.parent_id) for m in session.messages], f"sessions[{i}]")
        sessions.append(session)
    return Imported(FORMAT, tuple(sessions), 0)


def _check_bounds(sessions: Sequence[Session]) -> None:
    if len(sessions) > MAX_IMPORT_SESSIONS:
        raise SchemaError(f"at most {MAX_IMPORT_SESSIONS} chats per file", field="file", code="too_large", status=413)
    if sum(len(s.messages) for s in sessions) > MAX_IMPORT_MESSAGES:
        raise SchemaError(
            f"at most {MAX_IMPORT_MESSAGES} messages per file", field="file", code="too_large", status=413
        )
    session_ids = [s.id for s in sessions]
    if len(set(session_ids)) != len(session_ids):
        raise SchemaError("a chat id appears twice in the file", field="id")
    for what, ids in (
        ("message", [m.id for s in sessions for m in s.messages]),
        ("summary", [x.id for s in sessions for x in s.summaries]),
    ):
        if len(set(ids)) != len(ids):
            raise SchemaError(f"a {what} id appears twice in the file", field="id")
