"""How an answer was made, as its service reported in the stream's last chunk.

Stored answers carry no timings, so the page knows these only for the answers it
streamed itself since it was loaded. Pure Python: no DOM, testable under CPython.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.chunks import StreamDelta

QUEUE_WORTH_SAYING_MS = 100
"""A shorter wait in the service's queue is bookkeeping, not news."""


@dataclass(frozen=True)
class AnswerStats:
    """The final chunk's ``usage`` and ``ruschat.timings``; 0 where the service said nothing."""

    completion_tokens: int = 0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    tokens_per_second: float = 0.0
    ttft_ms: float = 0.0
    """Time to first token from when the model took the question up (any queue wait is ``queue_ms``)."""
    queue_ms: float = 0.0
    total_ms: float = 0.0

    @classmethod
    def from_delta(cls, delta: StreamDelta) -> AnswerStats | None:
        """The statistics in a chunk, or None if it carries none (only the last one does)."""
        if delta.usage is None and delta.timings is None:
            return None
        usage, timings = delta.usage, delta.timings
        return cls(
            completion_tokens=usage.completion_tokens if usage else 0,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            cached_prompt_tokens=timings.cached_prompt_tokens if timings else 0,
            tokens_per_second=timings.tokens_per_second if timings else 0.0,
            ttft_ms=timings.ttft_ms if timings else 0.0,
            queue_ms=timings.queue_ms if timings else 0.0,
            total_ms=timings.total_ms if timings else 0.0,
        )

    def parts(self) -> list[str]:
        """What is known, in words, most telling first; nothing for what the service left at 0."""
        parts = []
        if self.completion_tokens:
            parts.append(f"{self.completion_tokens} tokens")
        if self.tokens_per_second:
            parts.append(f"{self.tokens_per_second:.1f} tokens/s")
        if self.ttft_ms:
            parts.append(f"first token after {_duration(self.ttft_ms)}")
        if self.queue_ms >= QUEUE_WORTH_SAYING_MS:
            parts.append(f"{_duration(self.queue_ms)} queued")
        if self.total_ms:
            parts.append(f"{_duration(self.total_ms)} in all")
        if self.prompt_tokens:
            cached = f", {self.cached_prompt_tokens} cached" if self.cached_prompt_tokens else ""
            parts.append(f"prompt {self.prompt_tokens} tokens{cached}")
        return parts

    def text(self) -> str:
        return " · ".join(self.parts())


def _duration(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"
