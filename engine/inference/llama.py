"""The model: conversations to tokens, tokens to text, several chats at once. Knows no HTTP.

:class:`LlamaEngine` runs a GGUF file in-process on llama.cpp's own API (through
llama-cpp-python's bindings), the way llama.cpp's server does: one context holds a KV
cache *slot* (sequence) per chat, so that

- a chat's next turn evaluates only its new tokens, even when other chats ran in
  between (each slot keeps its chat's prefix; no state copies), and
- chats that run at the same time share every decode step (continuous batching): one
  batch carries one new token per generating chat plus a chunk of any prompt that is
  being read, and
- a slot handed to another chat first has its KV cache parked in RAM, restored when
  its chat comes back (more chats than slots still avoid re-reading their history), and
- a slot whose answer ended is saved to disk, so chats keep their cache across
  restarts (:mod:`engine.inference.kv_park`, :mod:`engine.inference.kv_disk`).

Only the scheduler's worker thread calls :meth:`start`, :meth:`step` and :meth:`stop`.
:meth:`prepare` (formatting and tokenizing) only reads the vocabulary and is safe from
request threads, as llama.cpp's server tokenizes in its HTTP threads.
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.inference.kv_disk import KvDiskCache, layout_folder
from engine.inference.kv_park import SIMILAR, KvParking, common_prefix, share
from engine.inference.protocol import (
    MIN_ANSWER_TOKENS,
    CannotContinue,
    Prompt,
    PromptTooLong,
    Step,
    answer_budget,
    resolve_context_size,
)
from engine.inference.sampling import build_sampler, token_logprob
from shared.schemas import GenerationParams

log = logging.getLogger(__name__)

CONTINUE_MARK = "\u2063ruschat-continue\u2063"
"""Put after an answer's text to find where, in the formatted prompt, that text ends."""


@dataclass(eq=False)
class Slot:
    """One KV-cache sequence: the tokens it holds, and the chat generating in it, if any."""

    seq: int
    tokens: list[int] = field(default_factory=list)
    """Tokens whose keys and values are in the cache for this sequence, in order."""
    key: Hashable | None = None
    pending: list[int] = field(default_factory=list)
    """Prompt tokens still to evaluate."""
    next_token: int | None = None
    """Sampled, streamed, not yet evaluated."""
    sampler: Any = None
    budget: int = 0
    produced: int = 0
    decoder: Any = None
    last_used: float = 0.0
    top_logprobs: int | None = None
    """Alternatives to report per token; None: no log-probabilities."""
    keep: bool = True
    """Whether the cache stays when the chat ends (see Engine.start)."""
    chat: str | None = None
    """The stored chat whose tokens the slot holds (its session id), if any."""


