"""engine.chat.summary: finding, reusing and writing summaries of what left the window."""

from __future__ import annotations

import uuid
from pathlib import Path

from engine.chat.summary import SummaryFailed, SummaryMaker, transcript
from engine.store.storage import Store
from shared.schemas import ChatMessage


class Recorder:
    model, service = "Fast 1B", "tinyllama"

    def __init__(self, fail: bool = False) -> None:
        self.texts: list[str] = []
        self.fail = fail

    def __call__(self, text: str, max_tokens: int) -> str:
        self.texts.append(text)
        if self.fail:
            raise SummaryFailed("the summariser is unreachable")
        return f"summary #{len(self.texts)}"


def chat(store: Store, n: int) -> tuple[str, list[ChatMessage]]:
    sid = str(uuid.uuid4())
    messages = [ChatMessage(str(uuid.uuid4()), "user" if i % 2 == 0 else "assistant", f"message {i}") for i in range(n)]
    store.add_user_message(sid, messages[0])
    return sid, messages


def test_a_later_summary_is_written_from_the_earlier_one_and_the_messages_after_it(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    sid, messages = chat(store, 12)
    recorder = Recorder()
    maker = SummaryMaker(store, recorder, sid, 4096)
    first, note = maker(messages[:4])
    assert first is not None and note is None and first.through_id == messages[3].id
    maker.store_created()
    assert SummaryMaker(store, recorder, sid, 4096)(messages[:4]) == (first, None)  # reused
    assert len(recorder.texts) == 1

    later = SummaryMaker(store, recorder, sid, 4096)
    second, _ = later(messages[:8])
    assert second is not None and second.content == "summary #2"
    text = recorder.texts[-1]
    assert text.startswith("Summary of what came before: summary #1")
    assert "message 3" not in text and "User: message 4" in text and "Assistant: message 7" in text
    store.close()


def test_no_summary_says_why(tmp_path: Path):
    store = Store(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    sid, messages = chat(store, 6)
    summary, note = SummaryMaker(store, Recorder(fail=True), sid, 4096)(messages[:4])
    assert summary is None and note is not None and "unreachable" in note
    summary, note = SummaryMaker(store, None, sid, 4096)(messages[:4])
    assert summary is None and note is not None and "off" in note
    assert store.list_summaries(sid) == []
    store.close()


def test_the_transcript_keeps_the_newest_messages_within_its_budget():
    messages = [ChatMessage(str(uuid.uuid4()), "user", f"number {i} " + "x" * 40) for i in range(50)]
    text = transcript(messages, 500)
    assert len(text) <= 500 and "number 49" in text and "number 0 " not in text
