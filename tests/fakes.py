"""A scripted engine for unit tests (no model, deterministic pieces, records its calls),
and helpers to drive scheduler jobs."""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from engine.inference.protocol import Prompt, PromptTooLong, Step, answer_budget
from engine.scheduling.jobs import Finished, Job, Token
from shared.chunks import TokenLogprob
from shared.schemas import GenerationParams


@dataclass
class _Chat:
    budget: int
    params: GenerationParams
    produced: int = 0


def fake_logprob(piece: str, top: int) -> TokenLogprob:
    """A made-up log-probability: the piece at -0.25, alternatives each less likely."""
    alternatives = tuple(TokenLogprob(f"alt{i}", -1.0 - i, tuple(f"alt{i}".encode())) for i in range(top))
    return TokenLogprob(piece, -0.25, tuple(piece.encode()), alternatives)


class FakeEngine:
    """Answers every chat with ``pieces``, one per step; ``slots`` chats step together."""

    model_name = "Fake Model 1B"
    model_file = "/models/fake.gguf"

    def __init__(
        self,
        pieces: Sequence[str] = ("Hello", ",", " world", "!"),
        delay: float = 0.0,
        context_size: int = 256,
        slots: int = 1,
    ) -> None:
        self.pieces = list(pieces)
        self.delay = delay
        self.context_size = context_size
        self.slots = slots
        self.prompts: list[list[dict[str, str]]] = []
        self.started: list[Hashable] = []
        self.params: list[GenerationParams] = []
        """The params of every started chat, in order."""
        self.fail_with: Exception | None = None
        self.continued: list[bool] = []
        """Whether each prepared conversation ends in an answer to continue."""
        self.threads: list[int] = []
        """Every thread count the scheduler set, in order."""
        self._chats: dict[Hashable, _Chat] = {}
        self.closed = False
        self.kept: list[bool] = []
        """Whether each started chat's cache is to be kept (False: a background job's)."""
        self.chats: list[str | None] = []
        """The stored chat of each started one (None: not a stored chat's)."""
        self.forgotten: list[str] = []
        """The chats whose caches the engine was told to drop, in order."""

    def unavailable_for(self) -> float:
        return 0.0

    def degraded(self) -> str | None:
        return None

    def prepare(self, messages: Sequence[dict[str, str]], continue_last: bool = False) -> Prompt:
        self.prompts.append([dict(m) for m in messages])
        self.continued.append(continue_last)
        words = " ".join(m["content"] for m in messages).split()
        prompt = Prompt(tokens=tuple(range(len(words) + 2 * len(messages))))
        if prompt.n_tokens > self.context_size - 16:
            raise PromptTooLong(prompt.n_tokens, self.context_size)
        return prompt

    def start(
        self, key: Hashable, prompt: Prompt, params: GenerationParams, keep: bool = True, chat: str | None = None
    ) -> int:
        assert len(self._chats) < self.slots, "the scheduler started more chats than there are slots"
        self._chats[key] = _Chat(budget=answer_budget(prompt, params, self.context_size), params=params)
        self.started.append(key)
        self.params.append(params)
        self.kept.append(keep)
        self.chats.append(chat)
        return 0

    def step(self) -> list[tuple[Hashable, Step]]:
        if self.delay:
            time.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with
        results = []
        for key, chat in list(self._chats.items()):
            piece = self.pieces[chat.produced]
            chat.produced += 1
            finish = None
            if chat.produced == len(self.pieces):
                finish = "stop"
            elif chat.produced >= chat.budget:
                finish = "length"
            top = chat.params.top_logprobs
            logprob = fake_logprob(piece, top) if top is not None else None
            results.append((key, Step(piece, chat.produced, finish, logprob)))
            if finish:
                del self._chats[key]
        return results

    def stop(self, key: Hashable) -> None:
        self._chats.pop(key, None)

    def set_threads(self, threads: int) -> None:
        self.threads.append(threads)

    def forget(self, chat: str) -> None:
        self.forgotten.append(chat)

    def close(self) -> None:
        self.closed = True


def run_to_end(job: Job) -> tuple[list[str], Finished]:
    tokens = []
    while True:
        event = job.next_event(timeout=10)
        assert event is not None, "the job produced nothing for 10 s"
        if isinstance(event, Token):
            tokens.append(event.text)
        if isinstance(event, Finished):
            return tokens, event


def job() -> Job:
    return Job(prompt=Prompt(tokens=(1, 2, 3)), params=GenerationParams(max_tokens=50))
