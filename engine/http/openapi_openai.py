"""JSON Schemas of the OpenAI-compatible endpoints (``/v1``), for engine.http.openapi.

The request is OpenAI's chat completion request as this service reads it
(``CompletionRequest.from_dict``); the answers are OpenAI's objects plus our ``ruschat``.
"""

from __future__ import annotations

from engine.http.openapi_schemas import Schema, ref, request_with_params
from shared.fields import UUID_PATTERN
from shared.openai_schemas import MAX_PRIORITY, MAX_TOP_LOGPROBS, RESPONSE_FORMATS
from shared.schemas import FINISH_REASONS, ROLES, Limits


def _logprobs() -> Schema:
    """OpenAI's ``choices[].logprobs``: per token, its log probability and the likeliest ones."""
    alternative: Schema = {
        "type": "object",
        "properties": {
            "token": {"type": "string"},
            "logprob": {"type": "number", "maximum": 0},
            "bytes": {"type": ["array", "null"], "items": {"type": "integer", "minimum": 0, "maximum": 255}},
        },
        "required": ["token", "logprob", "bytes"],
    }
    token = {
        **alternative,
        "properties": {**alternative["properties"], "top_logprobs": {"type": "array", "items": alternative}},
        "required": [*alternative["required"], "top_logprobs"],
    }
    return {
        "type": ["object", "null"],
        "properties": {"content": {"type": ["array", "null"], "items": token}},
    }


def openai_schemas(limits: Limits, slots: int) -> dict[str, Schema]:
    uuid: Schema = {"type": "string", "format": "uuid", "pattern": UUID_PATTERN}
    text_part: Schema = {
        "type": "object",
        "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
        "required": ["type", "text"],
    }
    return {
        "OpenAIMessage": {
            "type": "object",
            "description": "`developer` is a system message; `content` may be a list of text parts (joined).",
            "properties": {
                "role": {"type": "string", "enum": [*ROLES, "developer"]},
                "content": {
                    "anyOf": [
                        {"type": "string", "maxLength": limits.max_message_chars},
                        {"type": "array", "items": text_part},
                        {"type": "null"},
                    ]
                },
            },
            "required": ["role", "content"],
        },
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
                        "items": ref("OpenAIMessage"),
                    },
                    "stream": {"type": "boolean"},
                    "stream_options": {
                        "type": ["object", "null"],
                        "properties": {"include_usage": {"type": "boolean"}},
                    },
                    "n": {"type": ["integer", "null"], "minimum": 1, "maximum": slots},
                    "logprobs": {"type": ["boolean", "null"]},
                    "priority": {
                        "type": ["integer", "null"],
                        "minimum": -MAX_PRIORITY,
                        "maximum": MAX_PRIORITY,
                        "description": "As vLLM's: lower goes first; default 0. Above 0 the request runs in the "
                        "background: it starts only when no other request waits and a slot is free, and gives "
                        "its slot up to one that arrives (it then ends with 503 `preempted`: retry later).",
                    },
                    "cache_prompt": {
                        "type": ["boolean", "null"],
                        "description": "As llama-server's; default true. False: the prompt's KV cache is not "
                        "kept after the answer (not parked, not saved to disk).",
                    },
                    "top_logprobs": {
                        "type": ["integer", "null"],
                        "minimum": 0,
                        "maximum": MAX_TOP_LOGPROBS,
                        "description": "Only with `logprobs: true`.",
                    },
                    "response_format": {
                        "type": ["object", "null"],
                        "properties": {
                            "type": {"type": "string", "enum": list(RESPONSE_FORMATS)},
                            "json_schema": {"type": "object", "properties": {"schema": {"type": "object"}}},
                        },
                        "required": ["type"],
                    },
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
                            "logprobs": _logprobs(),
                        },
                        "required": ["index", "message", "finish_reason"],
                    },
                },
                "usage": ref("Usage"),
                "ruschat": {
                    "type": "object",
                    "properties": {
                        "finish_reason": {"type": "string", "enum": [*FINISH_REASONS, "preempted"]},
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
                "choices": {"type": "array", "description": "Empty in the last chunk of `include_usage`."},
                "usage": {"anyOf": [ref("Usage"), {"type": "null"}]},
                "ruschat": {
                    "type": "object",
                    "properties": {
                        "finish_reason": {"type": "string", "enum": [*FINISH_REASONS, "preempted"]},
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
