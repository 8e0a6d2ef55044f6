"""The real web app and both real services, driven by Selenium in headless Chromium."""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from engine.cpu.budget import usable_cores
from engine.store.storage import Store
from shared.schemas import ChatMessage, Message
from tests.support import Process, free_port, service_process

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    # Shared memory in /tmp, not /dev/shm: a container's 64 MB /dev/shm crashes tabs ("tab
    # crashed") once large responses (the 31 MB interpreter snapshot) pass through it.
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--window-size=1200,800",
)


@dataclass
class Stack:
    fast: Process
    capable: Process
    web: Process
    folder: Path

    def stop(self) -> None:
        for process in (self.web, self.capable, self.fast):
            process.stop()


def start_stack(folder: Path, *extra: str) -> Stack:
    """Both services (with ``extra`` options) and the web app, started."""
    web_port = free_port()
    origins = f"http://localhost:{web_port},http://127.0.0.1:{web_port}"
    # The two services share the CPU with each other, not with other test runs.
    options = ("--origins", origins, "--cpu-dir", str(folder / "cpu"), "--threads", str(usable_cores()), *extra)
    fast = service_process("backend_tinyllama", folder / "fast.sqlite3", folder / "fast.log", *options)
    # Summaries come from this stack's fast service, never from whatever listens on 8000.
    capable = service_process(
        "backend_qwen", folder / "capable.sqlite3", folder / "capable.log", *options, "--summarizer", fast.url
    )
    web = web_process(folder / "web.log", fast.url, capable.url, port=web_port)
    started: list[Process] = []
    try:
        for process in (fast, capable, web):
            started.append(process.start())
    except BaseException:
        for process in started:
            process.stop()
        raise
    return Stack(fast, capable, web, folder)


def web_process(log: Path, fast_url: str, capable_url: str, *extra: str, port: int | None = None) -> Process:
    """The web app (with ``extra`` options) serving a page for these two services."""
    command = [sys.executable, "-m", "webapp", "--port", "{port}", "--fast-url", fast_url, "--capable-url", capable_url]
    return Process([*command, *extra], log, port=port, ready_path="/")


@contextmanager
def running_stack(folder: Path, *extra: str) -> Iterator[Stack]:
    """Both services and the web app, stopped on the way out."""
    stack = start_stack(folder, *extra)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack")) as stack:
        yield stack


