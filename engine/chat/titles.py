"""Chat titles written by the model: after a chat's first answer, the fast model proposes one.

In a background thread, at low priority (engine.chat.writer, engine.scheduling.scheduler): a user's request
never waits for a title. The title replaces the chat's opening words only if nobody titled
the chat meanwhile (Store.set_model_title): a title the user set always wins. Whatever
goes wrong (the fast service down, busy, an empty answer), the chat keeps its opening words.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

from engine.chat.writer import Messages, WriteFailed, Writer
from engine.store.storage import Store

log = logging.getLogger(__name__)

MAX_TITLE_TOKENS = 24
MAX_TITLE_CHARS = 60
MAX_READ_CHARS = 1500
"""Of the question and of the answer, what the model reads to title the chat."""
ATTEMPTS = 3
"""Tries when the title gave way to users' requests (preempted, or the queue was full)."""
RETRY_SECONDS = 5.0
MAX_TITLE_WORDS = 8
# Worded for the smallest model we run (SmolLM2-135M). Asked for "the title of this
# conversation (three to six words)" it echoed the question in about half its answers
# ("Three to six words: Sleep", "What is the title of this conversation?"); asked what the
# conversation is about, it says "This conversation is about sleep cycles", which
# clean_title() takes apart (the echo goes, the topic stays).
SYSTEM = "You write titles for conversations."
QUESTION = "What is this conversation about? Reply with a short title only."
INSTRUCTION = f"{SYSTEM} {QUESTION}"
"""What the model is told: a title must not repeat it (clean_title)."""
_QUOTED = re.compile(r"[\"“]([^\"“”\n]*\w[^\"“”\n]*)[\"”]")
_MARKUP = re.compile(r"[\"`*_#>\[\]“”«»]")
_EDGE = "'‘’ .:;,!"
"""Taken off the ends only: an apostrophe inside a word stays."""
_LABEL = re.compile(r"^\s*(?:the\s+)?title(?:\s+of\s+this\s+conversation)?\s*(?:is\b|:)\s*", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_LABELS = frozenset({"title", "titles", "answer", "question", "topic", "name", "here", "s"})
"""Words a model puts before its title when it repeats the question instead of answering it."""
_COMMON = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "is",
        "are",
        "this",
        "that",
        "what",
        "which",
        "how",
        "with",
        "for",
        "and",
        "or",
        "in",
        "on",
        "about",
        "it",
        "be",
        "do",
        "you",
        "your",
        "i",
        "my",
    ]
)
"""Words a real title shares with any instruction: they alone never make an echo."""
_AFTER_ECHO = " :;,.!?-–—()'‘’"


def title_messages(question: str, answer: str) -> Messages:
    conversation = f"Conversation:\nUser: {question[:MAX_READ_CHARS]}\nAssistant: {answer[:MAX_READ_CHARS]}"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"{conversation}\n\n{QUESTION}"}]


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def strip_echo(line: str, instruction: str = INSTRUCTION) -> str | None:
    """``line`` without a leading echo of ``instruction`` ("Three to six words: ...", "This
    conversation is about ..."); None when it is mostly the instruction itself."""
    vocabulary = set(_words(instruction)) | _LABELS | _COMMON
    telling = vocabulary - _COMMON  # an echo has at least one of these
    words = list(_WORD.finditer(line))
    lead = 0
    while lead < len(words) and words[lead].group().lower() in vocabulary:
        lead += 1
    if lead and any(w.group().lower() in telling for w in words[:lead]):
        rest = line[words[lead - 1].end() :]
        # One word alone is an echo only when marked as a label ("Title: ...").
        if lead >= 2 or rest.lstrip(" '‘’").startswith((":", "-", "–", "—", ")")):
            rest = rest.lstrip(_AFTER_ECHO)
            line = rest[:1].upper() + rest[1:]
    content = [w for w in _words(line) if w not in _COMMON]
    if not content or 2 * sum(w in telling for w in content) > len(content):
        return None
    return line


