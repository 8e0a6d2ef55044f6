"""JSON Schemas of the wire objects, for the OpenAPI document (engine.http.openapi).

The objects the services return are derived from the dataclasses of ``shared.schemas``
(their fields and types), its enums and the service's limits, so the document follows
the code. Request bodies are written out (their rules live in ``from_dict``); the unit
tests probe ``from_dict`` at each documented bound so that they cannot drift either.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from shared.chunks import ContextInfo, Timings
from shared.fields import UUID_PATTERN
from shared.history import MAX_FORGET
from shared.responses import SERVICE_STATES, THREAD_REASONS, ServiceInfo
from shared.schemas import (
    CONTEXT_POLICIES,
    FINISH_REASONS,
    MAX_STOP_CHARS,
    MAX_STOPS,
    MAX_TOKENS_ASKED,
    ROLES,
    TITLE_SOURCES,
    GenerationParams,
    Limits,
    Message,
    Summary,
)

Schema = dict[str, Any]

ERROR_TYPES = (
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "overloaded_error",
    "server_error",
)
"""``ErrorInfo.type`` by status (OpenAI's error types)."""

NUMBER_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "min_p": (0.0, 1.0),
    "repeat_penalty": (0.5, 2.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}
"""The sampling numbers ``GenerationParams.from_dict`` accepts (pinned by a unit test)."""

NOT_BLANK = "[^" + "".join(c for c in map(chr, range(0x3001)) if c.isspace()) + "]"
"""A character Python's ``str.strip`` keeps (none is above U+3000): a title needs one."""

_SCALARS: dict[str, Schema] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _annotation(annotation: str) -> Schema:
    """The schema of a dataclass field's annotation (a string: postponed annotations)."""
    parts = [part.strip() for part in annotation.split("|")]
    nullable = "None" in parts
    parts = [part for part in parts if part != "None"]
    schema = dict(_SCALARS.get(parts[0], {})) if len(parts) == 1 else {}
    if nullable and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    return schema


def from_dataclass(cls: type, **overrides: Schema) -> Schema:
    """An object schema with a property per field of ``cls``; all of them present."""
    properties = {f.name: overrides.get(f.name, _annotation(str(f.type))) for f in dataclasses.fields(cls)}
    return {"type": "object", "properties": properties, "required": list(properties)}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def generation_properties(limits: Limits) -> dict[str, Schema]:
    """The sampling options of ``POST /api/chat``, ``/v1/chat/completions`` and settings."""
    properties: dict[str, Schema] = {"max_tokens": max_tokens(limits), "max_completion_tokens": max_tokens(limits)}
    for name, (low, high) in NUMBER_RANGES.items():
        properties[name] = {"type": ["number", "null"], "minimum": low, "maximum": high}
    stop_text: Schema = {"type": "string", "maxLength": MAX_STOP_CHARS}
    properties["stop"] = {
        "description": "Generation ends where one of these appears (not included in the answer).",
        "anyOf": [stop_text, {"type": "array", "maxItems": MAX_STOPS, "items": stop_text}, {"type": "null"}],
    }
    properties["seed"] = {
        "type": ["integer", "null"],
        "minimum": -(2**63),
        "maximum": 2**64 - 1,
        "description": "Same seed, parameters and prompt: the same answer.",
    }
    return properties


def max_tokens(limits: Limits) -> Schema:
    """Any count may be asked: the answer is capped by the room left in the context (and
    by the service's ``--max-tokens``); ``limits.max_tokens`` is only the default's bound."""
    return {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_TOKENS_ASKED}


def request_with_params(schema: Schema, limits: Limits) -> Schema:
    """A request body with the sampling options: ``max_tokens`` counts only without
    ``max_completion_tokens`` (OpenAI's newer name for it), as GenerationParams reads them."""
    properties = {**schema["properties"], **generation_properties(limits)}
    properties["max_tokens"] = {"description": "Ignored when `max_completion_tokens` is given."}
    return {
        **schema,
        "properties": properties,
        "if": {"properties": {"max_completion_tokens": {"type": "integer"}}, "required": ["max_completion_tokens"]},
        "else": {"properties": {"max_tokens": max_tokens(limits)}},
    }


def settings_schema(limits: Limits) -> Schema:
    """``ChatSettings.to_dict``: the system prompt, the sampling options, the context policy."""
    properties: dict[str, Schema] = {"system": {"type": "string"}}
    stored = set(GenerationParams.CHAT_FIELDS)
    for f in dataclasses.fields(GenerationParams):
        if f.name in stored:
            properties[f.name] = _annotation(str(f.type))
    properties["stop"] = {"type": "array", "items": {"type": "string"}}
    properties["context"] = {"type": "string", "enum": list(CONTEXT_POLICIES)}
    return {"type": "object", "properties": properties, "required": list(properties)}


def settings_input(limits: Limits) -> Schema:
    properties: dict[str, Schema] = {
        "system": {"type": ["string", "null"], "maxLength": limits.max_message_chars},
        "context": {"type": ["string", "null"], "enum": [*CONTEXT_POLICIES, None]},
    }
    return request_with_params({"type": "object", "properties": properties}, limits)


def _json_text(schema: Schema) -> Schema:
    """A string holding JSON that ``schema`` describes (an SSE ``data`` field)."""
    return {"type": "string", "contentMediaType": "application/json", "contentSchema": schema}


def stream_event() -> Schema:
    """One Server-Sent Event of a chat stream, as OpenAPI 3.1 tools read ``text/event-stream``:
    ``data:`` chunks (``ChatCompletionChunk``), ``event: status`` and the final ``[DONE]``."""
    chunk_or_done: Schema = {
        "if": {"properties": {"data": {"const": "[DONE]"}}},
        "else": {"properties": {"data": _json_text(ref("ChatCompletionChunk"))}},
    }
    return {
        "type": "object",
        "properties": {"event": {"type": "string", "enum": ["message", "status"]}, "data": {"type": "string"}},
        "required": ["data"],
        "if": {"properties": {"event": {"const": "status"}}, "required": ["event"]},
        "then": {"properties": {"data": _json_text(ref("StatusEvent"))}},
        "else": chunk_or_done,
    }


def search_hit(uuid: Schema) -> Schema:
    span: Schema = {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2}
    properties: dict[str, Schema] = {
        "session_id": uuid,
        "message_id": uuid,
        "role": {"type": "string", "enum": list(ROLES)},
        "snippet": {"type": "string", "description": "Plain text around the match (never HTML)."},
        "marks": {"type": "array", "items": span, "description": "`[start, end)` spans of the snippet that matched."},
        "title": {"type": "string", "description": "The chat's title."},
        "created_at": {"type": "number"},
        "rank": {"type": "number", "description": "Higher is better (0 without a full-text index)."},
    }
    return {"type": "object", "properties": properties, "required": list(properties)}


def component_schemas(limits: Limits) -> dict[str, Schema]:
    """RusChat's own objects (those of ``/v1`` are in engine.http.openapi_openai)."""
    session_fields: dict[str, Schema] = {
        "id": {"type": "string", "format": "uuid", "pattern": UUID_PATTERN},
        "title": {"type": "string"},
        "title_source": {
            "type": "string",
            "enum": list(TITLE_SOURCES),
            "description": "Who titled the chat: `opening` (its first question's words), `model` (the fast "
            "model, after the first answer) or `user` (a rename; a model's title never replaces it).",
        },
        "created_at": {"type": "number"},
        "updated_at": {"type": "number"},
        "message_count": {"type": "integer", "minimum": 0},
        "settings": _nullable(ref("Settings")),
        "settings_updated_at": {"type": "number"},
    }
    uuid: Schema = {"type": "string", "format": "uuid", "pattern": UUID_PATTERN}
    timings = from_dataclass(Timings)
    counts = ("prompt_tokens", "completion_tokens", "total_tokens")
    usage: Schema = {
        "type": "object",
        "properties": {name: {"type": "integer", "minimum": 0} for name in counts},
        "required": list(counts),
    }
    return {
        "Error": {
            "type": "object",
            "description": "The one error shape of every endpoint.",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string", "description": "Stable, machine-readable."},
                        "message": {"type": "string"},
                        "type": {"type": "string", "enum": list(ERROR_TYPES)},
                        "status": {"type": "integer", "minimum": 400, "maximum": 599},
                        "param": {"type": ["string", "null"], "description": "The request field at fault."},
                    },
                    "required": ["code", "message", "type", "status"],
                    "additionalProperties": False,
                }
            },
            "required": ["error"],
            "additionalProperties": False,
        },
        "Health": {
            "type": "object",
            "properties": {"status": {"const": "ok"}},
            "required": ["status"],
        },
        "ServiceInfo": from_dataclass(
            ServiceInfo,
            state={"type": "string", "enum": list(SERVICE_STATES)},
            threads_reason={"type": "string", "description": f"One of {', '.join(THREAD_REASONS)} (or a newer one)."},
        ),
        "Settings": settings_schema(limits),
        "SettingsInput": settings_input(limits),
        "Message": from_dataclass(
            Message,
            id=uuid,
            session_id=uuid,
            parent_id={"type": ["string", "null"], "format": "uuid", "pattern": UUID_PATTERN},
            window_from={"type": ["string", "null"], "format": "uuid", "pattern": UUID_PATTERN},
            role={"type": "string", "enum": list(ROLES)},
            finish_reason={"type": ["string", "null"], "enum": [*FINISH_REASONS, None]},
        ),
        "Summary": from_dataclass(Summary, id=uuid, session_id=uuid, through_id=uuid),
        "SessionListItem": {"type": "object", "properties": session_fields, "required": list(session_fields)},
        "SessionList": {
            "type": "object",
            "properties": {
                "sessions": {"type": "array", "items": ref("SessionListItem")},
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": "Pass as `cursor` for the next page; null on the last page.",
                },
                "tombstones": {
                    "type": "array",
                    "description": "The chats deleted on this service, newest deletion first (first page only).",
                    "items": {
                        "type": "object",
                        "properties": {"session_id": uuid, "deleted_at": {"type": "number"}},
                        "required": ["session_id", "deleted_at"],
                    },
                },
            },
            "required": ["sessions", "next_cursor"],
        },
        "SearchResults": {
            "type": "object",
            "properties": {"hits": {"type": "array", "items": search_hit(uuid)}},
            "required": ["hits"],
        },
        "Session": {
            "type": "object",
            "properties": {
                **session_fields,
                "messages": {"type": "array", "items": ref("Message")},
                "summaries": {"type": "array", "items": ref("Summary")},
            },
            "required": [*session_fields, "messages", "summaries"],
        },
        "ExportFile": {
            "type": "object",
            "description": "RusChat's lossless export: every chat whole (its tree, settings, summaries).",
            "properties": {
                "format": {"type": "string", "const": "ruschat"},
                "version": {"type": "integer", "minimum": 1},
                "exported_at": {"type": "number"},
                "sessions": {"type": "array", "items": ref("Session")},
            },
            "required": ["format", "version", "exported_at", "sessions"],
        },
        "ImportResult": {
            "type": "object",
            "description": "`skipped`: chats and messages already stored, and messages of roles not kept.",
            "properties": {
                "format": {"type": "string", "enum": ["ruschat", "chatgpt", "openwebui", "llamacpp"]},
                **{k: {"type": "integer", "minimum": 0} for k in ("imported_sessions", "imported_messages", "skipped")},
            },
            "required": ["format", "imported_sessions", "imported_messages", "skipped"],
        },
        "ForgetTombstones": {
            "type": "object",
            "properties": {
                "session_ids": {
                    "type": "array",
                    "maxItems": MAX_FORGET,
                    "items": {"type": "string", "format": "uuid", "pattern": UUID_PATTERN},
                }
            },
            "required": ["session_ids"],
        },
        "Forgotten": {
            "type": "object",
            "properties": {"forgotten": {"type": "integer", "minimum": 0}},
            "required": ["forgotten"],
        },
        "SessionPatch": {
            "type": "object",
            "description": "A new title (not blank), new settings (replacing the chat's), or both.",
            "properties": {
                "title": {"type": ["string", "null"], "maxLength": limits.max_title_chars, "pattern": NOT_BLANK},
                "settings": {"anyOf": [ref("SettingsInput"), {"type": "null"}]},
            },
            "anyOf": [
                {"properties": {"title": {"type": "string"}}, "required": ["title"]},
                {"properties": {"settings": {"type": "object"}}, "required": ["settings"]},
            ],
        },
        "ChatMessage": {
            "type": "object",
            "properties": {
                "id": {
                    "type": ["string", "null"],
                    "format": "uuid",
                    "pattern": UUID_PATTERN,
                    "description": "Made by the client.",
                },
                "role": {"type": "string", "enum": list(ROLES)},
                "content": {"type": "string", "maxLength": limits.max_message_chars},
            },
            "required": ["role", "content"],
        },
        "ChatRequest": request_with_params(
            {
                "type": "object",
                "description": "The branch being answered, root first; the last message is the question "
                "(or, with `continue`, the stored answer to resume).",
                "properties": {
                    "session_id": uuid,
                    "messages": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": limits.max_messages,
                        "items": ref("ChatMessage"),
                    },
                    "system": {"type": ["string", "null"], "maxLength": limits.max_message_chars},
                    "context": {"type": ["string", "null"], "enum": [*CONTEXT_POLICIES, None]},
                    "continue": {"type": "boolean"},
                },
                "required": ["session_id", "messages"],
            },
            limits,
        ),
        "Usage": usage,
        "Timings": timings,
        "ContextInfo": from_dataclass(
            ContextInfo,
            policy={"type": "string", "enum": list(CONTEXT_POLICIES)},
            visible_from={"type": ["string", "null"], "format": "uuid", "pattern": UUID_PATTERN},
            summary_id={"type": ["string", "null"], "format": "uuid", "pattern": UUID_PATTERN},
        ),
        "StatusEvent": {
            "type": "object",
            "description": "`event: status` of `POST /api/chat`: waiting in the queue, then generating.",
            "properties": {
                "state": {"type": "string", "enum": ["queued", "generating"]},
                "position": {"type": "integer", "minimum": 1},
                "queue_ms": {"type": "number", "minimum": 0},
            },
            "required": ["state"],
        },
        "StreamEvent": stream_event(),
    }
