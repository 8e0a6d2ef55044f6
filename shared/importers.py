"""Other chat apps' exports as our Sessions: ChatGPT, Open WebUI, llama.cpp web UI.

Each converter reads one app's conversation trees into nodes, and :func:`_session` turns
the nodes of one conversation into a Session. Ids are uuid5 of the source format and the
source ids, so importing the same file twice gives the same ids (and adds nothing).
Standard library only (it runs in the page too).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.schemas import DEFAULT_LIMITS, ChatSettings, Message, SchemaError, Session

NAMESPACE = uuid.UUID("9a7e3c1e-4f0b-5a39-9d7f-2c1b6e0d5a11")
"""Our uuid5 namespace for imported ids."""
MAX_CONTENT_CHARS = 1_000_000
MAX_NODES = 200_000


@dataclass(frozen=True)
class Imported:
    """What a file held: its format, its chats as ours, and the messages left out
    (roles we do not keep, such as tools, and empty nodes)."""

    format: str
    sessions: tuple[Session, ...]
    skipped: int


@dataclass(frozen=True)
class Node:
    """One message of a foreign conversation, in the source's own ids."""

    id: str
    parent: str | None
    role: Any
    content: Any
    created_at: float | None
    model: str | None = None


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "\x1f".join(parts)))


def check_tree(links: Iterable[tuple[str, str | None]], where: str) -> None:
    """SchemaError if following the parent links from some message comes back to it."""
    parents = dict(links)
    done: set[str] = set()
    for start in parents:
        seen: set[str] = set()
        current: str | None = start
        while current is not None and current in parents and current not in done:
            if current in seen:
                raise SchemaError(f"{where}: the parent links form a cycle (at {current})", field="parent")
            seen.add(current)
            current = parents[current]
        done |= seen


def _text(value: Any, where: str, max_chars: int = MAX_CONTENT_CHARS) -> str:
    if not isinstance(value, str):
        raise SchemaError(f"{where} must be a string", field=where)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise SchemaError(f"{where} is not valid Unicode text (lone surrogate)", field=where) from None
    if len(value) > max_chars:
        raise SchemaError(f"{where} is longer than {max_chars} characters", field=where, code="too_large", status=413)
    return value


