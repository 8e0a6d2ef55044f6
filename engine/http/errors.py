"""The one error shape of both services, registered once on the Flask app."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from engine.chat.turns import AnswerBusy, AnswerNotFound
from engine.inference.protocol import CannotContinue, PromptTooLong
from engine.scheduling.status import QueueFull
from engine.store.search import SearchQueryError
from engine.store.storage import ConflictError
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

# What the layers below HTTP raise, as (status, code, param): the one place where a domain
# exception becomes the error shape.
DOMAIN_ERRORS: dict[type[Exception], tuple[int, str, str | None]] = {
    PromptTooLong: (422, "context_length_exceeded", None),
    CannotContinue: (422, "cannot_continue", None),
    ConflictError: (409, "id_conflict", None),
    AnswerNotFound: (404, "message_not_found", None),
    AnswerBusy: (409, "answer_generating", None),
    SearchQueryError: (400, "invalid_query", "q"),
}
# OpenAI's API answers an over-long prompt with 400 (on which OpenAI clients trim their
# history), where /api/chat answers 422.
OPENAI_ERRORS: dict[type[Exception], tuple[int, str, str | None]] = {
    PromptTooLong: (400, "context_length_exceeded", "messages"),
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

    def _domain_error(error: Exception) -> Response:
        table = OPENAI_ERRORS if request.blueprint == "openai" else {}
        kind = next(k for k in type(error).__mro__ if k in table or k in DOMAIN_ERRORS)
        status, code, param = table.get(kind) or DOMAIN_ERRORS[kind]
        return error_response(ErrorInfo(code=code, message=str(error), status=status, param=param))

    for kind in DOMAIN_ERRORS:
        app.register_error_handler(kind, _domain_error)

    @app.errorhandler(QueueFull)
    def _queue_full(error: QueueFull) -> Response:
        return error_response(ErrorInfo(code="queue_full", message=str(error), status=503), error.retry_after)

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
