"""How the next token is chosen, and how likely the chosen one was. Knows no HTTP.

A sampler is a llama.cpp sampler chain built from a request's
:class:`~shared.schemas.GenerationParams`: penalties (repeat, frequency, presence), a
grammar that the answer must follow (``response_format`` JSON), then top-p, min-p and
temperature, and a seeded draw. ``llama_sampler_sample`` runs the chain on the logits of
one batch position and feeds the chosen token back to it (penalties and grammar track
the answer so far).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np

from shared.chunks import LOGPROB_FLOOR, TokenLogprob
from shared.openai_schemas import ResponseFormat
from shared.schemas import GenerationParams

REPEAT_WINDOW = 64
"""Penalties look at this many of the answer's latest tokens (llama.cpp's default)."""

_DEFAULT_SEED = 0xFFFFFFFF
"""llama.cpp's "pick a random seed": never pass it on as a client's seed."""


def grammar_for(response_format: ResponseFormat) -> str | None:
    """The GBNF grammar that makes an answer valid JSON of ``response_format`` (None:
    free text). ValueError if the schema cannot be turned into a grammar."""
    from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

    if response_format.type == "text":
        return None
    if response_format.schema is None:
        return JSON_GBNF
    try:
        return str(json_schema_to_gbnf(response_format.schema))
    except Exception as error:  # the converter raises whatever it meets in a schema
        raise ValueError(f"this JSON schema cannot be followed: {error}") from None


def sampler_seed(seed: int | None) -> int:
    """A client's seed as llama.cpp's 32-bit one; a random one when there is none."""
    if seed is None:
        return random.randrange(_DEFAULT_SEED)
    return seed % _DEFAULT_SEED


def build_sampler(llama_cpp: Any, internals: Any, model: Any, params: GenerationParams) -> Any:
    """The sampler chain for one answer (a ``LlamaSampler``)."""
    sampler = internals.LlamaSampler()
    if params.repeat_penalty != 1.0 or params.frequency_penalty or params.presence_penalty:
        sampler.add_penalties(
            model.n_vocab(), REPEAT_WINDOW, params.repeat_penalty, params.frequency_penalty, params.presence_penalty
        )
    if params.grammar is not None:
        # Before any cut: top-p must choose among tokens the grammar allows.
        grammar = llama_cpp.llama_sampler_init_grammar(model.vocab, params.grammar.encode("utf-8"), b"root")
        if not grammar:
            sampler.close()
            raise ValueError("llama.cpp refused the grammar")
        llama_cpp.llama_sampler_chain_add(sampler.sampler, grammar)
    if params.temperature <= 0:
        sampler.add_greedy()
    else:
        sampler.add_top_p(params.top_p, 1)
        sampler.add_min_p(params.min_p, 1)
        sampler.add_temp(params.temperature)
        sampler.add_dist(sampler_seed(params.seed))
    return sampler


def token_logprob(
    logits_pointer: Any, n_vocab: int, token: int, top: int, piece: Callable[[int], bytes]
) -> TokenLogprob:
    """The log-probability of ``token`` under the model's distribution at one position
    (a log-softmax of its logits, before any sampling step), and the ``top`` likeliest
    tokens there, likeliest first."""
    logits = np.ctypeslib.as_array(logits_pointer, shape=(n_vocab,)).astype(np.float64)
    peak = logits.max()
    logprobs = logits - (peak + np.log(np.exp(logits - peak).sum()))
    alternatives: tuple[TokenLogprob, ...] = ()
    if top:
        best = np.argpartition(-logprobs, top - 1)[:top]
        best = best[np.argsort(-logprobs[best], kind="stable")]
        alternatives = tuple(_entry(int(t), float(logprobs[t]), piece) for t in best)
    return _entry(token, float(logprobs[token]), piece, alternatives)


def _entry(
    token: int, logprob: float, piece: Callable[[int], bytes], top: tuple[TokenLogprob, ...] = ()
) -> TokenLogprob:
    raw = piece(token)
    return TokenLogprob(raw.decode("utf-8", errors="replace"), max(logprob, LOGPROB_FLOOR), tuple(raw), top)
