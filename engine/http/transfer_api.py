"""Export and import of this service's history: ``GET /api/export``, ``POST /api/import``.

The formats are shared/transfer.py's; this module only reads the request and answers.
"""

from __future__ import annotations

import json
import time

from flask import Blueprint, Response, jsonify, request

from engine.http.errors import ApiError
from engine.http.inputs import read_json, session_id_arg
from engine.http.state import current
from shared.transfer import EXPORT_FORMATS, export_json, export_markdown, import_data

bp = Blueprint("transfer", __name__)


@bp.get("/api/export")
def export_history() -> Response:
    service = current()
    kind = request.args.get("format", "json")
    if kind not in EXPORT_FORMATS:
        raise ApiError(400, "invalid_request", "'format' must be json or markdown", param="format")
    raw_id = request.args.get("session_id")
    session_id = None if raw_id is None else session_id_arg(raw_id)
    sessions = service.store.export_sessions(session_id)
    if session_id is not None and not sessions:
        raise ApiError(404, "session_not_found", "no such session")
    now = time.time()
    name = f"ruschat-{service.config.service}"
    if kind == "markdown":
        response = Response(export_markdown(sessions, now), mimetype="text/markdown")
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.md"'
        return response
    response = Response(json.dumps(export_json(sessions, now), ensure_ascii=False), mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.json"'
    return response


@bp.post("/api/import")
def import_history() -> Response:
    """Our JSON export or another app's (recognised by its shape), stored here in one
    transaction; ids already stored are skipped, so importing a file twice adds nothing."""
    imported = import_data(read_json())  # SchemaError: 400/413, nothing stored
    counts = current().store.import_sessions(imported.sessions)
    return jsonify(
        {
            "format": imported.format,
            "imported_sessions": counts.sessions,
            "imported_messages": counts.messages,
            "skipped": counts.skipped + imported.skipped,
        }
    )
