"""A stack whose services require an API key: the page gets it from the web app and
sends it on every request and on the status socket."""

from __future__ import annotations

import time

import pytest
import requests

from tests.browser.conftest import ChatPage, running_stack

pytestmark = pytest.mark.browser

KEY = "browser-test-key"


def test_the_page_uses_the_key_the_web_app_hands_it(driver, tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RUSCHAT_API_KEY", KEY)  # read by both services and the web app
    with running_stack(tmp_path) as stack:
        assert requests.get(stack.fast.url + "/api/info", timeout=10).status_code == 401
        page = ChatPage(driver, stack.web.url.replace("127.0.0.1", "localhost")).open()

        def states() -> set[str | None]:
            return {
                e.get_attribute("data-state")
                for e in driver.find_elements("css selector", '[data-testid="service-status"] [data-service]')
            }

        page.wait(lambda d: states() == {"idle"}, 30, "both services online")
        time.sleep(3)  # past the page's 2 s reconnect: a refused status socket would show offline
        assert states() == {"idle"}
        page.choose("tinyllama")
        page.type("Hello!")
        answer = page.wait_answer(1)
        assert answer.get_attribute("data-finish") in ("stop", "length")
        assert page.session_ids()  # the history was listed with the key, too