def new_chromium(profile: Path, logging: bool = False) -> webdriver.Chrome:
    """Debian's Chromium, headless and offline, on the ``profile`` folder: the browser of the
    tests and the benchmarks. ``logging``: keep the performance log (every request)."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    # Debian's Chromium opens its search engine's start page unless told otherwise.
    options.add_experimental_option("prefs", {"session.restore_on_startup": 4, "session.startup_urls": ["about:blank"]})
    if logging:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    # An explicit driver path: Selenium must never try to download one.
    return webdriver.Chrome(options=options, service=DriverService("/usr/bin/chromedriver"))


@pytest.fixture(scope="module")
def driver() -> Iterator[webdriver.Chrome]:
    chrome = new_chromium(Path(tempfile.mkdtemp(prefix="ruschat-chromium-")), logging=True)
    try:
        yield chrome
    finally:
        chrome.quit()


class ChatPage:
    """The page's controls, found by their data-testid."""

    def __init__(self, driver: webdriver.Chrome, url: str) -> None:
        self.driver, self.url = driver, url

    def open(self, path: str = "/") -> ChatPage:
        self.driver.get(self.url + path)
        return self.wait_ready()

    def reload(self) -> ChatPage:
        self.driver.refresh()
        return self.wait_ready()

    def wait_ready(self) -> ChatPage:
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "body[data-ready=true]"), 60, "Python to load")
        return self

    def wait(self, condition: Any, timeout: float = 60, what: str = "") -> Any:
        # The page re-renders parts of itself as news arrives: an element found a moment
        # ago may be gone, so a stale reference means "look again".
        return WebDriverWait(
            self.driver, timeout, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,)
        ).until(condition, what)

    def click(self, css: str, timeout: float = 10) -> None:
        self.wait(lambda d: d.find_element(By.CSS_SELECTOR, css).click() or True, timeout, f"to click {css}")

    def active_session(self) -> str:
        """The id of the open chat, once the sidebar shows it."""
        return self.wait(
            lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="session-item"].active').get_attribute(
                "data-session-id"
            ),
            20,
            "the open chat in the sidebar",
        )

    def session_ids(self) -> list[str]:
        return self.wait(lambda d: [s.get_attribute("data-session-id") for s in self.sessions()] or [None], 10)

    def by(self, testid: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')

    def all(self, testid: str, extra: str = "") -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]{extra}')

    def choose(self, service: str) -> None:
        Select(self.by("model-select")).select_by_value(service)

    def type(self, text: str, send: bool = True) -> None:
        box = self.by("message-input")
        box.send_keys(text)
        if send:
            box.send_keys(Keys.ENTER)

    def answers(self) -> list[WebElement]:
        return self.all("message", '[data-role="assistant"]')

    def wait_answer(self, count: int, timeout: float = 90) -> WebElement:
        """The ``count``-th answer, once it has finished and the page has drawn the chat
        anew (with the answer's controls): Send is back only after that."""

        def finished(_driver: Any) -> Any:
            answers = self.answers()
            return (
                len(answers) >= count
                and answers[count - 1].get_attribute("data-finish") not in (None, "", "generating")
                and self.by("send").is_displayed()
            )

        self.wait(finished, timeout, f"answer {count} to finish")
        return self.answers()[count - 1]

    def watch_answer(self, count: int, timeout: float = 90) -> list[int]:
        """Lengths of the ``count``-th answer's text, sampled until it finishes."""
        lengths: list[int] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                answers = self.answers()
                if len(answers) >= count:
                    lengths.append(len(answers[count - 1].text))
                    if answers[count - 1].get_attribute("data-finish"):
                        return lengths
            except StaleElementReferenceException:
                pass
            time.sleep(0.1)  # each look costs the browser CPU the model needs
        raise AssertionError(f"answer {count} did not finish in {timeout} s (lengths {lengths})")

    def messages(self) -> list[tuple[str, str]]:
        return [(m.get_attribute("data-role"), m.get_attribute("data-message-id")) for m in self.all("message")]

    def sessions(self) -> list[WebElement]:
        return self.all("session-item")

    def requested_hosts(self) -> set[str]:
        """Hosts of every request the page made since the last call."""
        hosts = set()
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message["method"] == "Network.requestWillBeSent":
                url = params["request"]["url"]
            elif message["method"] == "Network.webSocketCreated":
                url = params["url"]
            else:
                continue
            if not url.startswith(("data:", "blob:", "about:")):
                hosts.add(urlsplit(url).hostname)
        return hosts


MODEL = "SmolLM2-135M-Instruct Q4_1"
"""What both services of the test stack run: the bundled model."""


def stored_chat(stack: Stack, question: str, answer: str) -> str:
    """A chat as the capable service would have stored it; its id."""
    session_id, question_id = str(uuid.uuid4()), str(uuid.uuid4())
    store = Store(f"sqlite:///{stack.folder / 'capable.sqlite3'}")
    try:
        store.add_user_message(session_id, ChatMessage(question_id, "user", question))
        store.add_answer(
            Message(
                id=str(uuid.uuid4()),
                session_id=session_id,
                role="assistant",
                content=answer,
                created_at=time.time(),
                model=MODEL,
                service="qwen",
                finish_reason="stop",
                parent_id=question_id,
            )
        )
    finally:
        store.close()
    return session_id


LOCAL = {"127.0.0.1", "localhost"}
"""The only hosts the page may ever contact."""


@pytest.fixture
def page(driver: webdriver.Chrome, stack: Stack) -> ChatPage:
    """The page of the shared stack, opened on localhost, with an empty request log."""
    page = ChatPage(driver, stack.web.url.replace("127.0.0.1", "localhost"))
    page.open()
    page.requested_hosts()
    return page
