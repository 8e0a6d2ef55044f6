"""One service down: the page says which, the other keeps working, and the return is noticed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.conftest import ChatPage, Stack, running_stack
from tests.support import service_process

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("down")) as stack:
        yield stack


def status_of(page: ChatPage, service: str) -> str:
    return page.driver.find_element(
        "css selector", f'[data-testid="service-status"] [data-service="{service}"]'
    ).get_attribute("data-state")


def test_one_service_down_then_back(driver, own_stack: Stack):
    page = ChatPage(driver, own_stack.web.url.replace("127.0.0.1", "localhost")).open()
    page.choose("qwen")
    page.type("Hello!")
    page.wait_answer(1)

    own_stack.capable.stop()
    page.wait(lambda d: status_of(page, "qwen") == "offline", 20, "the capable service to show offline")
    assert "Capable offline" in page.by("service-status").text
    assert "(offline)" in page.by("model-select").text
    assert status_of(page, "tinyllama") in ("idle", "busy")

    page.reload()
    assert status_of(page, "qwen") == "offline"
    page.choose("tinyllama")
    page.type("Are you there?")
    assert page.wait_answer(1).get_attribute("data-service") == "tinyllama"
    assert len(page.sessions()) >= 1  # the reachable history still shows
    # Ask both with one service down: the other answers, and the page says why only one.
    page.type("And now?", send=False)
    page.by("ask-both").click()
    page.wait(lambda d: len(page.answers()) == 2 and page.by("send").is_displayed(), 60, "the one answer")
    assert page.answers()[-1].get_attribute("data-service") == "tinyllama"
    assert "capable service is offline: only the fast one answers" in page.by("error").text

    # Restart it on the same port: the page notices without a reload.
    args = own_stack.capable.command[own_stack.capable.command.index("--origins") :]
    back = service_process(
        "backend_qwen",
        own_stack.folder / "capable.sqlite3",
        own_stack.folder / "back.log",
        *args,
        port=own_stack.capable.port,
    ).start()
    own_stack.capable = back
    page.wait(lambda d: status_of(page, "qwen") in ("idle", "busy"), 20, "the capable service to come back")
    # Its history is merged back into the sidebar.
    page.wait(lambda d: any(s.text.startswith("Hello!") for s in page.sessions()), 20, "its chat in the sidebar")
