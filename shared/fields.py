"""Reading JSON into typed values: each helper checks one field and raises
:class:`SchemaError` naming it. Standard library only (the page imports it under Pyodide).
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from typing import Any


class SchemaError(ValueError):
    """Input that does not match the wire contract.

    ``code`` is a stable machine-readable string; ``status`` the HTTP status a service
    answers with (400 malformed, 413 too large).
    """

    def __init__(
        self, message: str, *, field: str | None = None, code: str = "invalid_request", status: int = 400
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code
        self.status = status


def json_object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise SchemaError(f"{what} must be a JSON object", field=what)
    return data


def text(data: Mapping[str, Any], key: str, *, optional: bool = False, max_chars: int | None = None) -> str | None:
    value = data.get(key)
    if value is None:
        if optional:
            return None
        raise SchemaError(f"'{key}' is required", field=key)
    if not isinstance(value, str):
        raise SchemaError(f"'{key}' must be a string", field=key)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") is valid JSON but not text
        raise SchemaError(f"'{key}' is not valid Unicode text (lone surrogate)", field=key) from None
    if max_chars is not None and len(value) > max_chars:
        raise SchemaError(f"'{key}' is longer than {max_chars} characters", field=key, code="too_large", status=413)
    return value


def number(data: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = data.get(key)
    if value is None:
        return default
    # bool is an int in Python, but `true` is not a temperature.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SchemaError(f"'{key}' must be a number", field=key)
    # An int compares exactly however long it is; float() of a 400-digit one overflows.
    if isinstance(value, float) and not math.isfinite(value):
        raise SchemaError(f"'{key}' must be a finite number", field=key)
    if not low <= value <= high:
        raise SchemaError(f"'{key}' must be between {low} and {high}", field=key)
    try:
        return float(value)
    except OverflowError:  # an int beyond float's range under an unbounded ``high``
        raise SchemaError(f"'{key}' is too large", field=key) from None


def integer(data: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = data.get(key)
    if value is None:
        return default
    # JSON has one number type: 64.0 is the integer 64, as JSON Schema reads it too.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SchemaError(f"'{key}' must be an integer", field=key)
    if not low <= value <= high:
        raise SchemaError(f"'{key}' must be between {low} and {high}", field=key)
    return value


def choice(data: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str | None:
    value = text(data, key, optional=True)
    if value is not None and value not in choices:
        raise SchemaError(f"'{key}' must be one of {', '.join(choices)}", field=key)
    return value


def optional_uuid(data: Mapping[str, Any], key: str) -> str | None:
    return None if data.get(key) is None else check_uuid(data.get(key), key)


UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
"""A UUID in its standard 8-4-4-4-12 form, in either case (the form ids cross the wire in)."""


def check_uuid(value: Any, key: str) -> str:
    """Return ``value`` in canonical (lower-case) UUID form, or raise SchemaError."""
    if not isinstance(value, str):
        raise SchemaError(f"'{key}' must be a UUID string", field=key)
    # uuid.UUID alone also takes braces, "urn:uuid:" and hyphens anywhere.
    if re.fullmatch(UUID_PATTERN, value) is None:
        raise SchemaError(f"'{key}' is not a valid UUID", field=key)
    return str(uuid.UUID(value))


def new_id() -> str:
    return str(uuid.uuid4())
