"""The stream of an answer: OpenAI's chat-completion chunks, with our additions.

Standard library only, like :mod:`shared.schemas` (whose validation helpers it uses): the
services write these chunks and the page (under Pyodide) reads them with the same code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from shared.fields import SchemaError, integer, json_object, optional_uuid, text
from shared.responses import ErrorInfo


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


LOGPROB_FLOOR = -9999.0
"""OpenAI's log-probability for a token ruled out (JSON has no -Infinity)."""


@dataclass(frozen=True)
class TokenLogprob:
    """One answer token's log-probability (``logprobs.content[]`` of OpenAI's responses)
    and, when asked, the likeliest tokens at its place, likeliest first."""

    token: str
    logprob: float
    bytes: tuple[int, ...]
    top: tuple[TokenLogprob, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "logprob": self.logprob,
            "bytes": list(self.bytes),
            "top_logprobs": [{"token": t.token, "logprob": t.logprob, "bytes": list(t.bytes)} for t in self.top],
        }


def logprobs_of(choice: dict[str, Any]) -> list[TokenLogprob]:
    """The tokens of a streamed choice with their log-probabilities (OpenAI's
    ``logprobs.content``, as llama-server and vLLM send it); what is malformed is skipped."""
    logprobs = choice.get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    entries = []
    for raw in content if isinstance(content, list) else []:
        listed = raw.get("top_logprobs") if isinstance(raw, dict) else None
        top = [_token_logprob(x) for x in listed] if isinstance(listed, list) else []
        entry = _token_logprob(raw, tuple(t for t in top if t is not None))
        if entry is not None:
            entries.append(entry)
    return entries


def _token_logprob(raw: Any, top: tuple[TokenLogprob, ...] = ()) -> TokenLogprob | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("token"), str):
        return None
    logprob = raw.get("logprob")
    if isinstance(logprob, bool) or not isinstance(logprob, (int, float)):
        return None
    data = raw.get("bytes")
    if isinstance(data, list) and all(isinstance(b, int) and 0 <= b < 256 for b in data):
        raw_bytes = tuple(data)
    else:  # null where a server leaves them out
        raw_bytes = tuple(raw["token"].encode())
    return TokenLogprob(raw["token"], max(float(logprob), LOGPROB_FLOOR), raw_bytes, top)


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent waiting in the queue and until the first token; decode speed."""

    queue_ms: float = 0.0
    ttft_ms: float = 0.0
    total_ms: float = 0.0
    tokens_per_second: float = 0.0
    cached_prompt_tokens: int = 0


@dataclass(frozen=True)
class ContextInfo:
    """How much of the model's context an answer's prompt fills, and what it leaves out
    (``ruschat.context`` of the first and the final chunk of ``POST /api/chat``)."""

    used: int
    """Prompt tokens."""
    size: int
    """The model's context size in tokens."""
    policy: str = "window"
    visible_from: str | None = None
    """The first branch message the model sees; None when it sees them all."""
    summary_id: str | None = None
    """The summary sent in place of the messages before ``visible_from``, if any."""
    note: str | None = None
    """Why the policy could not be followed (e.g. the summariser is unreachable)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ContextInfo:
        data = json_object(data, "context")
        return cls(
            used=integer(data, "used", 0, 0, 10**7),
            size=integer(data, "size", 0, 0, 10**7),
            policy=text(data, "policy", optional=True) or "window",
            visible_from=optional_uuid(data, "visible_from"),
            summary_id=optional_uuid(data, "summary_id"),
            note=text(data, "note", optional=True),
        )


@dataclass(frozen=True)
class StreamDelta:
    """What a client reads out of one ``chat.completion.chunk`` event."""

    content: str = ""
    finish_reason: str | None = None
    message_id: str | None = None
    model: str | None = None
    usage: Usage | None = None
    timings: Timings | None = None
    error: ErrorInfo | None = None
    context: ContextInfo | None = None


def completion_chunk(
    completion_id: str,
    created: int,
    model: str,
    *,
    content: str | None = None,
    role: str | None = None,
    finish_reason: str | None = None,
    index: int = 0,
    logprobs: Iterable[TokenLogprob] | None = None,
) -> dict[str, Any]:
    """One OpenAI ``chat.completion.chunk`` object, of choice ``index``."""
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    choice: dict[str, Any] = {"index": index, "delta": delta, "finish_reason": finish_reason}
    if logprobs is not None:
        choice["logprobs"] = {"content": [entry.to_dict() for entry in logprobs]}
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [choice],
    }


def usage_chunk(completion_id: str, created: int, model: str, usage: Usage) -> dict[str, Any]:
    """The chunk after the last choice's when a client asks ``stream_options.include_usage``."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage.to_dict(),
    }