def _source_id(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise SchemaError(f"{where} must be a string id", field=where)
    return _text(str(value), where, 200)


def _time(value: Any, scale: float = 1.0) -> float | None:
    """A timestamp in seconds (``scale``: the source's unit), or None if absent or absurd."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        seconds = value / scale
    except OverflowError:  # an integer beyond float's range
        return None
    return float(seconds) if math.isfinite(seconds) and 0 <= seconds < 1e11 else None


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise SchemaError(f"{where} must be a list", field=where)
    return value


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SchemaError(f"{where} must be a JSON object", field=where)
    return value


def _session(
    fmt: str, conv_id: str, title: Any, created: float | None, updated: float | None, nodes: list[Node], where: str
) -> tuple[Session, int]:
    """One conversation's nodes as our Session: system messages become the chat's system
    prompt, unknown roles are skipped (their children hang from the nearest kept ancestor)."""
    if len(nodes) > MAX_NODES:
        raise SchemaError(f"{where}: too many messages", field="messages", code="too_large", status=413)
    by_id = {n.id: n for n in nodes}
    if len(by_id) != len(nodes):
        raise SchemaError(f"{where}: a message id appears twice", field="id")
    check_tree(((n.id, n.parent) for n in nodes), where)
    session_id = stable_id(fmt, conv_id)
    start = created if created is not None else min((n.created_at for n in nodes if n.created_at), default=0.0)
    kept: dict[str, Node] = {}
    system: list[str] = []
    skipped = 0
    for node in nodes:
        content = _text(node.content, f"{where}: content of message {node.id}")
        if node.role == "system":
            if content.strip():
                system.append(content)
            continue
        if node.role not in ("user", "assistant") or not content.strip():
            skipped += node.role not in (None, "system")
            continue
        kept[node.id] = node

    resolved: dict[str, str | None] = {}
    """For each left-out node walked through: its nearest kept ancestor (a hostile file's
    long chains of left-out nodes are walked once, not once per message under them)."""

    def kept_parent(node: Node) -> str | None:
        walked: list[str] = []
        parent = node.parent
        while parent is not None and parent not in kept:
            if parent in resolved:
                parent = resolved[parent]
                break
            walked.append(parent)
            parent = by_id[parent].parent if parent in by_id else None
        for skipped_id in walked:
            resolved[skipped_id] = parent
        return parent

    messages = []
    for index, node in enumerate(kept.values()):
        parent = kept_parent(node)
        messages.append(
            Message(
                id=stable_id(fmt, conv_id, node.id),
                session_id=session_id,
                role=str(node.role),
                content=str(node.content),
                # Without a time of its own, a message keeps its file order after the chat's start.
                created_at=node.created_at if node.created_at is not None else start + index * 0.001,
                model=_text(node.model, "model", 200) if node.model is not None else None,
                finish_reason="stop" if node.role == "assistant" else None,
                parent_id=stable_id(fmt, conv_id, parent) if parent is not None else None,
            )
        )
    name = _text(title, f"{where}: title") if title is not None else ""
    name = " ".join(name.split())[: DEFAULT_LIMITS.max_title_chars] or "Imported chat"
    last = max((m.created_at for m in messages), default=start)
    settings = ChatSettings(system="\n\n".join(system)[: DEFAULT_LIMITS.max_message_chars]) if system else None
    session = Session(
        id=session_id,
        title=name,
        created_at=start,
        updated_at=max(updated or 0.0, last, start),
        message_count=len(messages),
        messages=tuple(messages),
        settings=settings,
        settings_updated_at=start if settings else 0.0,
    )
    return session, skipped


def _collect(fmt: str, items: list[Any], one: Callable[[Mapping[str, Any], str], tuple[Session, int]]) -> Imported:
    sessions, skipped = [], 0
    for i, item in enumerate(items):
        session, left_out = one(_object(item, f"[{i}]"), f"[{i}]")
        sessions.append(session)
        skipped += left_out
    return Imported(fmt, tuple(sessions), skipped)


# --------------------------------------------------------------------------- ChatGPT


def _chatgpt_text(content: Any, where: str) -> str:
    content = _object(content, where)
    parts = content.get("parts")
    if parts is None:
        text = content.get("text")
        return "" if text is None else _text(text, where)
    texts = []
    for part in _list(parts, f"{where}.parts"):
        if isinstance(part, str):
            texts.append(_text(part, f"{where}.parts"))
        elif isinstance(part, Mapping):  # an image or file: not text we can keep
            continue
        else:
            raise SchemaError(f"{where}.parts must hold text", field="parts")
    return "\n".join(texts)


def _chatgpt_one(conv: Mapping[str, Any], where: str) -> tuple[Session, int]:
    conv_id = _source_id(conv.get("conversation_id") or conv.get("id"), f"{where}.id")
    nodes = []
    for key, raw in _object(conv.get("mapping"), f"{where}.mapping").items():
        raw = _object(raw, f"{where}.mapping")
        parent = raw.get("parent")
        parent = None if parent is None else _source_id(parent, f"{where}.mapping.parent")
        message = raw.get("message")
        if message is None:  # the tree's empty root
            nodes.append(Node(key, parent, None, "", None))
            continue
        message = _object(message, f"{where}.mapping.message")
        role = _object(message.get("author"), f"{where}.mapping.message.author").get("role")
        text = _chatgpt_text(message.get("content"), f"{where}.mapping.{key}.content")
        model = (
            (message.get("metadata") or {}).get("model_slug") if isinstance(message.get("metadata"), Mapping) else None
        )
        nodes.append(
            Node(key, parent, role, text, _time(message.get("create_time")), model if isinstance(model, str) else None)
        )
    return _session(
        "chatgpt",
        conv_id,
        conv.get("title"),
        _time(conv.get("create_time")),
        _time(conv.get("update_time")),
        nodes,
        where,
    )


def chatgpt(data: Any) -> Imported:
    return _collect("chatgpt", _list(data, "file"), _chatgpt_one)


# --------------------------------------------------------------------------- Open WebUI


def _openwebui_one(item: Mapping[str, Any], where: str) -> tuple[Session, int]:
    chat = _object(item.get("chat"), f"{where}.chat")
    conv_id = _source_id(item.get("id") or chat.get("id"), f"{where}.id")
    if chat.get("history") is None and isinstance(chat.get("messages"), list):  # an older export: a list
        listed = {str(m.get("id")): m for m in chat["messages"] if isinstance(m, Mapping)}
        history: Mapping[str, Any] = {"messages": listed}
    else:
        history = _object(chat.get("history"), f"{where}.chat.history")
    nodes = []
    for key, raw in _object(history.get("messages"), f"{where}.chat.history.messages").items():
        raw = _object(raw, f"{where}.chat.history.messages")
        parent = raw.get("parentId")
        parent = None if parent is None else _source_id(parent, f"{where}.parentId")
        model = raw.get("model")
        nodes.append(
            Node(
                str(key),
                parent,
                raw.get("role"),
                raw.get("content"),
                _time(raw.get("timestamp")),
                model if isinstance(model, str) else None,
            )
        )
    system = chat.get("system")
    if isinstance(system, str) and system.strip():
        nodes.insert(0, Node("\x00system", None, "system", system, None))
    created = _time(item.get("created_at")) or _time(chat.get("timestamp"), 1000.0)
    return _session(
        "openwebui",
        conv_id,
        item.get("title") or chat.get("title"),
        created,
        _time(item.get("updated_at")),
        nodes,
        where,
    )


def openwebui(data: Any) -> Imported:
    items = [data] if isinstance(data, Mapping) else _list(data, "file")
    return _collect("openwebui", items, _openwebui_one)


# --------------------------------------------------------------------------- llama.cpp web UI


def _llamacpp_one(item: Mapping[str, Any], where: str) -> tuple[Session, int]:
    conv = _object(item.get("conv"), f"{where}.conv")
    conv_id = _source_id(conv.get("id"), f"{where}.conv.id")
    nodes = []
    for i, raw in enumerate(_list(item.get("messages"), f"{where}.messages")):
        raw = _object(raw, f"{where}.messages[{i}]")
        if raw.get("convId") not in (None, conv.get("id")):
            raise SchemaError(f"{where}.messages[{i}] belongs to another conversation", field="convId")
        parent = raw.get("parent")
        parent = None if parent in (None, -1, "") else _source_id(parent, f"{where}.messages[{i}].parent")
        role = None if raw.get("type") == "root" else raw.get("role")
        content = "" if role is None else raw.get("content")
        model = raw.get("model")
        nodes.append(
            Node(
                _source_id(raw.get("id"), f"{where}.messages[{i}].id"),
                parent,
                role,
                content,
                _time(raw.get("timestamp"), 1000.0),
                model if isinstance(model, str) else None,
            )
        )
    last = _time(conv.get("lastModified"), 1000.0)
    return _session("llamacpp", conv_id, conv.get("name"), None, last, nodes, where)


def llamacpp(data: Any) -> Imported:
    items = [data] if isinstance(data, Mapping) else _list(data, "file")
    return _collect("llamacpp", items, _llamacpp_one)


FOREIGN_FORMATS: dict[str, Callable[[Any], Imported]] = {
    "chatgpt": chatgpt,
    "openwebui": openwebui,
    "llamacpp": llamacpp,
}


def foreign_format(data: Any) -> str | None:
    """Which app wrote ``data``, judged by its first conversation's shape; None if none."""
    first = data[0] if isinstance(data, list) and data else data
    if not isinstance(first, Mapping):
        return None
    if "mapping" in first:
        return "chatgpt"
    if isinstance(first.get("chat"), Mapping):
        return "openwebui"
    if "conv" in first and "messages" in first:
        return "llamacpp"
    return None
