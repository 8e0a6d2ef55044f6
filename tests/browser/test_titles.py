"""The model's title reaches the sidebar on its own, a few seconds after the first answer."""

from __future__ import annotations

import pytest
import requests

from tests.browser.conftest import ChatPage, running_stack

pytestmark = pytest.mark.browser


def test_the_sidebar_shows_the_models_title_when_it_arrives(driver, tmp_path):
    with running_stack(tmp_path, "--titles", "on") as stack:
        page = ChatPage(driver, stack.web.url.replace("127.0.0.1", "localhost")).open()
        page.choose("qwen")
        page.type("How do I keep basil alive on a windowsill?")
        page.wait_answer(1)
        session_id = page.wait(lambda d: page.active_session() or None, 10, "the chat's id")

        def stored() -> dict | None:
            chat = requests.get(f"{stack.capable.url}/api/sessions/{session_id}", timeout=10).json()
            return chat if chat["title_source"] == "model" else None

        title = page.wait(lambda d: stored(), 120, "the model's title")["title"]
        row = f'[data-session-id="{session_id}"] .title'
        # No reload, no click: the page looks again by itself.
        page.wait(lambda d: d.find_element("css selector", row).text == title, 30, "the title in the sidebar")
