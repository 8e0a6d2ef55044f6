"""The model: turning a conversation into tokens and tokens into text. Knows no HTTP.

:class:`LlamaEngine` runs a GGUF file in-process with llama-cpp-python. Only the
scheduler's worker thread calls :meth:`generate`; :meth:`prepare` (formatting and
tokenizing) only reads the vocabulary and is safe from request threads, as llama.cpp's
own server tokenizes in its HTTP threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.schemas import GenerationParams

log = logging.getLogger(__name__)

MIN_ANSWER_TOKENS = 16
"""A prompt must leave at least this many tokens of context for the answer (else 422)."""


@dataclass(frozen=True)
class Prompt:
    """A formatted, tokenized conversation, ready for the model."""

    tokens: tuple[int, ...]
    stop: tuple[str, ...] = ()
    stop_token_ids: frozenset[int] = frozenset()

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True)
class Step:
    """One piece of generated text; ``finish_reason`` is set on the last step only."""

    text: str
    n_tokens: int = 0
    """Tokens sampled so far in this generation."""
    finish_reason: str | None = None


class PromptTooLong(Exception):
    def __init__(self, n_prompt: int, context_size: int) -> None:
        super().__init__(
            f"the conversation is {n_prompt} tokens long; this model's context holds "
            f"{context_size} tokens including at least {MIN_ANSWER_TOKENS} for the answer"
        )
        self.n_prompt = n_prompt
        self.context_size = context_size


class Engine(Protocol):
    """What the scheduler needs from a model."""

    model_name: str
    model_file: str
    context_size: int

    def prepare(self, messages: Sequence[dict[str, str]]) -> Prompt:
        """Format and tokenize; raise PromptTooLong when it cannot fit the context."""

    def generate(self, prompt: Prompt, params: GenerationParams, should_stop: Callable[[], bool]) -> Iterator[Step]:
        """Yield the answer piece by piece; check ``should_stop`` on every token."""

    def cached_prefix(self, prompt: Prompt) -> int:
        """How many of the prompt's tokens the model already holds evaluated."""


def answer_budget(prompt: Prompt, params: GenerationParams, context_size: int) -> int:
    """Tokens the answer may use: what was asked, capped by the context left."""
    room = context_size - prompt.n_tokens
    if room < MIN_ANSWER_TOKENS:
        raise PromptTooLong(prompt.n_tokens, context_size)
    return min(params.max_tokens, room)


def _kv_only_cache(base: type, capacity_bytes: int) -> object:
    """A LlamaRAMCache whose saved states hold the KV cache and not the logits.

    llama-cpp-python copies its whole logits buffer (n_batch x vocabulary floats: 100 MB
    for SmolLM2's 49k vocabulary) into every saved state, and LlamaRAMCache does not
    count it against its capacity: memory grew by gigabytes. The logits are never used
    on restore (the last prompt token is always evaluated again), so one zero row, which
    broadcasts over the rows that load_state() fills, stands in for them.
    """
    import numpy as np

    class KVOnlyCache(base):  # type: ignore[misc,valid-type]
        def __setitem__(self, key, state):  # type: ignore[no-untyped-def]
            state.scores = np.zeros((1, state.scores.shape[1]), dtype=np.single)
            super().__setitem__(key, state)

    return KVOnlyCache(capacity_bytes=capacity_bytes)


class LlamaEngine:
    """A GGUF model run by llama-cpp-python on the CPU."""

    def __init__(
        self,
        model_path: str,
        model_name: str,
        *,
        context_size: int = 4096,
        threads: int = 2,
        fallback_chat_template: str | None = None,
        prefix_cache_bytes: int = 0,
    ) -> None:
        from llama_cpp import Llama, LlamaRAMCache
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.model_name = model_name
        self.model_file = model_path
        self.context_size = context_size
        self._llama = Llama(
            model_path=model_path, n_ctx=context_size, n_threads=threads, n_threads_batch=threads, verbose=False
        )
        if prefix_cache_bytes:
            # Saves the KV state after each answer, keyed by tokens, so that a chat
            # resumed after another one reuses its prefix instead of re-evaluating it.
            self._llama.set_cache(_kv_only_cache(LlamaRAMCache, prefix_cache_bytes))
        template = self._llama.metadata.get("tokenizer.chat_template") or fallback_chat_template
        if template is None:
            raise ValueError(f"{model_path} has no chat template and the service configures none")
        eos, bos = self._llama.token_eos(), self._llama.token_bos()
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=self._llama._model.token_get_text(eos) if eos != -1 else "",
            bos_token=self._llama._model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )
        self._stop_ids = frozenset({eos} if eos != -1 else set())

    def prepare(self, messages: Sequence[dict[str, str]]) -> Prompt:
        formatted = self._formatter(messages=list(messages))
        tokens = self._llama.tokenize(
            formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
        )
        stop = (formatted.stop,) if isinstance(formatted.stop, str) else tuple(formatted.stop or ())
        prompt = Prompt(tokens=tuple(tokens), stop=stop, stop_token_ids=self._stop_ids)
        if prompt.n_tokens > self.context_size - MIN_ANSWER_TOKENS:
            raise PromptTooLong(prompt.n_tokens, self.context_size)
        return prompt

    def cached_prefix(self, prompt: Prompt) -> int:
        from llama_cpp import Llama

        return Llama.longest_token_prefix(self._llama._input_ids.tolist(), list(prompt.tokens))

    def generate(self, prompt: Prompt, params: GenerationParams, should_stop: Callable[[], bool]) -> Iterator[Step]:
        from llama_cpp import StoppingCriteriaList

        sampled = 0

        def on_token(input_ids: Sequence[int], _logits: object) -> bool:
            # Called once per sampled token, before its text is released: the place to
            # notice a stop request without waiting for a whole chunk.
            nonlocal sampled
            sampled += 1
            return input_ids[-1] in prompt.stop_token_ids or should_stop()

        stream = self._llama.create_completion(
            list(prompt.tokens),
            max_tokens=answer_budget(prompt, params, self.context_size),
            temperature=params.temperature,
            top_p=params.top_p,
            stop=list(prompt.stop),
            stopping_criteria=StoppingCriteriaList([on_token]),
            stream=True,
        )
        try:
            for chunk in stream:
                choice = chunk["choices"][0]
                finish = choice.get("finish_reason")
                if should_stop():
                    finish = "cancelled"
                if choice["text"] or finish:
                    yield Step(text=choice["text"], n_tokens=sampled, finish_reason=finish)
                if finish == "cancelled":
                    return
                # After the last chunk, llama-cpp-python saves the KV state into the
                # prefix cache: the caller drains this generator once the client has
                # its answer.
        finally:
            stream.close()
