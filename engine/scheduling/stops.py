"""Stop strings: an answer ends where one appears, without it. Knows no model.

Text arrives piece by piece, and a stop string can straddle pieces (``"##"`` then
``"#"``), so the end of the text that could still become a stop string is held back
until the next piece decides.
"""

from __future__ import annotations

from collections.abc import Sequence


class StopFilter:
    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self._held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """The text that may be shown now, and whether a stop string appeared (then
        nothing from it on is shown, and the answer is over)."""
        text = self._held + text
        found = [i for i in (text.find(stop) for stop in self.stops) if i >= 0]
        if found:
            self._held = ""
            return text[: min(found)], True
        keep = self._partial(text)
        self._held = text[len(text) - keep :]
        return text[: len(text) - keep], False

    def flush(self) -> str:
        """What was held back, once the answer ended for another reason."""
        held, self._held = self._held, ""
        return held

    def _partial(self, text: str) -> int:
        """The length of the longest end of ``text`` that begins a stop string."""
        for length in range(min(len(text), max(map(len, self.stops), default=1) - 1), 0, -1):
            tail = text[-length:]
            if any(stop.startswith(tail) for stop in self.stops):
                return length
        return 0
