"""Real service processes on free loopback ports, running the bundled GGUF model."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from engine.model_files import BUNDLED
from engine.settings import REPO_ROOT

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def model_path() -> Path:
    path = Path(os.environ.get("RUSCHAT_TEST_MODEL") or REPO_ROOT / "models" / BUNDLED.filename)
    if not path.is_file():
        pytest.fail(f"integration tests need {path}: run `python3 scripts/setup.py` first")
    return path


class ServiceProcess:
    """``python -m backend_qwen`` (or tinyllama) as a subprocess, always stopped in the end."""

    def __init__(self, module: str, db: Path, log: Path, *args: str) -> None:
        self.module, self.db, self.log_path, self.args = module, db, log, args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ServiceProcess:
        command = [
            sys.executable,
            "-m",
            self.module,
            "--port",
            str(self.port),
            "--db",
            str(self.db),
            "--model",
            str(model_path()),
            "--threads",
            "2",
            *self.args,
        ]
        self.log = self.log_path.open("ab")
        self.proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.module} exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"{self.module} not ready after {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def worker_pid(self) -> int:
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return int(children[0])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    folder = tmp_path_factory.mktemp("service")
    proc = ServiceProcess("backend_qwen", folder / "history.sqlite3", folder / "service.log")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def chat_body(
    text: str, session_id: str | None = None, history: list[dict[str, str]] | None = None, **extra: Any
) -> dict[str, Any]:
    messages = list(history or []) + [{"id": str(uuid.uuid4()), "role": "user", "content": text}]
    return {"session_id": session_id or str(uuid.uuid4()), "messages": messages, "temperature": 0, **extra}


def read_stream(response: requests.Response) -> tuple[list[dict[str, Any]], bool]:
    """All unnamed SSE data objects of a streamed response, and whether [DONE] came."""
    chunks, done, event = [], False, None
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: "):
            data = line[len("data: ") :]
            if event is None:
                if data == "[DONE]":
                    done = True
                else:
                    chunks.append(json.loads(data))
        elif line == "":
            event = None
    return chunks, done


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
