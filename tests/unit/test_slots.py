"""Which KV slot a chat lands in (the rule behind prefix reuse across interleaved chats)."""

from __future__ import annotations

from engine.inference.llama import LlamaEngine, Slot
from engine.inference.protocol import Prompt

SYSTEM = list(range(100, 130))  # a default system prompt every chat starts with


def test_a_chat_returns_to_the_slot_that_holds_it():
    mine = Slot(seq=0, tokens=SYSTEM + [1, 2, 3, 4], last_used=5.0)
    other = Slot(seq=1, tokens=SYSTEM + [9, 9], last_used=9.0)
    prompt = Prompt(tuple(SYSTEM + [1, 2, 3, 4, 5, 6]))
    assert LlamaEngine._choose([other, mine], prompt) is mine


def test_a_new_chat_takes_an_empty_slot_not_one_sharing_only_the_system_prompt():
    busy_before = Slot(seq=0, tokens=SYSTEM + list(range(40)), last_used=1.0)
    empty = Slot(seq=1)
    prompt = Prompt(tuple(SYSTEM + [7, 7, 7]))
    assert LlamaEngine._choose([busy_before, empty], prompt) is empty


def test_without_an_empty_slot_the_least_recently_used_is_evicted():
    old = Slot(seq=0, tokens=SYSTEM + list(range(40)), last_used=1.0)
    recent = Slot(seq=1, tokens=SYSTEM + list(range(50, 90)), last_used=2.0)
    prompt = Prompt(tuple(SYSTEM + [7, 7, 7]))
    assert LlamaEngine._choose([recent, old], prompt) is old


def test_a_background_jobs_cache_is_dropped_when_it_ends_not_saved():
    from types import SimpleNamespace

    engine = LlamaEngine.__new__(LlamaEngine)  # no model: only the slot bookkeeping runs
    removed: list[tuple[int, int, int]] = []
    saved: list[int] = []
    engine._ctx = SimpleNamespace(kv_cache_seq_rm=lambda seq, start, end: removed.append((seq, start, end)))
    engine._parking = SimpleNamespace(save=lambda seq, tokens, chat: saved.append(seq))
    title = Slot(seq=1, tokens=[1, 2, 3], key="title", keep=False)
    engine._release(title)
    assert (removed, saved, title.tokens, title.key) == ([(1, 0, -1)], [], [], None)
    chat = Slot(seq=2, tokens=[1, 2], key="chat")
    engine._release(chat)
    assert saved == [2] and chat.tokens == [1, 2]


def test_forgetting_a_chat_empties_its_idle_slots_and_saves_none_of_its_running_one():
    from types import SimpleNamespace

    engine = LlamaEngine.__new__(LlamaEngine)  # no model: only the slot bookkeeping runs
    removed: list[int] = []
    saved: list[str | None] = []
    forgotten: list[str] = []
    engine._ctx = SimpleNamespace(kv_cache_seq_rm=lambda seq, start, end: removed.append(seq))
    engine._parking = SimpleNamespace(
        save=lambda seq, tokens, chat: saved.append(chat), forget=lambda chat: forgotten.append(chat)
    )
    idle = Slot(seq=0, tokens=[1, 2, 3], chat="gone")
    running = Slot(seq=1, tokens=[1, 2, 4], key="its last answer", chat="gone")
    other = Slot(seq=2, tokens=[1, 2, 5], chat="kept")
    engine._slots = [idle, running, other]
    engine.forget("gone")
    assert (removed, idle.tokens, idle.chat, forgotten) == ([0], [], None, ["gone"])
    assert other.tokens == [1, 2, 5] and running.tokens == [1, 2, 4]
    engine._release(running)  # its stop, one step later: dropped, not saved
    assert (removed, saved, running.tokens) == ([0, 1], [], [])
    engine._release(Slot(seq=2, tokens=[1, 2, 5], key="k", chat="kept"))
    assert saved == ["kept"]
