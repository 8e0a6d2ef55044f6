"""Incremental Server-Sent Events decoding, per the WHATWG event-stream format.

Standard library only, so that the browser (Pyodide, reading a fetch body chunk by
chunk) and the tests (CPython) decode streams with the same code. Feed it text as it
arrives, in pieces of any size; it returns the events completed so far.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    def __init__(self) -> None:
        self._buffer = ""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None

    def feed(self, text: str) -> list[ServerSentEvent]:
        """Add received text; return the events it completed."""
        self._buffer += text
        events: list[ServerSentEvent] = []
        while True:
            line, found = self._next_line()
            if not found:
                return events
            event = self._line(line)
            if event is not None:
                events.append(event)

    def _next_line(self) -> tuple[str, bool]:
        for index, char in enumerate(self._buffer):
            if char == "\n" or char == "\r":
                if char == "\r" and index + 1 == len(self._buffer):
                    return "", False  # a CR at the end may be half of a CRLF: wait
                end = index + 2 if self._buffer[index : index + 2] == "\r\n" else index + 1
                line, self._buffer = self._buffer[:index], self._buffer[end:]
                return line, True
        return "", False

    def _line(self, line: str) -> ServerSentEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment, e.g. a keep-alive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = ServerSentEvent(data="\n".join(self._data), event=self._event or "message", id=self._id)
        self._data, self._event = [], ""
        return event
