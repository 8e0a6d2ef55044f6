"""A chat's settings in the page: the fields of the panel, the user's defaults, the form.

Pure Python over ``shared.schemas.ChatSettings`` (no DOM, no ``js``): the settings view
draws the fields listed here, the actions parse what the user typed with
:func:`settings_from_form`, and the defaults travel to and from localStorage as JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from shared.schemas import (
    DEFAULT_LIMITS,
    MAX_STOP_CHARS,
    MAX_STOPS,
    ChatSettings,
    GenerationParams,
    SchemaError,
    Session,
)

DEFAULTS_KEY = "ruschat-chat-defaults"
"""The localStorage key of the user's defaults for new chats."""

PAGE_DEFAULTS = ChatSettings(params=GenerationParams(max_tokens=1024))
"""The defaults before the user saves any: no system prompt, the services' sampling, longer answers."""


@dataclass(frozen=True)
class NumberField:
    """One number in the panel, bounded as ``GenerationParams.from_dict`` bounds it."""

    name: str
    """The key in ``ChatSettings.to_dict()`` (and the input's data-testid, with dashes)."""
    label: str
    low: float
    high: float
    step: float
    integer: bool = False

    @property
    def testid(self) -> str:
        return self.name.replace("_", "-")


FIELDS = (
    NumberField("temperature", "Temperature", 0.0, 2.0, 0.05),
    NumberField("top_p", "Top p", 0.0, 1.0, 0.01),
    NumberField("max_tokens", "Max tokens", 1, DEFAULT_LIMITS.max_tokens, 1, integer=True),
    NumberField("min_p", "Min p", 0.0, 1.0, 0.01),
    NumberField("repeat_penalty", "Repeat penalty", 0.5, 2.0, 0.05),
    NumberField("presence_penalty", "Presence penalty", -2.0, 2.0, 0.1),
    NumberField("frequency_penalty", "Frequency penalty", -2.0, 2.0, 0.1),
)


CONTEXT_CHOICES = (
    ("window", "Keep the newest messages"),
    ("summary", "Summarise older messages with the fast model"),
    ("strict", "Stop with an error"),
)
"""The options of "When the chat outgrows the model's context" (``ChatSettings.context``)."""


ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
"""How a stop sequence's backslash, line breaks and tab are written in its one line of the
panel (a textarea turns a carriage return into a line break: it must never hold one)."""
UNESCAPES = {written: char for char, written in ESCAPES.items()}
ESCAPE_TABLE = {ord(char): written for char, written in ESCAPES.items()}
"""ESCAPES as ``str.translate`` takes it."""


def stops_from_text(text: str) -> list[str]:
    """The stop sequences of the panel's field: one per line, ``\\n`` for a line break,
    ``\\r`` for a carriage return, ``\\t`` for a tab, ``\\\\`` for a backslash; empty
    lines ignored, the same one twice kept once. Lines end at line feeds only: any other
    character (a form feed, U+2028) is part of the sequence."""
    lines = text.replace("\r\n", "\n").split("\n")
    stops = [re.sub(r"\\[\\nrt]", lambda m: UNESCAPES[m.group()], line) for line in lines if line]
    return list(dict.fromkeys(stops))


def stops_to_text(stops: tuple[str, ...]) -> str:
    """The inverse of :func:`stops_from_text`."""
    return "\n".join(stop.translate(ESCAPE_TABLE) for stop in stops)


def settings_from_form(values: Mapping[str, str]) -> ChatSettings:
    """The settings the panel's fields describe (their text values by name); SchemaError if
    one is wrong. The panel shows every setting a chat keeps."""
    stops = stops_from_text(values.get("stop", ""))
    if len(stops) > MAX_STOPS:
        raise SchemaError(f"Stop sequences: at most {MAX_STOPS}, one per line", field="stop")
    if any(len(stop) > MAX_STOP_CHARS for stop in stops):
        raise SchemaError(f"Stop sequences may be at most {MAX_STOP_CHARS} characters each", field="stop")
    data: dict[str, object] = {
        "system": values.get("system", ""),
        "context": values.get("context") or "window",
        "stop": stops,
        "seed": None,
    }
    if seed := values.get("seed", "").strip():
        try:
            data["seed"] = int(seed)
        except ValueError:
            raise SchemaError("Seed must be a whole number, or empty for a random one", field="seed") from None
    for spec in FIELDS:
        text = values.get(spec.name, "").strip()
        if not text:
            raise SchemaError(f"{spec.label} is required", field=spec.name)
        try:
            number = float(text)
        except ValueError:
            raise SchemaError(f"{spec.label} must be a number", field=spec.name) from None
        if spec.integer and not spec.low <= number <= spec.high:
            # The API takes more (capped by the context); the panel offers its range.
            raise SchemaError(f"{spec.label} must be between {spec.low} and {spec.high}", field=spec.name)
        if spec.integer:
            if not number.is_integer():
                raise SchemaError(f"{spec.label} must be a whole number", field=spec.name)
            data[spec.name] = int(number)
        else:
            data[spec.name] = number
    try:
        return ChatSettings.from_dict(data)
    except SchemaError as error:
        raise SchemaError(_readable(str(error)), field=error.field) from None


def _readable(message: str) -> str:
    """The schema's message with the panel's labels instead of the wire's keys."""
    for spec in FIELDS:
        message = message.replace(f"'{spec.name}'", spec.label)
    for key, label in (("'system'", "System prompt"), ("'context'", "Context policy"), ("'seed'", "Seed")):
        message = message.replace(key, label)
    return message


def form_values(settings: ChatSettings) -> dict[str, str]:
    """What the panel's fields show for ``settings`` (the inverse of :func:`settings_from_form`)."""
    data = settings.to_dict()
    values = {
        "system": settings.system,
        "context": settings.context,
        "stop": stops_to_text(settings.params.stop),
        "seed": "" if settings.params.seed is None else str(settings.params.seed),
    }
    for spec in FIELDS:
        number = data[spec.name]
        values[spec.name] = str(int(number)) if spec.integer else f"{number:g}"
    return values


def defaults_to_json(settings: ChatSettings) -> str:
    return json.dumps(settings.to_dict())


def defaults_from_json(text: str | None) -> ChatSettings:
    """The saved defaults, or the page's own when none are saved or what is saved is unreadable."""
    if not text:
        return PAGE_DEFAULTS
    try:
        return ChatSettings.from_dict(json.loads(text))
    except (ValueError, SchemaError):
        return PAGE_DEFAULTS


def settings_of(session: Session | None, defaults: ChatSettings) -> ChatSettings:
    """A stored chat's settings (its merged copy's); the defaults for chats saved without any."""
    if session is None or session.settings is None:
        return defaults
    return session.settings
