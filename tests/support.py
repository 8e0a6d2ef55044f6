"""Helpers for tests (and the benchmark) that run real processes: free ports, readiness, shutdown."""

from __future__ import annotations

import ast
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine

from engine.config import REPO_ROOT
from engine.inference.model_files import BUNDLED
from shared.sse import SSEDecoder


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def model_path() -> Path:
    path = Path(os.environ.get("RUSCHAT_TEST_MODEL") or REPO_ROOT / "models" / BUNDLED.filename)
    if not path.is_file():
        pytest.fail(f"these tests need {path}: run `python3 scripts/setup.py` first")
    return path


def wait_until(predicate: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Process:
    """A server subprocess on a free port, ready when ``ready_path`` answers 200."""

    def __init__(
        self,
        command: Sequence[str],
        log: Path,
        port: int | None = None,
        ready_path: str = "/healthz",
        env: Mapping[str, str] | None = None,
        cwd: Path = REPO_ROOT,
    ) -> None:
        self.port = port or free_port()
        self.cwd = cwd
        self.env = {**os.environ, **(env or {})}
        self.command = [c.replace("{port}", str(self.port)) for c in command]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path, self.ready_path = log, ready_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Process:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command, cwd=self.cwd, stdout=self._log, stderr=subprocess.STDOUT, env=self.env
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{' '.join(self.command)} exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if requests.get(self.url + self.ready_path, timeout=1).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or listening while the model still loads
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{' '.join(self.command)} not ready after {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def worker_pid(self) -> int:
        """The gunicorn worker (the process that holds the model)."""
        assert self.proc is not None
        return int(Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()[0])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None:
            self._log.close()


def service_process(
    module: str, db: Path | str, log: Path, *args: str, port: int | None = None, data_dir: Path | None = None
) -> Process:
    """``python -m backend_qwen`` (or tinyllama) on the bundled model. ``db``: a SQLite file
    or a database URL; the data folder (saved KV caches) is ``data_dir``, by default the
    SQLite file's folder. Titles by the model are off unless ``args`` say ``--titles on``:
    they would change the sidebars and titles that tests compare."""
    if data_dir is None:
        assert isinstance(db, Path), "a service on a database URL needs a data_dir"
        data_dir = db.parent
    command = [
        sys.executable,
        "-m",
        module,
        "--port",
        "{port}",
        "--db",
        str(db),
        "--model",
        str(model_path()),
        "--threads",
        "2",
        "--titles",
        "off",
        *args,  # a later --titles wins
    ]
    return Process(command, log, port, env={"RUSCHAT_DATA_DIR": str(data_dir)})


def chat_body(
    text: str, session_id: str | None = None, history: list[dict[str, str]] | None = None, **extra: Any
) -> dict[str, Any]:
    messages = list(history or []) + [{"id": str(uuid.uuid4()), "role": "user", "content": text}]
    return {"session_id": session_id or str(uuid.uuid4()), "messages": messages, "temperature": 0, **extra}


def iter_chunks(response: requests.Response) -> Iterator[tuple[float, dict[str, Any] | None]]:
    """Each chunk (unnamed event) of a streamed chat as it arrives, with its arrival time
    (``time.perf_counter``); ``None`` stands for ``[DONE]``."""
    decoder = SSEDecoder()
    for piece in response.iter_content(chunk_size=None, decode_unicode=True):
        now = time.perf_counter()
        for event in decoder.feed(piece):
            if event.event == "message":
                yield now, None if event.data == "[DONE]" else json.loads(event.data)


def read_stream(response: requests.Response) -> tuple[list[dict[str, Any]], bool]:
    """The chunks of a streamed chat response, and whether [DONE] came."""
    chunks, done = [], False
    for _, chunk in iter_chunks(response):
        if chunk is None:
            done = True
        else:
            chunks.append(chunk)
    return chunks, done


def content_of(chunk: dict[str, Any]) -> str:
    return (chunk["choices"][0]["delta"].get("content") or "") if chunk.get("choices") else ""


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(content_of(c) for c in chunks)


class InfoWatch:
    """Every ``/api/info`` of some services while they work, polled from a thread:
    ``seen`` holds one list per poll, in the order of ``urls``."""

    def __init__(self, urls: Sequence[str], every: float = 0.05) -> None:
        self.urls, self.every = list(urls), every
        self.seen: list[list[dict[str, Any]]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        with requests.Session() as session:
            while not self._done.wait(self.every):
                self.seen.append([session.get(url + "/api/info", timeout=10).json() for url in self.urls])

    def __enter__(self) -> InfoWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()


def engine_before(url: str, migration: Callable[..., None]) -> Engine:
    """A database (any SQLAlchemy URL) as the release before ``migration`` left it: every
    earlier migration applied and recorded. The caller fills it and disposes of the engine."""
    from sqlalchemy import create_engine, text

    from engine.store.dialects import engine_url
    from engine.store.migrations import MIGRATIONS

    previous = MIGRATIONS[: MIGRATIONS.index(migration)]
    engine = create_engine(engine_url(url))
    with engine.begin() as conn:
        for step in previous:
            step(conn)
        conn.execute(text("create table migrations (name varchar(100) primary key, applied_at float not null)"))
        conn.execute(text("insert into migrations values (:name, 1.0)"), [{"name": m.__name__} for m in previous])
    return engine


def database_before(path: Path, migration: Callable[..., None]) -> sqlite3.Connection:
    """A SQLite file as the release before ``migration`` left it (every earlier migration
    applied and recorded), open for the test to fill with that release's rows."""
    engine_before(f"sqlite:///{path}", migration).dispose()
    return sqlite3.connect(path)


def chat_before(path: Path, migration: Callable[..., None]) -> str:
    """A database as the release before ``migration`` left it, holding one chat titled
    "Old"; the chat's id."""
    db = database_before(path, migration)
    session_id = str(uuid.uuid4())
    db.execute("insert into sessions (id, title, created_at, updated_at) values (?, 'Old', 1.0, 2.0)", (session_id,))
    db.commit()
    db.close()
    return session_id


LLAMA_SERVER = REPO_ROOT / ".cache" / "bin" / "llama-server"
KINDS = ("llama-server", "llama-cpp-python")
"""The upstreams: llama.cpp's server (built by setup from the llama.cpp source that
llama-cpp-python vendors) and llama-cpp-python's own; each answers one chat at a time."""


def start_upstream(kind: str, log: Path) -> Process:
    model = str(model_path())
    if kind == "llama-server":
        if not LLAMA_SERVER.is_file():
            pytest.fail(f"{LLAMA_SERVER} is missing: run `python3 scripts/setup.py --dev`")
        command = [str(LLAMA_SERVER), "-m", model, "--host", "127.0.0.1", "--port", "{port}"]
        command += ["-c", "2048", "--parallel", "1", "-t", "1", "--no-webui"]
        return Process(command, log, ready_path="/health").start(timeout=120)
    command = [sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1", "--port", "{port}"]
    # By default it cuts off the answer it is writing when another request arrives.
    command += ["--n_ctx", "2048", "--n_threads", "1", "--interrupt_requests", "False"]
    return Process(command, log, ready_path="/v1/models").start(timeout=120)


def gateway(kind: str, folder: Path, upstream: Process) -> Process:
    """Our capable service, generating on ``upstream`` (llama-server says its context itself)."""
    context = [] if kind == "llama-server" else ["--ctx", "2048"]
    args = ["--engine-url", f"{upstream.url}/v1", *context]
    return service_process("backend_qwen", folder / "history.sqlite3", folder / "service.log", *args).start()


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function (``from a import b``:
    ``a`` and ``a.b``, which may be a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found
