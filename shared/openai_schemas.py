"""The OpenAI-compatible request (``POST /v1/chat/completions``) as we read it: the
subset we honour, validated; unknown fields ignored, as OpenAI-compatible servers do.

Standard library only, like the rest of ``shared/``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from shared.fields import integer, json_object, text
from shared.schemas import DEFAULT_LIMITS, ChatMessage, GenerationParams, Limits, SchemaError, _messages

RESPONSE_FORMATS = ("text", "json_object", "json_schema")
"""OpenAI's ``response_format`` types: free text, any JSON object, JSON of a given schema."""
MAX_TOP_LOGPROBS = 20
MAX_PRIORITY = 2**31 - 1
"""vLLM's bound on ``priority``."""


def _openai_message(data: Any, where: str) -> dict[str, Any]:
    """An OpenAI message in our terms: the ``developer`` role is a system message, and
    ``content`` given as a list of text parts (LangChain, agent SDKs) is their text joined."""
    data = dict(json_object(data, where))
    if data.get("role") == "developer":
        data["role"] = "system"
    content = data.get("content")
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            part = json_object(part, f"{where}.content[{i}]")
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise SchemaError("only text content parts are supported", field="content")
            texts.append(part["text"])
        data["content"] = "\n".join(texts)
    elif content is None and data.get("role") == "assistant":
        data["content"] = ""  # an assistant turn that only called tools
    return data


@dataclass(frozen=True)
class ResponseFormat:
    """OpenAI's ``response_format``: ``text``, ``json_object`` or ``json_schema`` (with
    the schema as JSON text; None: any JSON object)."""

    type: str = "text"
    schema: str | None = None

    @classmethod
    def from_dict(cls, data: Any) -> ResponseFormat:
        if data is None:
            return cls()
        data = json_object(data, "response_format")
        kind = text(data, "type")
        if kind not in RESPONSE_FORMATS:
            raise SchemaError(f"'response_format.type' must be one of {', '.join(RESPONSE_FORMATS)}", field="type")
        if kind != "json_schema":
            return cls(kind)
        spec = json_object(data.get("json_schema"), "json_schema")
        schema = spec.get("schema")
        if schema is None:
            return cls(kind)
        return cls(kind, json.dumps(json_object(schema, "schema"), sort_keys=True))


@dataclass(frozen=True)
class CompletionRequest:
    """Body of the OpenAI-compatible ``POST /v1/chat/completions`` (the subset we honour;
    unknown fields are ignored, as OpenAI-compatible servers do)."""

    messages: tuple[ChatMessage, ...]
    params: GenerationParams
    stream: bool = False
    include_usage: bool = False
    model: str | None = None
    n: int = 1
    """Answers to the same prompt, generated side by side (at most the service's slots)."""
    response_format: ResponseFormat = field(default_factory=ResponseFormat)
    logprobs: bool = False
    priority: int = 0
    """As vLLM's: lower goes first. Above 0 the request runs in the background: only when no
    other request waits, giving its slot up to any that arrives (503 ``preempted``)."""

    cache_prompt: bool = True
    """As llama-server's: keep the prompt's KV cache for a later request that starts the
    same way. False for a text this service must not keep (another service's chat, sent for
    a summary: deleting that chat could not reach this cache)."""

    @property
    def background(self) -> bool:
        return self.priority > 0

    @classmethod
    def from_dict(cls, data: Any, limits: Limits = DEFAULT_LIMITS) -> CompletionRequest:
        data = json_object(data, "body")
        stream = _bool(data, "stream")
        options = data.get("stream_options")
        options = {} if options is None else json_object(options, "stream_options")  # false, "" or [] too
        raw = data.get("messages")
        if isinstance(raw, list):
            data = {**data, "messages": [_openai_message(m, f"messages[{i}]") for i, m in enumerate(raw)]}
        logprobs = _bool(data, "logprobs")
        top = data.get("top_logprobs")
        if top is not None and not logprobs:
            raise SchemaError("'top_logprobs' requires 'logprobs': true", field="top_logprobs")
        params = GenerationParams.from_dict(data, limits)
        if logprobs:
            params = replace(params, top_logprobs=integer(data, "top_logprobs", 0, 0, MAX_TOP_LOGPROBS))
        return cls(
            messages=_messages(data, limits),
            params=params,
            stream=stream,
            include_usage=_bool(options, "include_usage"),
            model=text(data, "model", optional=True),
            n=integer(data, "n", 1, 1, 128),
            response_format=ResponseFormat.from_dict(data.get("response_format")),
            logprobs=logprobs,
            priority=integer(data, "priority", 0, -MAX_PRIORITY, MAX_PRIORITY),
            cache_prompt=_bool(data, "cache_prompt", default=True),
        )


def _bool(data: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise SchemaError(f"'{key}' must be a boolean", field=key)
    return value