class LlamaEngine:
    """A GGUF model run by llama.cpp on the CPU, with one KV slot per concurrent chat."""

    def __init__(
        self,
        model_path: str,
        model_name: str,
        *,
        context_size: int | None = None,
        threads: int = 2,
        slots: int = 4,
        batch_size: int = 256,
        fallback_chat_template: str | None = None,
        park_bytes: int = 256 * 1024 * 1024,
        kv_disk_dir: Path | None = None,
        kv_disk_bytes: int = 0,
    ) -> None:
        """``context_size`` None: the default, or less if the model was trained on less.
        ``kv_disk_dir``: where chats' KV caches are saved across restarts (within
        ``kv_disk_bytes``), in a subfolder for this model file and context size."""
        import llama_cpp
        from llama_cpp import _internals as internals
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._llama_cpp = llama_cpp
        self.model_name = model_name
        self.model_file = model_path
        self.slots = slots
        self._batch_size = batch_size
        from llama_cpp import _logger

        _logger.set_verbose(False)  # llama.cpp's own log: errors only
        llama_cpp.llama_backend_init()
        self._model = internals.LlamaModel(
            path_model=model_path, params=llama_cpp.llama_model_default_params(), verbose=False
        )
        self.context_size = context_size = resolve_context_size(
            context_size, llama_cpp.llama_model_n_ctx_train(self._model.model)
        )
        params = llama_cpp.llama_context_default_params()
        # One stream of context_size tokens per slot: a chat can never crowd out another.
        params.n_ctx = context_size * slots
        params.n_seq_max = slots
        params.kv_unified = False
        params.n_batch = params.n_ubatch = batch_size
        params.n_threads = params.n_threads_batch = threads
        self._ctx = internals.LlamaContext(model=self._model, params=params, verbose=False)
        self._batch = internals.LlamaBatch(n_tokens=batch_size, embd=0, n_seq_max=1, verbose=False)
        self._vocab = self._model.vocab
        self._slots = [Slot(seq=i) for i in range(slots)]
        disk = None
        if kv_disk_dir is not None and kv_disk_bytes > 0:
            disk = KvDiskCache(layout_folder(kv_disk_dir, Path(model_path), context_size), kv_disk_bytes)
        self._parking = KvParking(llama_cpp, self._ctx, park_bytes, disk)
        self._internals = internals

        metadata = self._model.metadata()
        template = metadata.get("tokenizer.chat_template") or fallback_chat_template
        if template is None:
            raise ValueError(f"{model_path} has no chat template and the service configures none")
        eos, bos = self._model.token_eos(), self._model.token_bos()
        eos_text = self._model.token_get_text(eos) if eos != -1 else ""
        bos_text = self._model.token_get_text(bos) if bos != -1 else ""
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos_text, bos_token=bos_text)
        # For continuing an answer: the prompt ends inside it, so no new answer is opened.
        self._continuer = Jinja2ChatFormatter(
            template=template, eos_token=eos_text, bos_token=bos_text, add_generation_prompt=False
        )

    # ------------------------------------------------------------------ request threads
    def prepare(self, messages: Sequence[dict[str, str]], continue_last: bool = False) -> Prompt:
        # Plain dicts with role and content are what its TypedDicts describe.
        if continue_last:
            *before, last = messages
            marked = [*before, {**last, "content": last["content"] + CONTINUE_MARK}]
            formatted = self._continuer(messages=marked)  # type: ignore[arg-type]
            if CONTINUE_MARK not in formatted.prompt:
                raise CannotContinue("this model's chat template does not show the answer to continue")
            text = formatted.prompt.split(CONTINUE_MARK)[0]
        else:
            formatted = self._formatter(messages=list(messages))  # type: ignore[arg-type]
            text = formatted.prompt
        tokens = self._model.tokenize(text.encode("utf-8"), add_bos=not formatted.added_special, special=True)
        prompt = Prompt(tokens=tuple(tokens))
        if prompt.n_tokens > self.context_size - MIN_ANSWER_TOKENS:
            raise PromptTooLong(prompt.n_tokens, self.context_size)
        return prompt

    # ------------------------------------------------------------------ worker thread
    def start(
        self, key: Hashable, prompt: Prompt, params: GenerationParams, keep: bool = True, chat: str | None = None
    ) -> int:
        budget = answer_budget(prompt, params, self.context_size)
        free = [s for s in self._slots if s.key is None]
        if not free:
            raise RuntimeError("no free slot")
        slot = self._choose(free, prompt)
        if share(slot.tokens, prompt.tokens) < SIMILAR:
            # The slot goes to another chat: keep what it holds, and bring this chat back
            # if it was parked (or saved to disk) earlier.
            self._parking.park(slot.seq, slot.tokens, slot.chat)
            restored = self._parking.restore(slot.seq, prompt.tokens)
            if restored is not None:
                slot.tokens = restored
        # Keep at least the last prompt token to evaluate: its logits give the first answer token.
        reuse = min(common_prefix(slot.tokens, prompt.tokens), prompt.n_tokens - 1)
        self._ctx.kv_cache_seq_rm(slot.seq, reuse, -1)
        slot.tokens = list(prompt.tokens[:reuse])
        slot.pending = list(prompt.tokens[reuse:])
        # Every token the slot keeps now is of this prompt, so of this chat.
        slot.key, slot.next_token, slot.keep, slot.chat = key, None, keep, chat
        slot.sampler = build_sampler(self._llama_cpp, self._internals, self._model, params)
        slot.top_logprobs = params.top_logprobs
        slot.budget, slot.produced = budget, 0
        slot.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        slot.last_used = time.monotonic()
        return reuse

    @staticmethod
    def _choose(free: list[Slot], prompt: Prompt) -> Slot:
        """The slot that holds this chat so far; else the one unused longest.

        "Holds this chat" means most of the slot's tokens open this prompt: a slot that
        shares only the system prompt belongs to another chat and is not overwritten
        while a colder one is free (the rule of llama.cpp's server, similarity >= 0.5).
        """

        best = max(free, key=lambda s: (share(s.tokens, prompt.tokens), len(s.tokens)))
        if share(best.tokens, prompt.tokens) >= SIMILAR:
            return best
        return min(free, key=lambda s: (bool(s.tokens), s.last_used))

    def unavailable_for(self) -> float:
        return 0.0  # a local model is never busy elsewhere: its queue says when it is full

    def degraded(self) -> str | None:
        return None

    def set_threads(self, threads: int) -> None:
        self._llama_cpp.llama_set_n_threads(self._ctx.ctx, threads, threads)

    def stop(self, key: Hashable) -> None:
        for slot in self._slots:
            if slot.key == key:
                self._release(slot)

    def forget(self, chat: str) -> None:
        for slot in self._slots:
            if slot.chat != chat:
                continue
            if slot.key is None:
                self._ctx.kv_cache_seq_rm(slot.seq, 0, -1)
                slot.tokens, slot.chat = [], None
            else:  # still generating (its stop comes next step): dropped when it ends
                slot.keep = False
        self._parking.forget(chat)

    def step(self) -> list[tuple[Hashable, Step]]:
        batch = self._batch.batch
        batch.n_tokens = 0
        sampling: list[tuple[Slot, int]] = []

        def add(slot: Slot, token: int, wants_logits: bool) -> None:
            i = batch.n_tokens
            batch.token[i] = token
            batch.pos[i] = len(slot.tokens)
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = slot.seq
            batch.logits[i] = wants_logits
            batch.n_tokens += 1
            slot.tokens.append(token)
            if wants_logits:
                sampling.append((slot, i))

        active = [s for s in self._slots if s.key is not None]
        # Generating chats first, one token each, so that they keep streaming while
        # another chat's long prompt is read in chunks alongside.
        for slot in active:
            if slot.next_token is not None:
                add(slot, slot.next_token, True)
                slot.next_token = None
        for slot in active:
            room = self._batch_size - batch.n_tokens
            if slot.pending and room > 0:
                chunk, slot.pending = slot.pending[:room], slot.pending[room:]
                for n, token in enumerate(chunk, start=1):
                    add(slot, token, n == len(chunk) and not slot.pending)
        if batch.n_tokens == 0:
            return []
        try:
            self._ctx.decode(self._batch)
        except RuntimeError:
            for slot in active:  # what the cache holds for them is unknown now: forget it
                self._ctx.kv_cache_seq_rm(slot.seq, 0, -1)
                slot.tokens = []
            raise

        results: list[tuple[Hashable, Step]] = []
        for slot, index in sampling:
            token = slot.sampler.sample(self._ctx, index)
            slot.produced += 1
            finish = None
            text = ""
            logprob = None
            if self._llama_cpp.llama_vocab_is_eog(self._vocab, token):
                finish = "stop"
                text = slot.decoder.decode(b"", final=True)
            else:
                if slot.top_logprobs is not None:
                    logits = self._llama_cpp.llama_get_logits_ith(self._ctx.ctx, index)
                    logprob = token_logprob(logits, self._model.n_vocab(), token, slot.top_logprobs, self._piece)
                text = slot.decoder.decode(self._piece(token))
                slot.next_token = token
                if slot.produced >= slot.budget:
                    finish = "length"
                    text += slot.decoder.decode(b"", final=True)
            results.append((slot.key, Step(text, slot.produced, finish, logprob)))
            if finish:
                self._release(slot)
        return results

    def _release(self, slot: Slot) -> None:
        slot.key, slot.pending, slot.next_token, slot.sampler = None, [], None, None
        slot.last_used = time.monotonic()
        if slot.keep:
            self._parking.save(slot.seq, slot.tokens, slot.chat)
        else:  # an empty slot, the first a chat takes: nothing to park or save
            self._ctx.kv_cache_seq_rm(slot.seq, 0, -1)
            slot.tokens, slot.chat = [], None

    def close(self) -> None:
        """Finish saving KV caches to disk (call after the worker has stopped)."""
        self._parking.close()

    def _piece(self, token: int) -> bytes:
        buffer = ctypes.create_string_buffer(64)
        n = self._llama_cpp.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, False)
        if n < 0:  # a longer piece: -n is the size it needs
            buffer = ctypes.create_string_buffer(-n)
            n = self._llama_cpp.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, False)
        return buffer.raw[:n]
