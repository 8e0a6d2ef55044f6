"""KV caches on disk: chats' evaluated prompts survive a restart of the service.

One file per saved state: a small header, the chat it belongs to (its session id), the
tokens (int32) whose keys and values the state holds, then the state bytes as llama.cpp's
``llama_state_seq_get_data`` wrote them.
A state fits only the model file and context layout it came from, so each layout has its
own folder (:func:`layout_folder`).

- Writes happen on a background thread, to a temporary file renamed into place, so a
  crash never leaves a half file under a real name; every file is checked again when
  read (sizes must add up), and a bad one is deleted.
- Startup reads only headers and tokens, never the states.
- The folder stays within a byte budget: the least recently used files go first, and a
  save supersedes the earlier saves of the same chat (whose tokens it starts with).
- Deleting a chat deletes its states (:meth:`KvDiskCache.forget`): a state names its
  chat, so that no file keeps the tokens of a deleted chat, also across restarts. Files of
  version 1 (which named none) are deleted at start.
- Any disk failure logs a warning and turns the disk tier off; the service carries on.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import struct
import threading
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

MAGIC = b"RCKV"
VERSION = 2
HEADER = struct.Struct("<4sIIQH")
"""Magic, format version, number of tokens, length of the state in bytes, length of the
chat's id (UTF-8; 0: no chat, e.g. an OpenAI-endpoint request)."""
SUFFIX = ".kv"
TEMP_SUFFIX = ".tmp"
"""A file being written; renamed to its real name once complete."""
PENDING_WRITES = 4
"""States waiting for the writer; beyond, a save is skipped (the slot keeps its cache)."""
FORGET_WAIT = 10.0
"""Seconds :meth:`KvDiskCache.forget` waits for a write of the chat already under way."""


def layout_folder(root: Path, model_path: Path, context_size: int) -> Path:
    """The folder for states of this model file with this context per chat."""
    try:
        size = model_path.stat().st_size
    except OSError:
        size = 0
    return root / f"{model_path.stem}-{size}-ctx{context_size}"


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _name(tokens: Sequence[int]) -> str:
    return hashlib.sha1(array("i", tokens).tobytes()).hexdigest()[:24] + SUFFIX


@dataclass
class _Entry:
    tokens: tuple[int, ...]
    size: int
    used: float
    """Last use (the file's mtime): eviction goes by it."""
    chat: str | None = None
    """The chat whose tokens these are (its session id)."""


def _size(tokens: Sequence[int], state_len: int, chat: str | None) -> int:
    return HEADER.size + len((chat or "").encode()) + 4 * len(tokens) + state_len


class BadFile(Exception):
    """A file that is not a complete state of ours."""


def _read_head(file: BinaryIO, file_size: int) -> tuple[tuple[int, ...], int, str | None]:
    """Tokens, state length and chat from an open file; BadFile unless the sizes add up."""
    head = file.read(HEADER.size)
    if len(head) < 12:
        raise BadFile("short header")
    magic, version = head[:4], struct.unpack("<I", head[4:8])[0]
    if magic != MAGIC or version != VERSION:
        raise BadFile("not a state file of this version")
    if len(head) != HEADER.size:
        raise BadFile("short header")
    _, _, n_tokens, state_len, chat_len = HEADER.unpack(head)
    if HEADER.size + chat_len + 4 * n_tokens + state_len != file_size or state_len == 0:
        raise BadFile("truncated or padded")
    try:
        chat = file.read(chat_len).decode() or None
    except UnicodeDecodeError:
        raise BadFile("the chat's id is not UTF-8") from None
    tokens = array("i")
    tokens.frombytes(file.read(4 * n_tokens))
    return tuple(tokens), state_len, chat


