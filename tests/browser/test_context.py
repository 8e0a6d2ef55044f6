"""A long chat on a small context in the real page: the gauge and the window marks."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from engine.store.storage import Store
from shared.schemas import ChatMessage, Message
from tests.browser.conftest import MODEL, ChatPage, Stack, running_stack
from tests.browser.test_a11y import audit

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The test stack on a 512-token context, so that a chat outgrows it quickly."""
    with running_stack(tmp_path_factory.mktemp("stack"), "--ctx", "512") as stack:
        yield stack


def long_stored_chat(stack: Stack, turns: int) -> tuple[str, str]:
    """A chat of ``turns`` stored questions and answers on the capable service; its id
    and the id of its first message."""
    session_id, parent, first = str(uuid.uuid4()), None, ""
    store = Store(f"sqlite:///{stack.folder / 'capable.sqlite3'}")
    try:
        for turn in range(turns):
            question = ChatMessage(str(uuid.uuid4()), "user", f"Remember that box {turn} is blue.")
            store.add_user_message(session_id, question, parent_id=parent)
            first = first or question.id
            answer = Message(
                id=str(uuid.uuid4()),
                session_id=session_id,
                role="assistant",
                content=f"Noted: box {turn} is blue.",
                created_at=time.time(),
                model=MODEL,
                service="qwen",
                finish_reason="stop",
                parent_id=question.id,
            )
            store.add_answer(answer)
            parent = answer.id
    finally:
        store.close()
    return session_id, first


def test_a_long_chat_shows_the_gauge_and_marks_what_the_model_no_longer_sees(page: ChatPage, stack: Stack):
    session_id, first_id = long_stored_chat(stack, 30)
    page.open(f"/#chat={session_id}")
    page.wait(lambda d: len(page.answers()) == 30, 20, "the stored chat")
    assert not page.by("context-gauge").is_displayed()  # stored before anyone measured it
    page.choose("qwen")
    page.type("What colour is box 29?")
    page.wait_answer(31)

    gauge = page.by("context-gauge")
    assert gauge.is_displayed()
    assert re.fullmatch(r"[\d,]+ of 512 tokens", gauge.text), gauge.text
    assert gauge.get_attribute("aria-valuemax") == "512" and gauge.get_attribute("role") == "meter"
    first = page.driver.find_element(By.CSS_SELECTOR, f'[data-message-id="{first_id}"]')
    assert "outside-window" in first.get_attribute("class")
    assert first.find_element(By.CSS_SELECTOR, '[data-testid="outside-window"]').text == "outside the model's window"
    marked = page.all("outside-window")
    assert 0 < len(marked) < 61  # the newest messages are still seen

    page.reload()  # the stored numbers draw the same after a reload
    page.wait(lambda d: page.by("context-gauge").is_displayed(), 20, "the gauge after a reload")
    assert len(page.all("outside-window")) == len(marked)
    audit(page, "messages outside the model's window")  # marked, not dimmed below AA contrast

    # Summarise instead: the fast service's summary is shown where the window begins.
    page.click('[data-testid="settings"]')
    Select(page.by("context-policy")).select_by_value("summary")
    page.by("settings-save").click()
    page.type("And box 28?")
    page.wait_answer(32)
    block = page.wait(lambda d: page.all("summary"), 30, "the summary block")[0]
    assert block.text.startswith("Summary of earlier messages")
    following = block.find_element(By.XPATH, "following-sibling::*[1]")
    assert "outside-window" not in following.get_attribute("class")
    assert following.get_attribute("data-role") == "user"