def clean_title(text: str, instruction: str = INSTRUCTION) -> str | None:
    """The model's proposal as a title: what it quoted, else its first line, without quotes,
    Markdown, a ``Title:`` label or an echo of ``instruction``, its first sentence, at most MAX_TITLE_WORDS
    words and MAX_TITLE_CHARS characters; None if nothing (or only the echo) is left."""
    quoted = _QUOTED.search(text)
    lines = [quoted.group(1)] if quoted else text.splitlines()
    line = next((line for line in lines if _MARKUP.sub("", line).strip()), "")
    line = strip_echo(_LABEL.sub("", _MARKUP.sub("", line)), instruction) or ""
    line = _SENTENCE_END.split(line, maxsplit=1)[0]  # a title is no more than its first sentence
    words = " ".join(line.split()[:MAX_TITLE_WORDS]).strip(_EDGE)
    if len(words) > MAX_TITLE_CHARS:
        cut = words[: MAX_TITLE_CHARS - 1]
        words = (cut.rsplit(" ", 1)[0] if " " in cut else cut).strip(_EDGE) + "…"
    return words if any(c.isalnum() for c in words) else None


class Titles:
    """Proposes titles in background threads: one at a time per chat, none after close()."""

    def __init__(
        self,
        store: Store,
        writer: Writer | None,
        retry_seconds: float = RETRY_SECONDS,
        on_done: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.writer = writer
        self.retry_seconds = retry_seconds
        self.on_done = on_done
        """Told how each title job ended: ``stored``, ``kept`` (the chat was titled or gone
        meanwhile, or the service is closing) or ``failed`` (no title to be had): metrics."""
        self._lock = threading.Lock()
        self._pending: dict[str, threading.Thread] = {}
        self._closed = threading.Event()

    def propose(self, session_id: str, question: str, answer: str) -> None:
        """Title the chat after its first answer, unless a title is on its way already."""
        if self.writer is None or not answer.strip():
            return
        with self._lock:
            if self._closed.is_set() or session_id in self._pending:
                return
            thread = threading.Thread(
                target=self._write, args=(session_id, question, answer), name="title", daemon=True
            )
            self._pending[session_id] = thread
        thread.start()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def close(self, timeout: float = 1.0) -> None:
        """Start no title and store none from now on; wait up to ``timeout`` s for the threads
        (one waiting on the fast service gives up with its request, storing nothing)."""
        with self._lock:
            self._closed.set()
            threads = list(self._pending.values())
        for thread in threads:
            thread.join(timeout / max(len(threads), 1))

    def _write(self, session_id: str, question: str, answer: str) -> None:
        outcome = "failed"
        try:
            title = self._ask(session_id, title_messages(question, answer))
            if title == "":
                outcome = "kept"
            elif title is not None and not self._closed.is_set():
                outcome = "stored" if self.store.set_model_title(session_id, title) else "kept"
        except Exception:  # a thread of its own: nothing above it would log this
            log.exception("titling chat %s failed", session_id)
        finally:
            with self._lock:
                self._pending.pop(session_id, None)
            if self.on_done is not None:
                self.on_done(outcome)

    def _ask(self, session_id: str, messages: Messages) -> str | None:
        """The model's title; "" when none is wanted any more; None when none came."""
        assert self.writer is not None
        for attempt in range(1, ATTEMPTS + 1):
            if self._closed.is_set() or self.store.title_source(session_id) != "opening":
                return ""  # going away, deleted, or titled meanwhile
            try:
                return clean_title(self.writer(messages, MAX_TITLE_TOKENS, background=True))
            except WriteFailed as error:
                log.info("no title for chat %s (attempt %d): %s", session_id, attempt, error)
                if not error.retry or self._closed.wait(self.retry_seconds * attempt):
                    return None
        return None
