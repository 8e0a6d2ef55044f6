"""What the services answer besides chats and their streams: the one error shape of every
endpoint, and ``GET /api/info``. Standard library only (the page imports it under Pyodide).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from shared.fields import SchemaError, integer, json_object, number, text

SERVICE_STATES = ("idle", "busy")
THREAD_REASONS = ("idle", "alone", "sharing", "foreign_load")
"""Why a service runs the threads it runs: nothing to do; the whole budget; sharing the
cores with another RusChat service; leaving cores to other programs."""


@dataclass(frozen=True)
class ErrorInfo:
    """The one error shape of every endpoint: ``{"error": {"code", "message", "type",
    "param", "status"}}``.

    ``type`` follows OpenAI's error types so that OpenAI clients raise the right exception;
    ``param`` names the request field at fault, or is null (as OpenAI's).
    """

    code: str
    message: str
    status: int = 400
    param: str | None = None

    @property
    def type(self) -> str:
        if self.status == 404:
            return "not_found_error"
        if self.status == 503:
            return "overloaded_error"
        if self.status >= 500:
            return "server_error"
        if self.status == 403:
            return "permission_error"
        if self.status == 401:
            return "authentication_error"
        return "invalid_request_error"

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "status": self.status,
            }
        }

    @classmethod
    def from_dict(cls, data: Any) -> ErrorInfo:
        body = json_object(json_object(data, "body").get("error"), "error")
        return cls(
            code=text(body, "code") or "",
            message=text(body, "message") or "",
            status=integer(body, "status", 500, 100, 599),
            param=text(body, "param", optional=True),
        )


@dataclass(frozen=True)
class ServiceInfo:
    """``GET /api/info``: what a service runs and how busy it is."""

    service: str
    label: str
    model: str
    model_file: str
    context_size: int
    state: str
    queue_depth: int
    max_queue: int
    tokens_per_second: float = 0.0
    version: str = ""
    slots: int = 1
    """Chats the service generates at once."""
    threads: int = 0
    """CPU threads generating now (0 while idle)."""
    max_threads: int = 0
    """The most it will use (``--threads``)."""
    threads_reason: str = "idle"
    """One of THREAD_REASONS (others are passed through: a newer service may add one)."""
    engine: str = "local"
    """``local`` (a GGUF in the service's process) or ``remote`` (an upstream server)."""
    degraded: str | None = None
    """Why the service cannot generate now (its upstream engine is unreachable), or None."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ServiceInfo:
        data = json_object(data, "info")
        state = text(data, "state")
        if state not in SERVICE_STATES:
            raise SchemaError("'state' must be idle or busy", field="state")
        return cls(
            service=text(data, "service") or "",
            label=text(data, "label") or "",
            model=text(data, "model") or "",
            model_file=text(data, "model_file") or "",
            context_size=integer(data, "context_size", 0, 0, 10**7),
            state=state,
            queue_depth=integer(data, "queue_depth", 0, 0, 10**6),
            max_queue=integer(data, "max_queue", 0, 0, 10**6),
            tokens_per_second=number(data, "tokens_per_second", 0.0, 0.0, math.inf),
            version=text(data, "version", optional=True) or "",
            slots=integer(data, "slots", 1, 1, 10**4),
            threads=integer(data, "threads", 0, 0, 10**4),
            max_threads=integer(data, "max_threads", 0, 0, 10**4),
            # A reason a newer service adds must not make the page think it is down.
            threads_reason=text(data, "threads_reason", optional=True) or "idle",
            engine=text(data, "engine", optional=True) or "local",
            degraded=text(data, "degraded", optional=True),
        )
