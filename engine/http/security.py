"""Who may talk to a service: loopback Host names, the web app's origins, the API key,
bounded bodies."""

from __future__ import annotations

import hmac

from flask import Flask, request
from flask_cors import CORS

from engine.config import ServiceConfig
from engine.http.errors import ApiError


def host_name(host_header: str) -> str:
    """``localhost:8000`` -> ``localhost``; ``[::1]:8000`` -> ``::1``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


IMPORT_PATH = "/api/import"
"""Takes a whole history's export file: its body bound is ``max_import_bytes``."""
OPEN_PATHS = ("/healthz", "/openapi.json")
"""Answered without the API key: liveness, and the API's description (nothing private)."""
STATUS_SOCKET = "/ws/status"
KEY_PARAMETER = "api_key"
"""The query parameter that carries the key to the status WebSocket: browsers cannot set
headers on a WebSocket."""


def presented_key() -> str | None:
    """The key a request carries: ``Authorization: Bearer <key>``, or, for the status
    WebSocket only, ``?api_key=<key>``."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if request.path == STATUS_SOCKET:
        return request.args.get(KEY_PARAMETER)
    return None


def key_matches(presented: str | None, key: str) -> bool:
    """Constant-time comparison: the time taken says nothing of how much of a guess was right."""
    return presented is not None and hmac.compare_digest(presented.encode(), key.encode())


def install(app: Flask, config: ServiceConfig) -> None:
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    allowed_hosts = {h.lower() for h in config.allowed_hosts}
    allowed_origins = set(config.allowed_origins)

    @app.before_request
    def _refuse_foreign_callers() -> None:
        if request.path == IMPORT_PATH:
            request.max_content_length = config.max_import_bytes
        # A page on another site must not drive the model or touch the history, not
        # even by DNS rebinding (a foreign name that resolves to 127.0.0.1).
        if host_name(request.host) not in allowed_hosts:
            raise ApiError(403, "forbidden_host", "this Host is not a local name of the service")
        origin = request.headers.get("Origin")
        if origin is not None and origin.rstrip("/") not in allowed_origins:
            raise ApiError(403, "forbidden_origin", "this origin may not call the service")
        # CORS preflights carry no credentials by design; the request that follows does.
        if (
            config.api_key
            and request.method != "OPTIONS"
            and request.path not in OPEN_PATHS
            and not key_matches(presented_key(), config.api_key)
        ):
            raise ApiError(
                401,
                "unauthorized",
                "a valid API key is required: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": 'Bearer realm="ruschat"'},
            )

    CORS(
        app,
        origins=sorted(allowed_origins),
        methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Content-Type", "Authorization"],
        max_age=600,
    )
