"""The one error shape of both services, registered once on the Flask app."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from shared.responses import ErrorInfo
from shared.schemas import SchemaError

log = logging.getLogger(__name__)

# Stable codes for the HTTP errors Werkzeug raises on its own.
_HTTP_CODES = {
    400: "invalid_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    """An error a client should see: stable ``code``, HTTP ``status``, a clear message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retry_after: int | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.info = ErrorInfo(code=code, message=message, status=status, param=param)
        self.retry_after = retry_after
        self.headers = headers or {}


def error_response(info: ErrorInfo, retry_after: int | None = None) -> Response:
    response = jsonify(info.to_dict())
    response.status_code = info.status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        response = error_response(error.info, error.retry_after)
        response.headers.update(error.headers)
        return response

    @app.errorhandler(SchemaError)
    def _schema_error(error: SchemaError) -> Response:
        return error_response(ErrorInfo(code=error.code, message=error.message, status=error.status, param=error.field))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        message = error.description or error.name
        if status == 413:
            message = "request body is too large"
        response = error_response(ErrorInfo(code=code, message=message, status=status))
        allow = dict(error.get_headers()).get("Allow")
        if allow is not None:  # a 405 names the methods the path supports (RFC 9110)
            response.headers["Allow"] = allow
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        # The traceback goes to the log, never to the client.
        log.exception("unhandled error")
        return error_response(ErrorInfo(code="internal_error", message="internal server error", status=500))
