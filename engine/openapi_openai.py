"""JSON Schemas of the OpenAI-compatible endpoints (``/v1``), for engine.openapi.

The request is OpenAI's chat completion request as this service reads it
(``CompletionRequest.from_dict``); the answers are OpenAI's objects plus our ``ruschat``.
"""

from __future__ import annotations

from engine.openapi_schemas import Schema, ref, request_with_params
from shared.schemas import FINISH_REASONS, UUID_PATTERN, Limits


def openai_schemas(limits: Limits) -> dict[str, Schema]:
    uuid: Schema = {"type": "string", "format": "uuid", "pattern": UUID_PATTERN}
    return {
        "CompletionRequest": request_with_params(
            {
                "type": "object",
                "description": "OpenAI's chat completion request: the parameters listed are honoured, others ignored.",
                "properties": {
                    "model": {"type": ["string", "null"], "description": "Ignored: the service runs one model."},
                    "messages": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": limits.max_messages,
                        "items": ref("ChatMessage"),
                    },
                    "stream": {"type": "boolean"},
                    "stream_options": {"type": ["object", "null"]},
                },
                "required": ["messages"],
            },
            limits,
        ),
        "ChatCompletion": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "object": {"const": "chat.completion"},
                "created": {"type": "integer"},
                "model": {"type": "string"},
                "choices": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "index": {"type": "integer"},
                            "message": {
                                "type": "object",
                                "properties": {"role": {"const": "assistant"}, "content": {"type": "string"}},
                                "required": ["role", "content"],
                            },
                            "finish_reason": {"type": "string", "enum": ["stop", "length"]},
                        },
                        "required": ["index", "message", "finish_reason"],
                    },
                },
                "usage": ref("Usage"),
                "ruschat": {
                    "type": "object",
                    "properties": {
                        "finish_reason": {"type": "string", "enum": list(FINISH_REASONS)},
                        "timings": ref("Timings"),
                    },
                },
            },
            "required": ["id", "object", "created", "model", "choices", "usage"],
        },
        "ChatCompletionChunk": {
            "type": "object",
            "description": "One `data:` event of a stream (OpenAI's chunk format); the final one adds "
            "`usage` and, under `ruschat`, the finish reason, timings, ids and context.",
            "properties": {
                "id": {"type": "string"},
                "object": {"const": "chat.completion.chunk"},
                "created": {"type": "integer"},
                "model": {"type": "string"},
                "choices": {"type": "array"},
                "usage": ref("Usage"),
                "ruschat": {
                    "type": "object",
                    "properties": {
                        "finish_reason": {"type": "string", "enum": list(FINISH_REASONS)},
                        "message_id": uuid,
                        "session_id": uuid,
                        "timings": ref("Timings"),
                        "context": ref("ContextInfo"),
                        "error": {"type": "object"},
                    },
                },
            },
            "required": ["id", "object", "created", "model", "choices"],
        },
        "ModelList": {
            "type": "object",
            "properties": {
                "object": {"const": "list"},
                "data": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string"},
                            "object": {"const": "model"},
                            "created": {"type": "integer"},
                            "owned_by": {"type": "string"},
                        },
                        "required": ["id", "object", "created", "owned_by"],
                    },
                },
            },
            "required": ["object", "data"],
        },
    }