class KvDiskCache:
    """Saved KV states of one model/context layout, in one folder, within ``budget`` bytes.

    :meth:`save`, :meth:`holds` and :meth:`load` are called by the inference worker; the
    writer thread does the writing and the evicting.
    """

    def __init__(self, folder: Path, budget: int) -> None:
        self.folder = folder
        self.budget = budget
        self.enabled = budget > 0
        self._index: dict[str, _Entry] = {}
        self._pending: dict[str, str | None] = {}
        """Names handed to the writer, and their chats."""
        self._dropped: set[str] = set()
        """Pending names whose chat was deleted meanwhile: not to be kept."""
        self._lock = threading.Condition()
        self._queue: queue.Queue[tuple[str, tuple[int, ...], bytes | bytearray, str | None] | None] = queue.Queue(
            PENDING_WRITES
        )
        self._writer: threading.Thread | None = None
        if not self.enabled:
            return
        try:
            self._scan()
        except OSError as error:
            self._disable("cannot use", error)
            return
        # Not a daemon: at exit (SIGTERM included) the interpreter waits for the writes handed over.
        self._writer = threading.Thread(target=self._write_loop, name="kv-disk-writer")
        self._writer.start()

    # ------------------------------------------------------------------ worker side
    def holds(self, tokens: Sequence[int]) -> bool:
        """Whether exactly these tokens are saved (or being saved)."""
        name = _name(tokens)
        with self._lock:
            return name in self._index or name in self._pending

    def save(self, tokens: Sequence[int], state: bytes | bytearray, chat: str | None = None) -> bool:
        """Hand the state of chat ``chat`` to the writer; False if the disk tier is off, busy
        or it is too big."""
        if not self.enabled or _size(tokens, len(state), chat) > self.budget:
            return False
        name = _name(tokens)
        with self._lock:
            if name in self._pending:
                return False
            self._pending[name] = chat
        try:
            self._queue.put_nowait((name, tuple(tokens), state, chat))
        except queue.Full:
            with self._lock:
                self._pending.pop(name, None)
            log.debug("KV disk writer busy: not saving a %d-token state", len(tokens))
            return False
        return True

    def forget(self, chat: str, timeout: float = FORGET_WAIT) -> int:
        """Delete every state of chat ``chat`` (it was deleted), also one being written now;
        how many states went. Waits up to ``timeout`` s for a write of it under way."""
        with self._lock:
            names = [name for name, entry in self._index.items() if entry.chat == chat]
            for name in names:
                del self._index[name]
            writing = [name for name, owner in self._pending.items() if owner == chat]
            self._dropped.update(writing)
        for name in names:
            self._unlink(name)
        with self._lock:  # the writer deletes a dropped state once written, then tells us
            done = self._lock.wait_for(lambda: chat not in self._pending.values(), timeout)
        if not done:
            log.warning("a KV state of a deleted chat was still being written after %.1f s", timeout)
        return len(names) + len(writing)

    def chats(self) -> set[str | None]:
        """The chats that have states here."""
        with self._lock:
            return {entry.chat for entry in self._index.values()}

    def best(self, prompt: Sequence[int], similar: float) -> tuple[int, ...] | None:
        """Tokens of the saved state sharing the longest prefix with ``prompt``, if at least
        ``similar`` of its tokens open the prompt."""
        with self._lock:
            entries = list(self._index.values())
        best, best_n = None, 0
        for entry in entries:
            if not entry.tokens or entry.tokens[0] != (prompt[0] if prompt else None):
                continue
            n = common_prefix(entry.tokens, prompt)
            if n / len(entry.tokens) >= similar and n > best_n:
                best, best_n = entry.tokens, n
        return best

    def load(self, tokens: Sequence[int]) -> bytearray | None:
        """The state saved for exactly ``tokens``; None (and the file deleted) if it is bad.

        A bytearray, so that llama.cpp can read it in place (no copy of some MB)."""
        if not self.enabled:
            return None
        name = _name(tokens)
        path = self.folder / name
        try:
            with path.open("rb") as file:
                held, state_len, _ = _read_head(file, os.fstat(file.fileno()).st_size)
                if held != tuple(tokens):
                    raise BadFile("tokens differ from the name")
                state = bytearray(state_len)
                read = file.readinto(state)
            if read != state_len:
                raise BadFile("short state")
        except BadFile as bad:
            log.warning("deleting bad KV state %s: %s", path, bad)
            self._forget(name, delete=True)
            return None
        except OSError as error:
            log.warning("cannot read KV state %s: %s", path, error)
            self._forget(name, delete=False)
            return None
        now = time.time()
        try:
            os.utime(path, (now, now))  # recently used: evicted last
        except OSError:
            pass
        with self._lock:
            if name in self._index:
                self._index[name].used = now
        return state

    def close(self, timeout: float = 5.0) -> None:
        """Finish the writes handed over so far (up to ``timeout`` s), then stop the writer."""
        if self._writer is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            log.warning("KV disk writer still busy after %.1f s: stopping without it", timeout)
            return
        self._writer.join(timeout)
        self._writer = None

    @property
    def used_bytes(self) -> int:
        with self._lock:
            return sum(e.size for e in self._index.values())

    # ------------------------------------------------------------------ writer side
    def _scan(self) -> None:
        """Index the folder from headers and tokens; delete leftovers and bad files."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for path in self.folder.iterdir():
            if path.name.endswith(TEMP_SUFFIX):
                path.unlink(missing_ok=True)  # a write that a crash interrupted
                continue
            if not path.name.endswith(SUFFIX):
                continue
            try:
                stat = path.stat()
                with path.open("rb") as file:
                    tokens, _, chat = _read_head(file, stat.st_size)
                if _name(tokens) != path.name:
                    raise BadFile("name does not match its tokens")
            except BadFile as bad:
                log.warning("deleting bad KV state %s: %s", path, bad)
                path.unlink(missing_ok=True)
                continue
            except OSError as error:  # one unreadable file: skip it, keep the others
                log.warning("cannot read KV state %s: %s", path, error)
                continue
            self._index[path.name] = _Entry(tokens, stat.st_size, stat.st_mtime, chat)
        self._evict()
        log.info("KV disk cache %s: %d states, %.1f MB", self.folder, len(self._index), self.used_bytes / 2**20)

    def _write_loop(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                if threading.main_thread().is_alive():
                    continue
                return  # the program is exiting and every write is done
            if item is None:
                return
            name, tokens, state, chat = item
            try:
                with self._lock:
                    dropped = name in self._dropped
                if self.enabled and not dropped:
                    self._write(name, tokens, state, chat)
            except OSError as error:
                self._disable("cannot write to", error)
            finally:
                with self._lock:
                    self._pending.pop(name, None)
                    self._dropped.discard(name)
                    self._lock.notify_all()

    def _write(self, name: str, tokens: tuple[int, ...], state: bytes | bytearray, chat: str | None) -> None:
        temp = self.folder / (name + TEMP_SUFFIX)
        owner = (chat or "").encode()
        try:
            with temp.open("wb") as file:
                file.write(HEADER.pack(MAGIC, VERSION, len(tokens), len(state), len(owner)))
                file.write(owner)
                file.write(array("i", tokens).tobytes())
                file.write(state)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, self.folder / name)
        except OSError:
            temp.unlink(missing_ok=True)
            raise
        size = _size(tokens, len(state), chat)
        with self._lock:
            dropped = name in self._dropped  # its chat was deleted while we wrote
            if not dropped:
                self._index[name] = _Entry(tokens, size, time.time(), chat)
            # The same chat saved earlier, shorter: this state holds all of it.
            superseded = [
                n
                for n, e in self._index.items()
                if n != name and len(e.tokens) <= len(tokens) and tokens[: len(e.tokens)] == e.tokens
            ]
        if dropped:
            self._unlink(name)
            return
        for old in superseded:
            self._forget(old, delete=True)
        self._evict()

    def _evict(self) -> None:
        """Delete the least recently used states until the folder fits the budget."""
        while True:
            with self._lock:
                if sum(e.size for e in self._index.values()) <= self.budget or not self._index:
                    return
                oldest = min(self._index, key=lambda n: self._index[n].used)
            self._forget(oldest, delete=True)

    def _forget(self, name: str, delete: bool) -> None:
        with self._lock:
            self._index.pop(name, None)
        if delete:
            self._unlink(name)

    def _unlink(self, name: str) -> None:
        try:
            (self.folder / name).unlink(missing_ok=True)
        except OSError as error:
            log.warning("cannot delete KV state %s: %s", self.folder / name, error)

    def _disable(self, doing: str, error: OSError) -> None:
        log.warning("%s the KV disk cache in %s (%s): going on without it", doing, self.folder, error)
        self.enabled = False
