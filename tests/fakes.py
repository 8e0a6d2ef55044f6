"""A scripted engine for unit tests: no model, deterministic pieces, records its calls."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence

from engine.inference import Prompt, PromptTooLong, Step, answer_budget
from shared.schemas import GenerationParams


class FakeEngine:
    model_name = "Fake Model 1B"
    model_file = "/models/fake.gguf"

    def __init__(
        self, pieces: Sequence[str] = ("Hello", ",", " world", "!"), delay: float = 0.0, context_size: int = 256
    ) -> None:
        self.pieces = list(pieces)
        self.delay = delay
        self.context_size = context_size
        self.prompts: list[list[dict[str, str]]] = []
        self.generating = threading.Event()
        self.fail_with: Exception | None = None

    def prepare(self, messages: Sequence[dict[str, str]]) -> Prompt:
        self.prompts.append([dict(m) for m in messages])
        words = " ".join(m["content"] for m in messages).split()
        prompt = Prompt(tokens=tuple(range(len(words) + 2 * len(messages))))
        if prompt.n_tokens > self.context_size - 16:
            raise PromptTooLong(prompt.n_tokens, self.context_size)
        return prompt

    def cached_prefix(self, prompt: Prompt) -> int:
        return 0

    def generate(self, prompt: Prompt, params: GenerationParams, should_stop: Callable[[], bool]) -> Iterator[Step]:
        budget = answer_budget(prompt, params, self.context_size)
        self.generating.set()
        try:
            if self.fail_with is not None:
                raise self.fail_with
            for n, piece in enumerate(self.pieces[:budget], start=1):
                if self.delay:
                    time.sleep(self.delay)
                if should_stop():
                    yield Step("", n, "cancelled")
                    return
                last = n == min(len(self.pieces), budget)
                reason = None if not last else ("length" if budget < len(self.pieces) else "stop")
                yield Step(piece, n, reason)
        finally:
            self.generating.clear()
