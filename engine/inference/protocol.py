"""What every engine is to the scheduler and the HTTP layer: a prompt, a step of
generated text, the :class:`Engine` interface (the in-process llama.cpp one in
:mod:`engine.inference.llama`, an OpenAI-compatible server in :mod:`engine.inference.remote`), and how
much of the context an answer may use."""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.chunks import TokenLogprob
from shared.schemas import GenerationParams

log = logging.getLogger(__name__)

MIN_ANSWER_TOKENS = 16
"""A prompt must leave at least this many tokens of context for the answer (else 422)."""


@dataclass(frozen=True)
class Prompt:
    """A formatted, tokenized conversation, ready for the model."""

    tokens: tuple[int, ...]
    messages: tuple[tuple[str, str], ...] = ()
    """(role, content) pairs: what an engine that tokenizes elsewhere sends (engine.inference.remote)."""
    count: int | None = None
    """Its length when ``tokens`` is not kept here."""
    continue_last: bool = False
    """The last message is an answer to resume, not one to answer."""

    @property
    def n_tokens(self) -> int:
        return self.count if self.count is not None else len(self.tokens)


@dataclass(frozen=True)
class Step:
    """New text of one chat after one decode step; ``finish_reason`` on its last step."""

    text: str
    n_tokens: int
    """Tokens sampled so far in this answer."""
    finish_reason: str | None = None
    logprob: TokenLogprob | None = None
    """The sampled token's log-probability, when the answer's params ask for them."""
    error: str | None = None
    """Why the chat ended, when ``finish_reason`` is ``error``."""


class PromptTooLong(Exception):
    def __init__(self, n_prompt: int, context_size: int) -> None:
        super().__init__(
            f"the conversation is {n_prompt} tokens long; this model's context holds "
            f"{context_size} tokens including at least {MIN_ANSWER_TOKENS} for the answer"
        )
        self.n_prompt = n_prompt
        self.context_size = context_size


class CannotContinue(Exception):
    """The chat template does not show the answer to continue (it drops or rewrites it)."""


class Engine(Protocol):
    """What the scheduler needs from a model."""

    model_name: str
    model_file: str
    context_size: int
    """Tokens of context per chat."""
    slots: int
    """Chats that can generate at the same time."""

    def prepare(self, messages: Sequence[dict[str, str]], continue_last: bool = False) -> Prompt:
        """Format and tokenize; raise PromptTooLong when it cannot fit the context.

        ``continue_last``: the last message is an unfinished answer to resume, not one to
        answer (the prompt ends inside it; CannotContinue if the template hides it)."""

    def start(
        self, key: Hashable, prompt: Prompt, params: GenerationParams, keep: bool = True, chat: str | None = None
    ) -> int:
        """Give the chat ``key`` a free slot; return how many prompt tokens it already holds.

        The engine samples as ``params`` say (penalties, grammar, seed, logprobs); stop
        strings are the scheduler's, which stops the chat when one appears. ``keep`` False:
        a background job, whose cache is worth nothing later: dropped when it ends, never
        parked or saved (which would cost the next chat of its slot time). ``chat``: the
        stored chat (session id) the prompt is of; its cache goes when :meth:`forget` names it."""

    def forget(self, chat: str) -> None:
        """Drop every cached state of the stored chat ``chat`` (it was deleted): the slots,
        states parked in RAM and saved on disk that hold its tokens."""

    def step(self) -> list[tuple[Hashable, Step]]:
        """Advance every started chat by one decode; return the chats that produced something."""

    def stop(self, key: Hashable) -> None:
        """Stop generating for ``key`` now and free its slot (its evaluated tokens stay cached)."""

    def set_threads(self, threads: int) -> None:
        """CPU threads for the following steps."""

    def unavailable_for(self) -> float:
        """Seconds to turn new chats away (an upstream engine said it is busy); 0: take them."""

    def degraded(self) -> str | None:
        """Why the engine cannot generate now (an upstream unreachable), or None."""

    def close(self) -> None:
        """Finish background work (saving KV caches); called once the worker has stopped."""


def answer_budget(prompt: Prompt, params: GenerationParams, context_size: int) -> int:
    """Tokens the answer may use: what was asked, capped by the context left."""
    room = context_size - prompt.n_tokens
    if room < MIN_ANSWER_TOKENS:
        raise PromptTooLong(prompt.n_tokens, context_size)
    return min(params.max_tokens, room)


DEFAULT_CONTEXT = 4096
"""Tokens of context per chat unless the service asks otherwise (or the model is trained on fewer)."""


def resolve_context_size(requested: int | None, trained: int) -> int:
    """The context per chat: as requested, else the default capped by the training context."""
    if requested is None:
        return min(DEFAULT_CONTEXT, trained) if trained > 0 else DEFAULT_CONTEXT
    if 0 < trained < requested:
        log.warning(
            "a context of %d tokens exceeds the %d this model was trained on: answers may degrade", requested, trained
        )
    return requested
