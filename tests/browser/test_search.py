"""Search in the sidebar: a message stored only in the capable service is found and opened."""

from __future__ import annotations

import time
import uuid

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from engine.store.storage import Store
from shared.schemas import ChatMessage, Message
from tests.browser.conftest import MODEL, ChatPage, Stack

pytestmark = pytest.mark.browser


def chat_with_two_answers(stack: Stack, question: str, older: str, newer: str) -> tuple[str, str]:
    """A chat in the capable service only, whose question has two answers; its id and the older answer's."""
    session_id, question_id, older_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    store = Store(f"sqlite:///{stack.folder / 'capable.sqlite3'}")
    try:
        store.add_user_message(session_id, ChatMessage(question_id, "user", question))
        for answer_id, content, at in ((older_id, older, time.time()), (str(uuid.uuid4()), newer, time.time() + 1)):
            store.add_answer(
                Message(answer_id, session_id, "assistant", content, at, MODEL, "qwen", "stop", parent_id=question_id)
            )
    finally:
        store.close()
    return session_id, older_id


def test_a_hit_opens_its_chat_on_the_branch_holding_it_highlighted(page: ChatPage, stack: Stack):
    session_id, older_id = chat_with_two_answers(
        stack, "Name an animal", "The quokka <b>smiles</b> a lot.", "A cat, usually."
    )
    page.reload()
    page.by("message-input").send_keys(Keys.CONTROL, "k")  # Ctrl+K from the message box
    box = page.by("search-input")
    assert page.driver.switch_to.active_element == box
    box.send_keys("quokk")
    hit = page.wait(lambda d: page.all("search-hit", f'[data-message-id="{older_id}"]'), 20, "the hit")[0]
    assert hit.get_attribute("data-session-id") == session_id
    assert hit.find_element(By.CSS_SELECTOR, ".title").text == "Name an animal"
    assert hit.find_element(By.CSS_SELECTOR, "mark").text == "quokka"
    assert "<b>smiles</b>" in hit.text  # the message's text, shown as text

    hit.click()
    flashed = page.wait(
        lambda d: d.find_elements(By.CSS_SELECTOR, f'.messages > [data-message-id="{older_id}"].search-flash'),
        20,
        "the message highlighted",
    )[0]
    assert page.active_session() == session_id
    assert "quokka" in flashed.text  # the older answer's branch is shown, not the newer one's

    box.send_keys(Keys.ESCAPE)
    page.wait(lambda d: not page.all("search-hit") and box.get_attribute("value") == "", 5, "the search cleared")
