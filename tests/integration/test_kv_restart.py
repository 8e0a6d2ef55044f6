"""A chat's KV cache survives a restart of the service (saved under its data folder)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import Process, chat_body, read_stream, service_process, text_of, wait_until

pytestmark = pytest.mark.integration

STORY = (
    "Here are my notes about the lighthouse on the northern cape, its keepers, the ships "
    "that passed it, the storms of every winter and the village that lived from the sea. "
)


def turn(service: Process, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    with requests.post(service.url + "/api/chat", json=body, stream=True, timeout=120) as response:
        assert response.status_code == 200, response.text
        chunks, done = read_stream(response)
    assert done
    return text_of(chunks), chunks[-1]


def saved_states(folder: Path) -> list[Path]:
    return sorted((folder / "kv").glob("qwen/*/*.kv"))


def kill_hard(service: Process) -> None:
    """kill -9 the worker that holds the model, then its master: no shutdown code runs."""
    assert service.proc is not None
    os.kill(service.worker_pid(), signal.SIGKILL)
    service.proc.send_signal(signal.SIGKILL)
    service.proc.wait(10)
    service.stop()  # closes the log


def test_a_chat_keeps_its_cache_across_a_kill_and_a_restart(tmp_path: Path):
    service = service_process("backend_qwen", tmp_path / "history.sqlite3", tmp_path / "service.log", "--parallel", "2")
    service.start()
    try:
        first = chat_body(STORY * 16 + "\nSummarise my notes in one sentence.", max_tokens=24)
        answer, final = turn(service, first)
        assert final["usage"]["prompt_tokens"] >= 600
        history = first["messages"] + [{"role": "assistant", "content": answer}]
        # Written by a background thread after the answer ended.
        wait_until(lambda: saved_states(tmp_path), timeout=30, what="a saved KV state")

        kill_hard(service)
        service.start()
        second = chat_body("Who were the keepers?", session_id=first["session_id"], history=history, max_tokens=24)
        answer, final = turn(service, second)
        prompt_tokens = final["usage"]["prompt_tokens"]
        assert final["ruschat"]["timings"]["cached_prompt_tokens"] >= 0.9 * prompt_tokens, service.output()

        # The second turn supersedes the first one's state (once written), and a plain
        # SIGTERM keeps it too.
        wait_until(lambda: len(saved_states(tmp_path)) == 1, timeout=30, what="one state per chat")
        service.stop()
        service.start()
        history = second["messages"] + [{"role": "assistant", "content": answer}]
        third = chat_body("And the storms?", session_id=first["session_id"], history=history, max_tokens=8)
        _, final = turn(service, third)
        assert final["ruschat"]["timings"]["cached_prompt_tokens"] >= 0.9 * final["usage"]["prompt_tokens"]
    finally:
        service.stop()


def test_without_disk_space_a_restarted_service_reads_the_chat_again(tmp_path: Path):
    args = ("--kv-disk-mb", "0")
    service = service_process("backend_qwen", tmp_path / "history.sqlite3", tmp_path / "service.log", *args)
    service.start()
    try:
        first = chat_body(STORY * 8 + "\nSummarise my notes.", max_tokens=8)
        answer, _ = turn(service, first)
        service.stop()
        service.start()
        history = first["messages"] + [{"role": "assistant", "content": answer}]
        _, final = turn(service, chat_body("Thanks.", session_id=first["session_id"], history=history, max_tokens=8))
        assert final["ruschat"]["timings"]["cached_prompt_tokens"] == 0
        assert saved_states(tmp_path) == []
    finally:
        service.stop()
