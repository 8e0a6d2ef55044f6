"""Where a chat's KV cache waits while it has no slot: in RAM, and on disk across restarts.

A slot handed to another chat first has its sequence state copied out of llama.cpp and
*parked* in RAM, keyed by its tokens; a slot whose job ended is also saved to disk
(:mod:`engine.inference.kv_disk`). When a chat comes back without a slot holding it, its state
comes back from RAM, else from disk. Each state names its chat (the session id), so that
deleting a chat drops its states from both (:meth:`KvParking.forget`). Only the inference worker thread calls these
methods: llama.cpp's context is not thread-safe.
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from engine.inference.kv_disk import KvDiskCache, common_prefix

log = logging.getLogger(__name__)

SIMILAR = 0.5
"""A slot (or parked state) belongs to a chat when this share of its tokens opens the
chat's prompt: the rule of llama.cpp's server (slot prompt similarity)."""
MIN_PARK_TOKENS = 64
"""Shorter chats are cheaper to read again than to park."""

__all__ = ["MIN_PARK_TOKENS", "SIMILAR", "KvParking", "common_prefix", "share"]


def share(held: Sequence[int], prompt: Sequence[int]) -> float:
    """Which share of the ``held`` tokens open ``prompt``."""
    return common_prefix(held, prompt) / len(held) if held else 0.0


class KvParking:
    """The KV states of chats without a slot: RAM within ``park_bytes``, then ``disk``."""

    def __init__(self, llama_cpp: Any, context: Any, park_bytes: int, disk: KvDiskCache | None) -> None:
        self._llama_cpp = llama_cpp
        self._context = context
        """llama-cpp-python's LlamaContext wrapper."""
        self._parked: OrderedDict[tuple[int, ...], tuple[bytearray, str | None]] = OrderedDict()
        """States by their tokens, with their chats."""
        self._park_bytes = park_bytes
        self.disk = disk

    def park(self, seq: int, tokens: Sequence[int], chat: str | None = None) -> None:
        """Keep a sequence's state (of chat ``chat``) in RAM, most recent last, before its
        slot is reused."""
        if len(tokens) < MIN_PARK_TOKENS or (self._park_bytes <= 0 and not self._disk_wants(tokens)):
            return
        state = self._snapshot(seq)
        if state is None:
            return
        if self._park_bytes > 0:
            self._parked[tuple(tokens)] = (state, chat)
            while sum(len(s) for s, _ in self._parked.values()) > self._park_bytes:
                self._parked.popitem(last=False)
        if self._disk_wants(tokens):
            self.disk.save(tokens, state, chat)  # type: ignore[union-attr]

    def save(self, seq: int, tokens: Sequence[int], chat: str | None = None) -> None:
        """Save a sequence's state (of chat ``chat``) to disk (its job ended), unless it is
        saved already."""
        if len(tokens) < MIN_PARK_TOKENS or not self._disk_wants(tokens):
            return
        state = self._snapshot(seq)
        if state is not None:
            self.disk.save(tokens, state, chat)  # type: ignore[union-attr]

    def forget(self, chat: str) -> int:
        """Drop every state of chat ``chat`` (it was deleted), in RAM and on disk; how many."""
        parked = [tokens for tokens, (_, owner) in self._parked.items() if owner == chat]
        for tokens in parked:
            del self._parked[tokens]
        on_disk = self.disk.forget(chat) if self.disk is not None else 0
        return len(parked) + on_disk

    def restore(self, seq: int, prompt: Sequence[int]) -> list[int] | None:
        """Bring back into ``seq`` the parked or saved state this prompt continues most, and
        return the tokens the sequence holds now; None if there was none (``seq`` untouched)."""
        candidates = [k for k in self._parked if share(k, prompt) >= SIMILAR]
        if candidates:
            tokens = max(candidates, key=lambda k: common_prefix(k, prompt))
            return list(tokens) if self._set(seq, self._parked.pop(tokens)[0]) else []
        if self.disk is None or not self.disk.enabled:
            return None
        started = time.monotonic()
        found = self.disk.best(prompt, SIMILAR)
        state = self.disk.load(found) if found is not None else None
        if found is None or state is None:
            return None
        read = time.monotonic()
        if not self._set(seq, state):
            log.warning("llama.cpp refused a %d-token KV state from disk", len(found))
            return []
        log.info(
            "restored %d tokens of KV cache (%.1f MB) from disk in %.0f ms (read %.0f ms, into llama.cpp %.0f ms)",
            len(found),
            len(state) / 2**20,
            (time.monotonic() - started) * 1000,
            (read - started) * 1000,
            (time.monotonic() - read) * 1000,
        )
        return list(found)

    def close(self) -> None:
        """Finish the disk writes handed over so far."""
        if self.disk is not None:
            self.disk.close()

    def _disk_wants(self, tokens: Sequence[int]) -> bool:
        return self.disk is not None and self.disk.enabled and not self.disk.holds(tokens)

    def _snapshot(self, seq: int) -> bytearray | None:
        llama_cpp, ctx = self._llama_cpp, self._context.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, seq)
        try:
            state = bytearray(size)  # llama.cpp writes into it: one copy, not two
        except MemoryError:
            log.warning("no memory to copy a %.1f MB KV state: not keeping it", size / 2**20)
            return None
        view = (ctypes.c_uint8 * size).from_buffer(state)
        written = llama_cpp.llama_state_seq_get_data(ctx, view, size, seq)
        del view  # a bytearray cannot shrink while a view of it exists
        if written <= 0:
            return None
        del state[written:]
        return state

    def _set(self, seq: int, state: bytes | bytearray) -> bool:
        """Load a state into an emptied sequence; on failure leave it empty."""
        self._context.kv_cache_seq_rm(seq, 0, -1)
        array_type = ctypes.c_uint8 * len(state)
        source = array_type.from_buffer(state) if isinstance(state, bytearray) else array_type.from_buffer_copy(state)
        if self._llama_cpp.llama_state_seq_set_data(self._context.ctx, source, len(state), seq) == len(state):
            return True
        self._context.kv_cache_seq_rm(seq, 0, -1)
        return False
