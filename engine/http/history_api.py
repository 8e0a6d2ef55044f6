"""RusChat's own endpoints for health, info and the stored history: chats, tombstones, search."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from engine.chat.deletion import delete_chat
from engine.http.errors import ApiError
from engine.http.inputs import read_json, session_id_arg
from engine.http.paging import decode_cursor, encode_cursor, page_limit
from engine.http.state import current
from shared.history import MAX_FORGET
from shared.schemas import SessionPatch, check_uuid
from shared.search import DEFAULT_LIMIT, MAX_LIMIT

bp = Blueprint("history", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/api/info")
def info() -> Response:
    return jsonify(current().info().to_dict())


@bp.get("/api/sessions")
def list_sessions() -> Response:
    """A page of chats, newest first; ``next_cursor`` asks for the next (null at the end).
    The first page (no cursor) also lists the chats deleted here (``tombstones``)."""
    store = current().store
    limit = page_limit(request.args.get("limit"))
    raw_cursor = request.args.get("cursor")
    before = decode_cursor(raw_cursor) if raw_cursor is not None else None
    page = store.list_sessions(limit + 1, before)
    more = len(page) > limit
    page = page[:limit]
    body: dict[str, Any] = {
        "sessions": [s.to_dict(with_messages=False) for s in page],
        "next_cursor": encode_cursor((page[-1].updated_at, page[-1].id)) if more else None,
    }
    if before is None:
        body["tombstones"] = [t.to_dict() for t in store.list_tombstones()]
    return jsonify(body)


@bp.post("/api/tombstones/forget")
def forget_tombstones() -> Response:
    """Forget deletions of chats that were brought back (imported) since."""
    body = read_json()
    ids = body.get("session_ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or len(ids) > MAX_FORGET:
        raise ApiError(400, "invalid_request", f"'session_ids' must be a list of at most {MAX_FORGET} ids")
    try:
        checked = [check_uuid(i, "session_ids") for i in ids]
    except ValueError as error:
        raise ApiError(400, "invalid_request", str(error)) from None
    return jsonify({"forgotten": current().store.forget_tombstones(checked)})


@bp.get("/api/search")
def search_messages() -> Response:
    """The messages that match ``q``, best first."""
    raw_limit = request.args.get("limit", str(DEFAULT_LIMIT))
    if not (raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 3 and 1 <= int(raw_limit) <= MAX_LIMIT):
        raise ApiError(400, "invalid_request", f"limit must be a whole number from 1 to {MAX_LIMIT}", param="limit")
    hits = current().store.search(request.args.get("q", ""), int(raw_limit))  # SearchQueryError: 400
    return jsonify({"hits": [hit.to_dict() for hit in hits]})


@bp.get("/api/sessions/<session_id>")
def get_session(session_id: str) -> Response:
    session = current().store.get_session(session_id_arg(session_id))
    if session is None:
        raise ApiError(404, "session_not_found", "no such session")
    return jsonify(session.to_dict())


@bp.patch("/api/sessions/<session_id>")
def update_session(session_id: str) -> Response:
    service = current()
    patch = SessionPatch.from_dict(read_json(), service.config.limits)
    session = service.store.update_session(session_id_arg(session_id), patch.title, patch.settings)
    if session is None:
        raise ApiError(404, "session_not_found", "no such session")
    return jsonify(session.to_dict(with_messages=False))


@bp.delete("/api/sessions/<session_id>")
def delete_session(session_id: str) -> Response:
    if not delete_chat(current(), session_id_arg(session_id)):
        raise ApiError(404, "session_not_found", "no such session")
    return Response(status=204)
