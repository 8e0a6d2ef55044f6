"""engine.inference.sampling without a model: seeds, grammars, log-probabilities from logits."""

from __future__ import annotations

import ctypes
import json
import math

import pytest

from engine.inference.sampling import grammar_for, sampler_seed, token_logprob
from shared.openai_schemas import ResponseFormat


def test_a_client_seed_maps_to_a_fixed_llama_seed_never_the_random_one():
    assert sampler_seed(7) == sampler_seed(7) == 7
    assert sampler_seed(0xFFFFFFFF) != 0xFFFFFFFF  # llama.cpp's "random"
    assert 0 <= sampler_seed(-1) < 0xFFFFFFFF and 0 <= sampler_seed(2**63) < 0xFFFFFFFF
    assert 0 <= sampler_seed(None) < 0xFFFFFFFF


def test_response_formats_become_grammars():
    assert grammar_for(ResponseFormat()) is None
    assert "object" in (grammar_for(ResponseFormat("json_object")) or "")
    schema = json.dumps({"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]})
    grammar = grammar_for(ResponseFormat("json_schema", schema)) or ""
    assert grammar.startswith(("age", "root", "integer")) and '\\"age\\"' in grammar


def test_a_schema_that_cannot_be_followed_is_a_value_error():
    with pytest.raises(ValueError, match="cannot be followed"):
        grammar_for(ResponseFormat("json_schema", json.dumps({"type": "sound"})))


def test_logprobs_are_a_log_softmax_with_the_likeliest_first():
    logits = (ctypes.c_float * 4)(1.0, 3.0, 2.0, -math.inf)
    pieces = {0: b"a", 1: b"b", 2: b"c", 3: b"\xe2\x82"}
    entry = token_logprob(ctypes.cast(logits, ctypes.POINTER(ctypes.c_float)), 4, 2, 3, pieces.__getitem__)
    total = math.log(math.exp(1) + math.exp(3) + math.exp(2))
    assert entry.token == "c" and entry.bytes == (99,)
    assert entry.logprob == pytest.approx(2 - total)
    assert [t.token for t in entry.top] == ["b", "c", "a"]
    assert [t.logprob for t in entry.top] == pytest.approx([3 - total, 2 - total, 1 - total])
    ruled_out = token_logprob(ctypes.cast(logits, ctypes.POINTER(ctypes.c_float)), 4, 3, 0, pieces.__getitem__)
    assert ruled_out.logprob == -9999.0 and ruled_out.token == "\ufffd" and ruled_out.top == ()