def openai_finish_reason(reason: str) -> str:
    """OpenAI knows only stop/length; a cancelled or failed answer stopped early."""
    return reason if reason in ("stop", "length") else "stop"


def final_chunk(
    completion_id: str,
    created: int,
    model: str,
    *,
    finish_reason: str,
    usage: Usage,
    timings: Timings,
    message_id: str | None = None,
    session_id: str | None = None,
    error: ErrorInfo | None = None,
    context: ContextInfo | None = None,
    index: int = 0,
    with_usage: bool = True,
) -> dict[str, Any]:
    """The last chunk (of choice ``index``): OpenAI fields plus our own under ``ruschat``.

    ``with_usage`` False: ``usage`` is null, because a usage chunk follows (OpenAI's
    ``stream_options.include_usage``) and clients add up every usage they read."""
    chunk = completion_chunk(
        completion_id, created, model, finish_reason=openai_finish_reason(finish_reason), index=index
    )
    chunk["usage"] = usage.to_dict() if with_usage else None
    extra: dict[str, Any] = {"finish_reason": finish_reason, "timings": asdict(timings)}
    if message_id is not None:
        extra["message_id"] = message_id
    if session_id is not None:
        extra["session_id"] = session_id
    if error is not None:
        extra["error"] = error.to_dict()["error"]
    if context is not None:
        extra["context"] = context.to_dict()
    chunk["ruschat"] = extra
    return chunk


def parse_chunk(data: Any) -> StreamDelta:
    """Read one decoded SSE ``data:`` JSON object of a chat stream."""
    data = json_object(data, "chunk")
    if "error" in data and "choices" not in data:
        return StreamDelta(finish_reason="error", error=ErrorInfo.from_dict(data))
    choices = data.get("choices")
    if not isinstance(choices, list):
        raise SchemaError("'choices' must be a list", field="choices")
    content, finish = "", None
    if choices:
        choice = json_object(choices[0], "choices[0]")
        delta = json_object(choice.get("delta") or {}, "delta")
        content = text(delta, "content", optional=True) or ""
        finish = text(choice, "finish_reason", optional=True)
    extra = data.get("ruschat")
    usage = timings = error = context = None
    message_id = None
    if isinstance(extra, Mapping):
        finish = text(extra, "finish_reason", optional=True) or finish
        message_id = text(extra, "message_id", optional=True)
        raw_timings = extra.get("timings")
        if isinstance(raw_timings, Mapping):
            known = {k: raw_timings[k] for k in Timings.__dataclass_fields__ if k in raw_timings}
            timings = Timings(**known)
        if isinstance(extra.get("error"), Mapping):
            error = ErrorInfo.from_dict({"error": extra["error"]})
        if isinstance(extra.get("context"), Mapping):
            context = ContextInfo.from_dict(extra["context"])
    raw_usage = data.get("usage")
    if isinstance(raw_usage, Mapping):
        usage = Usage(int(raw_usage.get("prompt_tokens", 0)), int(raw_usage.get("completion_tokens", 0)))
    return StreamDelta(
        content=content,
        finish_reason=finish,
        message_id=message_id,
        model=text(data, "model", optional=True),
        usage=usage,
        timings=timings,
        error=error,
        context=context,
    )
