"""KV states on disk (engine.inference.kv_disk), without a model: the bytes are opaque to it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from engine.inference.kv_disk import HEADER, KvDiskCache, _name, layout_folder

SYSTEM = list(range(100, 164))


def saved(cache: KvDiskCache, tokens: list[int], state: bytes) -> None:
    """Save and wait for the writer (close flushes it)."""
    assert cache.save(tokens, state)
    cache.close()


def files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.kv"))


def test_a_saved_state_comes_back_after_a_restart(tmp_path: Path):
    chat = SYSTEM + [1, 2, 3]
    saved(KvDiskCache(tmp_path, 10**6), chat, b"state" * 100)
    again = KvDiskCache(tmp_path, 10**6)
    prompt = chat + [4, 5]
    assert again.best(prompt, 0.5) == tuple(chat)
    assert again.load(chat) == b"state" * 100
    assert again.holds(chat) and not again.holds(chat + [4])
    again.close()


def test_the_longest_shared_prefix_wins_and_a_mere_shared_system_prompt_does_not(tmp_path: Path):
    cache = KvDiskCache(tmp_path, 10**6)
    mine, other = SYSTEM + list(range(100)), SYSTEM + [7] * 200
    assert cache.save(mine, b"a" * 10) and cache.save(other, b"b" * 10)
    cache.close()
    cache = KvDiskCache(tmp_path, 10**6)
    assert cache.best(mine + [9], 0.5) == tuple(mine)
    # Both share only their 64-token system prompt with this one: neither is its chat.
    assert cache.best(SYSTEM + [8] * 10, 0.5) is None
    cache.close()


def test_of_two_branches_of_a_chat_the_one_sharing_more_of_the_prompt_is_chosen(tmp_path: Path):
    trunk = SYSTEM + list(range(40))
    short, long = trunk + [2] * 10, trunk + [3] * 30
    cache = KvDiskCache(tmp_path, 10**6)
    assert cache.save(short, b"s") and cache.save(long, b"l")
    cache.close()
    cache = KvDiskCache(tmp_path, 10**6)
    assert cache.best(long + [9], 0.5) == tuple(long)
    assert cache.best(short + [9], 0.5) == tuple(short)
    cache.close()


@pytest.mark.parametrize("damage", ["truncate", "pad", "magic", "tokens"])
def test_a_damaged_file_is_ignored_and_deleted(tmp_path: Path, damage: str):
    chat = SYSTEM + [1, 2, 3]
    saved(KvDiskCache(tmp_path, 10**6), chat, b"x" * 1000)
    (path,) = files(tmp_path)
    data = bytearray(path.read_bytes())
    if damage == "truncate":  # what a crash mid-write would leave, were it not renamed last
        data = data[:-10]
    elif damage == "pad":
        data += b"\0"
    elif damage == "magic":
        data[:4] = b"NOPE"
    else:  # the tokens no longer match the name (another chat's state)
        data[HEADER.size] ^= 1
    path.write_bytes(bytes(data))
    cache = KvDiskCache(tmp_path, 10**6)
    assert cache.best(chat + [4], 0.5) is None
    assert cache.load(chat) is None
    assert files(tmp_path) == []
    cache.close()


def test_a_file_damaged_after_startup_is_refused_when_loaded(tmp_path: Path):
    chat = SYSTEM + [1, 2, 3]
    cache = KvDiskCache(tmp_path, 10**6)
    saved(cache, chat, b"x" * 1000)
    cache = KvDiskCache(tmp_path, 10**6)
    (path,) = files(tmp_path)
    path.write_bytes(path.read_bytes()[:-1])
    assert cache.load(chat) is None
    assert files(tmp_path) == [] and cache.best(chat, 0.5) is None
    cache.close()


def test_an_interrupted_write_leaves_no_file_that_loads(tmp_path: Path):
    (tmp_path / "0123.kv.tmp").write_bytes(b"RCKV half")
    cache = KvDiskCache(tmp_path, 10**6)
    assert list(tmp_path.iterdir()) == [] and cache.used_bytes == 0
    cache.close()


def test_the_least_recently_used_states_go_beyond_the_budget(tmp_path: Path):
    state = b"s" * 1000
    size = HEADER.size + 4 * 70 + len(state)
    chats = [[n] * 70 for n in range(1, 5)]
    cache = KvDiskCache(tmp_path, 3 * size)
    for chat in chats[:3]:
        assert cache.save(chat, state)
    cache.close()
    old = time.time() - 100
    for n, chat in enumerate(chats[:3]):  # saved in this order, a second apart
        os.utime(tmp_path / _name(chat), (old + n, old + n))
    cache = KvDiskCache(tmp_path, 3 * size)
    assert cache.load(chats[0]) == state  # used again: now the second chat is the oldest
    saved(cache, chats[3], state)
    cache = KvDiskCache(tmp_path, 3 * size)
    assert [cache.holds(chat) for chat in chats] == [True, False, True, True]
    assert cache.used_bytes == 3 * size
    cache.close()


def test_a_later_save_of_the_same_chat_replaces_the_earlier_ones(tmp_path: Path):
    turn1 = SYSTEM + [1, 2, 3]
    turn2 = turn1 + [4, 5, 6]
    regenerated = SYSTEM + [1, 2, 9]  # another branch of the chat: kept
    cache = KvDiskCache(tmp_path, 10**6)
    for tokens in (turn1, regenerated, turn2):
        assert cache.save(tokens, b"k" * 100)
    cache.close()
    cache = KvDiskCache(tmp_path, 10**6)
    assert len(files(tmp_path)) == 2
    assert cache.best(turn2, 0.5) == tuple(turn2)
    assert cache.best(regenerated, 0.5) == tuple(regenerated)
    cache.close()


def test_zero_budget_saves_nothing(tmp_path: Path):
    cache = KvDiskCache(tmp_path / "kv", 0)
    assert not cache.enabled
    assert not cache.save(SYSTEM, b"x")
    assert cache.best(SYSTEM, 0.5) is None and cache.load(SYSTEM) is None
    cache.close()
    assert not (tmp_path / "kv").exists()


def test_a_state_larger_than_the_budget_is_not_written(tmp_path: Path):
    cache = KvDiskCache(tmp_path, 100)
    assert not cache.save(SYSTEM, b"x" * 1000)
    cache.close()
    assert files(tmp_path) == []


def test_an_unwritable_folder_turns_the_disk_tier_off_without_raising(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    cache = KvDiskCache(blocker / "kv", 10**6)  # a folder inside a file cannot exist
    assert not cache.enabled
    assert not cache.save(SYSTEM, b"x")
    cache.close()


def test_a_failing_write_turns_the_disk_tier_off(tmp_path: Path):
    cache = KvDiskCache(tmp_path / "kv", 10**6)
    (tmp_path / "kv").rmdir()  # the folder vanished (unmounted, deleted)
    saved(cache, SYSTEM, b"x" * 10)
    assert not cache.enabled and not cache.holds(SYSTEM)


def test_each_model_file_and_context_size_has_its_own_folder(tmp_path: Path):
    model = tmp_path / "Small-Model.Q4.gguf"
    model.write_bytes(b"GGUF" * 10)
    assert layout_folder(tmp_path / "kv", model, 2048) == tmp_path / "kv" / "Small-Model.Q4-40-ctx2048"
    assert layout_folder(tmp_path / "kv", model, 4096) != layout_folder(tmp_path / "kv", model, 2048)
