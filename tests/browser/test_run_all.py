"""The whole system as a user starts it: scripts/run_all.py, then the acceptance path."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from engine.config import REPO_ROOT
from tests.browser.conftest import ChatPage
from tests.support import free_port, wait_until

pytestmark = pytest.mark.browser


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, gunicorn workers, ...)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class RunAll:
    def __init__(self, folder: Path) -> None:
        self.web, self.fast, self.capable = free_port(), free_port(), free_port()
        self.folder = folder
        self.log = folder / "run_all.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RunAll:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(REPO_ROOT / "scripts" / "run_all.py"),
                    "--no-browser",
                    "--web-port",
                    str(self.web),
                    "--fast-port",
                    str(self.fast),
                    "--capable-port",
                    str(self.capable),
                    "--data-dir",
                    str(self.folder / "data"),
                ],
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until(
            lambda: "RusChat is running at" in self.output() or self.proc.poll() is not None,
            300,
            "run_all to report the system ready",
        )
        assert self.proc.poll() is None, self.output()
        assert f"http://localhost:{self.web}" in self.output()
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def service_pid(self, module: str) -> int:
        assert self.proc is not None
        for pid in descendants(self.proc.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if module.encode() in cmdline and Path(f"/proc/{pid}/stat").read_text().split()[3] == str(self.proc.pid):
                return pid
        raise AssertionError(f"no {module} process under run_all")

    def interrupt(self, signum: int = signal.SIGINT) -> set[int]:
        """Ctrl-C (or another signal), as a user would; returns the processes it had started."""
        assert self.proc is not None
        started = descendants(self.proc.pid)
        self.proc.send_signal(signum)
        assert self.proc.wait(60) == 0, self.output()
        return started

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            for pid in descendants(self.proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def run_all(tmp_path: Path) -> Iterator[RunAll]:
    system = RunAll(tmp_path)
    try:
        yield system.start()
    finally:
        system.kill()


def test_acceptance_path_then_ctrl_c_stops_everything(driver, run_all: RunAll):
    page = ChatPage(driver, f"http://localhost:{run_all.web}").open()
    page.choose("tinyllama")
    page.type("Hello")
    lengths = page.watch_answer(1)
    assert len(set(lengths)) >= 2 and lengths[-1] > 0
    # Waited for: the chat is drawn anew when the answer ends, and an element read meanwhile goes stale.
    page.wait(lambda d: page.answers()[0].get_attribute("data-service") == "tinyllama", 10, "the answer's service")

    page.by("new-chat").click()
    page.choose("qwen")
    page.type("Tell me a story")
    lengths = page.watch_answer(1)
    assert len(set(lengths)) >= 2 and lengths[-1] > 0
    # Waited for: the chat is drawn anew when the answer ends, and an element read meanwhile goes stale.
    page.wait(lambda d: page.answers()[0].get_attribute("data-service") == "qwen", 10, "the answer's service")

    page.reload()
    titles = page.wait(lambda d: [s.text for s in page.sessions()] or None, 20, "the sidebar")
    # Each chat is titled by its first question, or by the fast model once it has written one.
    stored = [
        s
        for port in (run_all.fast, run_all.capable)
        for s in requests.get(f"http://127.0.0.1:{port}/api/sessions").json()["sessions"]
    ]
    openings = ("Tell me a story", "Hello", *(s["title"] for s in stored if s["title_source"] == "model"))
    assert len(titles) == 2 and all(t.startswith(openings) for t in titles)

    started = run_all.interrupt()
    assert len(started) >= 6  # three servers, each with its worker process
    wait_until(lambda: not any(alive(pid) for pid in started), 20, "every started process to exit")
    assert "[run_all] stopped" in run_all.output()


def test_killed_service_is_restarted_and_nothing_is_lost(driver, run_all: RunAll):
    page = ChatPage(driver, f"http://localhost:{run_all.web}").open()
    page.choose("qwen")
    page.type("Remember the number 42.")
    page.wait_answer(1)
    session_id = page.active_session()
    capable = f"http://127.0.0.1:{run_all.capable}"
    before = requests.get(f"{capable}/api/sessions/{session_id}", timeout=10).json()["messages"]
    assert [m["role"] for m in before] == ["user", "assistant"]

    def state() -> str | None:
        return page.driver.find_element(
            "css selector", '[data-testid="service-status"] [data-service="qwen"]'
        ).get_attribute("data-state")

    os.kill(run_all.service_pid("backend_qwen"), signal.SIGKILL)
    page.wait(lambda d: state() == "offline", 20, "the page to show the capable service offline")
    page.wait(lambda d: state() in ("idle", "busy"), 60, "the page to show it back online, without a reload")
    assert "capable exited with code -9; restarting" in run_all.output()
    after = requests.get(f"{capable}/api/sessions/{session_id}", timeout=10).json()["messages"]
    assert after == before
    page.type("What number?")
    assert page.wait_answer(2).get_attribute("data-finish") in ("stop", "length")


def test_sigterm_stops_everything_too(run_all: RunAll):
    started = run_all.interrupt(signal.SIGTERM)
    assert len(started) >= 6
    wait_until(lambda: not any(alive(pid) for pid in started), 20, "every started process to exit")
    assert "received SIGTERM, stopping" in run_all.output()
