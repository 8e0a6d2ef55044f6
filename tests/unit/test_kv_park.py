"""Parking and saving slots' KV states (engine.inference.kv_park) against a fake llama.cpp."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

from engine.inference.kv_disk import KvDiskCache
from engine.inference.kv_park import MIN_PARK_TOKENS, KvParking

SYSTEM = list(range(100, 164))


class FakeLlama:
    """The three state calls of llama.cpp's API over a dict: sequence -> its state bytes."""

    def __init__(self) -> None:
        self.states: dict[int, bytes] = {}
        self.copies_out = 0

    def llama_state_seq_get_size(self, ctx: Any, seq: int) -> int:
        return len(self.states.get(seq, b""))

    def llama_state_seq_get_data(self, ctx: Any, buffer: Any, size: int, seq: int) -> int:
        self.copies_out += 1
        state = self.states.get(seq, b"")
        ctypes.memmove(buffer, state, len(state))
        return len(state)

    def llama_state_seq_set_data(self, ctx: Any, source: Any, size: int, seq: int) -> int:
        self.states[seq] = bytes(source)[:size]
        return size


class FakeContext:
    ctx = object()

    def __init__(self, llama: FakeLlama) -> None:
        self.llama = llama

    def kv_cache_seq_rm(self, seq: int, start: int, end: int) -> None:
        self.llama.states.pop(seq, None)


def parking(tmp_path: Path, park_bytes: int = 10**6) -> tuple[KvParking, FakeLlama]:
    llama = FakeLlama()
    return KvParking(llama, FakeContext(llama), park_bytes, KvDiskCache(tmp_path, 10**7)), llama


def test_a_chat_comes_back_from_ram_first_then_from_disk_after_a_restart(tmp_path: Path):
    park, llama = parking(tmp_path)
    chat = SYSTEM + [1, 2, 3]
    llama.states[0] = b"chat-state"
    park.park(0, chat)
    assert park.restore(1, chat + [4]) == chat and llama.states[1] == b"chat-state"
    park.close()

    again, llama = parking(tmp_path)  # a new process: RAM is empty, the disk is not
    assert again.restore(2, chat + [4]) == chat and llama.states[2] == b"chat-state"
    again.close()


def test_nothing_to_restore_leaves_the_sequence_alone(tmp_path: Path):
    park, llama = parking(tmp_path)
    llama.states[0] = b"system prompt only"
    assert park.restore(0, SYSTEM + [5]) is None
    assert llama.states[0] == b"system prompt only"
    park.close()


def test_an_ended_job_is_saved_once_and_short_chats_not_at_all(tmp_path: Path):
    park, llama = parking(tmp_path)
    llama.states[0] = b"x" * 100
    park.save(0, SYSTEM[: MIN_PARK_TOKENS - 1])
    assert llama.copies_out == 0
    park.save(0, SYSTEM + [1])
    park.save(0, SYSTEM + [1])  # the same tokens again: no second copy out of llama.cpp
    park.close()
    assert llama.copies_out == 1
    assert len(list(tmp_path.glob("*.kv"))) == 1


def test_without_ram_parking_a_slot_given_away_still_goes_to_disk(tmp_path: Path):
    park, llama = parking(tmp_path, park_bytes=0)
    llama.states[0] = b"y" * 50
    park.park(0, SYSTEM + [7])
    park.close()
    assert len(list(tmp_path.glob("*.kv"))) == 1
