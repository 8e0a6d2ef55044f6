"""The service's written contract: an OpenAPI 3.1 document, served at ``GET /openapi.json``.

Every route of the app is described here, with the errors it can answer (one JSON
shape, engine.http.errors). A unit test compares the paths with the app's URL map and
validates the document; the fuzz test (tests/integration/test_fuzz.py) checks live
responses against it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from engine import __version__
from engine.config import ServiceConfig
from engine.http.openapi_openai import openai_schemas
from engine.http.openapi_schemas import Schema, component_schemas, ref
from engine.http.paging import SESSIONS_PARAMETERS
from engine.http.state import current
from shared.fields import UUID_PATTERN
from shared.search import DEFAULT_LIMIT, MAX_LIMIT, MAX_QUERY_CHARS

bp = Blueprint("openapi", __name__)

# Each status the services answer with, its codes and when.
ERRORS: dict[int, tuple[str, str]] = {
    400: (
        "BadRequest",
        "`invalid_json` (body is not JSON), `invalid_request` (wrong types or values) or `invalid_query` "
        "(a search query with no word, or too long).",
    ),
    401: ("Unauthorized", "`unauthorized`: the service has an API key and the request lacks it, or has another."),
    403: ("Forbidden", "`forbidden_host` (Host is not a local name) or `forbidden_origin` (Origin not allowed)."),
    404: ("NotFound", "`session_not_found`, `message_not_found` or `not_found`."),
    405: ("MethodNotAllowed", "`method_not_allowed`."),
    409: ("Conflict", "`id_conflict` (a message id belongs to another message) or `answer_generating`."),
    413: ("TooLarge", "`too_large`: body, message count or message length over the limit (import: the file)."),
    414: ("UriTooLong", "`uri_too_long`: the request line is over about 4 KB."),
    422: ("Unprocessable", "`context_length_exceeded` or `cannot_continue`."),
    431: ("HeadersTooLarge", "`headers_too_large`: too many request headers, or one too large."),
    500: ("ServerError", "`generation_failed`: the model failed while answering."),
    503: ("QueueFull", "`queue_full`: the model is busy and its queue is full; retry after `Retry-After` s."),
}
COMMON = (403, 405, 414, 431)
"""What any request may get: refused callers, wrong methods, oversized request heads."""

SSE_DESCRIPTION = (
    "Server-Sent Events (`StreamEvent`, one schema per event). `data:` events carry "
    "`ChatCompletionChunk` objects (OpenAI's "
    "`chat.completion.chunk`): a first chunk with the role (and the stored answer's "
    "`ruschat.message_id`), one per piece of text, a final one with `finish_reason`, `usage` "
    "and `ruschat`; then `data: [DONE]`."
)


def _error_responses() -> dict[str, Schema]:
    responses: dict[str, Schema] = {}
    for status, (name, description) in ERRORS.items():
        response: Schema = {"description": description, "content": {"application/json": {"schema": ref("Error")}}}
        if status == 503:
            response["headers"] = {
                "Retry-After": {
                    "description": "Seconds until a slot is expected to be free for this request.",
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
        if status == 401:
            response["headers"] = {
                "WWW-Authenticate": {
                    "description": "`Bearer`: the scheme the key is expected in.",
                    "required": True,
                    "schema": {"type": "string"},
                }
            }
        if status == 405:
            response["headers"] = {
                "Allow": {
                    "description": "The methods the path supports.",
                    "required": True,
                    "schema": {"type": "string"},
                }
            }
        responses[name] = response
    return responses


SECURITY_SCHEMES: dict[str, Schema] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The service's API key (`--api-key`), when one is set: `Authorization: Bearer <key>`.",
    },
    "statusKey": {
        "type": "apiKey",
        "in": "query",
        "name": "api_key",
        "description": "The API key as `?api_key=<key>`: accepted by `/ws/status` only, since browsers "
        "cannot set headers on a WebSocket.",
    },
}


def _op(
    name: str,
    summary: str,
    ok: dict[str, Schema],
    errors: tuple[int, ...] = (),
    *,
    open_: bool = False,
    **extra: Any,
) -> Schema:
    """An operation (``name``: its Flask view's): its success responses and its error
    statuses (plus the common ones, and 401 unless ``open_``: answered without the key)."""
    responses = dict(ok)
    for status in sorted({*errors, *COMMON, *(() if open_ else (401,))}):
        responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    security: dict[str, Any] = {"security": []} if open_ else {}
    return {"operationId": name, "summary": summary, "responses": responses, **security, **extra}


def _links(ok: dict[str, Schema], **links: dict[str, str]) -> dict[str, Schema]:
    """``ok`` with links to the operations (by name) that its body gives parameters for."""
    response = ok["200"]
    response["links"] = {name: {"operationId": name, "parameters": parameters} for name, parameters in links.items()}
    return ok


def _json(description: str, schema: Schema) -> dict[str, Schema]:
    return {"200": {"description": description, "content": {"application/json": {"schema": schema}}}}


def _sse(description: str) -> dict[str, Schema]:
    return {"200": {"description": description, "content": {"text/event-stream": {"schema": ref("StreamEvent")}}}}


def _body(name: str) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": ref(name)}}}


def _path_param(name: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


SESSION = _path_param("session_id", "The chat's UUID (anything else: 404).")
MESSAGE = _path_param("message_id", "The answer's UUID (anything else: 404).")
SEARCH_PARAMETERS = [
    {
        "name": "q",
        "in": "query",
        "required": True,
        "description": "Words to find (at least one with a letter or digit); quoted, never search syntax.",
        # A letter or digit somewhere (Python's \w without the underscore): a query of only
        # punctuation has nothing to search for.
        "schema": {"type": "string", "maxLength": MAX_QUERY_CHARS, "pattern": r"[^\W_]"},
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": f"At most this many hits (default {DEFAULT_LIMIT}).",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    },
]


def _paths(keyed: bool) -> dict[str, Schema]:
    """The operations; ``keyed``: the service has an API key."""
    socket_security: dict[str, Any] = {"security": [{"bearer": []}, {"statusKey": []}]} if keyed else {}
    stream_or_json = {
        "200": {
            "description": "`stream: false`: the completion. `stream: true`: " + SSE_DESCRIPTION,
            "content": {
                "application/json": {"schema": ref("ChatCompletion")},
                "text/event-stream": {"schema": ref("StreamEvent")},
            },
        }
    }
    return {
        "/healthz": {
            "get": _op(
                "healthz",
                "Liveness, in milliseconds even while generating",
                _json("Alive.", ref("Health")),
                open_=True,
            )
        },
        "/openapi.json": {
            "get": _op("openapi_json", "This document", _json("OpenAPI 3.1.", {"type": "object"}), open_=True)
        },
        "/api/info": {
            "get": _op(
                "info", "Model, context size, busy or idle, queue depth", _json("The service.", ref("ServiceInfo"))
            )
        },
        "/api/sessions": {
            "get": _op(
                "list_sessions",
                "A page of chats, newest first (updated_at, then id)",
                _links(
                    _json("The chats.", ref("SessionList")),
                    **dict.fromkeys(
                        ("get_session", "update_session", "delete_session"),
                        {"session_id": "$response.body#/sessions/0/id"},
                    ),
                ),
                (400,),
                parameters=SESSIONS_PARAMETERS,
            )
        },
        "/api/tombstones/forget": {
            "post": _op(
                "forget_tombstones",
                "Forget deletions of chats brought back since (the page calls it after an import)",
                _json("How many deletions were forgotten.", ref("Forgotten")),
                (400, 413),
                requestBody=_body("ForgetTombstones"),
            )
        },
        "/api/search": {
            "get": _op(
                "search_messages",
                "Chats whose title (the model's or the user's) has the query's words, then messages that "
                "contain them (the last word as a prefix), best first",
                _json("The hits, best first.", ref("SearchResults")),
                (400,),
                parameters=SEARCH_PARAMETERS,
            )
        },
        "/api/sessions/{session_id}": {
            "parameters": [SESSION],
            "get": _op(
                "get_session",
                "A chat with its messages (a tree) and summaries",
                _links(
                    _json("The chat.", ref("Session")),
                    **dict.fromkeys(
                        ("stop_answer", "follow_answer"),
                        {"session_id": "$response.body#/id", "message_id": "$response.body#/messages/1/id"},
                    ),
                ),
                (404,),
            ),
            "patch": _op(
                "update_session",
                "Rename a chat (its title_source becomes user) or replace its settings",
                _json("The chat, without messages.", ref("SessionListItem")),
                (400, 404, 413),
                requestBody=_body("SessionPatch"),
            ),
            "delete": _op("delete_session", "Delete a chat", {"204": {"description": "Deleted."}}, (404,)),
        },
        "/api/chat": {
            "post": _op(
                "chat",
                "Answer the branch's last question (or continue an answer), storing question and answer",
                _sse(SSE_DESCRIPTION + " `event: status` events say `queued` (with `position`) and `generating`."),
                (400, 404, 409, 413, 422, 503),
                requestBody=_body("ChatRequest"),
            )
        },
        "/api/sessions/{session_id}/messages/{message_id}/stop": {
            "parameters": [SESSION, MESSAGE],
            "post": _op(
                "stop_answer",
                "Stop an answer being written (idempotent)",
                _json("The answer as stored.", ref("Message")),
                (404,),
            ),
        },
        "/api/sessions/{session_id}/messages/{message_id}/stream": {
            "parameters": [SESSION, MESSAGE],
            "get": _op(
                "follow_answer",
                "Follow an answer again (reattach): the text so far in one chunk, then the rest",
                _sse(SSE_DESCRIPTION),
                (404,),
            ),
        },
        "/api/export": {
            "get": _op(
                "export_history",
                "This service's chats whole, as RusChat's JSON export (lossless) or Markdown",
                {
                    "200": {
                        "description": "A download (`Content-Disposition: attachment`): `format=json` the "
                        "`ExportFile` envelope, `format=markdown` one section per chat (its shown branch).",
                        "content": {
                            "application/json": {"schema": ref("ExportFile")},
                            "text/markdown": {"schema": {"type": "string"}},
                        },
                    }
                },
                (400, 404),
                parameters=[
                    {
                        "name": "format",
                        "in": "query",
                        "description": "`json` (default) or `markdown`.",
                        "schema": {"type": "string", "enum": ["json", "markdown"]},
                    },
                    {
                        "name": "session_id",
                        "in": "query",
                        "description": "Only this chat (unknown: 404).",
                        "schema": {"type": "string", "format": "uuid", "pattern": UUID_PATTERN},
                    },
                ],
            )
        },
        "/api/import": {
            "post": _op(
                "import_history",
                "Store chats from an export file: RusChat's JSON, ChatGPT's conversations.json, Open WebUI's "
                "or llama.cpp web UI's export (recognised by shape); ids already stored are skipped",
                _json("What was stored (all of it, in one transaction).", ref("ImportResult")),
                (400, 413),
                requestBody={
                    "required": True,
                    "description": "The export file's JSON, as it is (up to `--max-import-mb`).",
                    "content": {"application/json": {"schema": {}}},
                },
            )
        },
        "/v1/chat/completions": {
            "post": _op(
                "chat_completions",
                "OpenAI-compatible chat completion (stateless)",
                stream_or_json,
                (400, 413, 500, 503),
                requestBody=_body("CompletionRequest"),
            )
        },
        "/v1/models": {
            "get": _op("models", "The one model this service runs", _json("OpenAI's model list.", ref("ModelList")))
        },
        "/metrics": {
            "get": _op(
                "metrics",
                "Counters, gauges and histograms in Prometheus' text format (OpenMetrics if asked)",
                {
                    "200": {
                        "description": "`ruschat_requests_total`, `ruschat_answers_total`, "
                        "`ruschat_tokens_generated_total`, `ruschat_prompt_tokens_total`, `ruschat_queue_depth`, "
                        "`ruschat_busy_slots`, `ruschat_slots`, `ruschat_time_to_first_token_seconds`, "
                        "`ruschat_decode_tokens_per_second`.",
                        "content": {
                            "text/plain": {"schema": {"type": "string"}},
                            "application/openmetrics-text": {"schema": {"type": "string"}},
                        },
                    }
                },
            )
        },
        "/ws/status": {
            "get": _op(
                "status_socket",
                "WebSocket: pushes `ServiceInfo` as JSON text whenever it changes, every second while busy",
                {"101": {"description": "Switching to the WebSocket protocol."}},
                (400,),
                **socket_security,
            )
        },
    }


def document(config: ServiceConfig, slots: int | None = None) -> Schema:
    """The OpenAPI 3.1 document of a service configured by ``config`` whose engine has
    ``slots`` (the bound on ``n``; default: the configured ones)."""
    # With a key every operation but the open ones needs it; without one, none does.
    security: dict[str, Any] = {"security": [{"bearer": []}]} if config.api_key else {}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"RusChat {config.label.lower()} service",
            "version": __version__,
            "description": "History, persisted chat streams and an OpenAI-compatible endpoint over one local "
            "model. Every error has one JSON shape (`Error`) with a stable `code` and the HTTP status.",
        },
        "paths": _paths(bool(config.api_key)),
        **security,
        "components": {
            "securitySchemes": SECURITY_SCHEMES,
            "schemas": {**component_schemas(config.limits), **openai_schemas(config.limits, slots or config.slots)},
            "responses": _error_responses(),
        },
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    service = current()
    return jsonify(document(service.config, service.engine.slots))
