"""Answers outlive the page: a reload or a trip to another chat mid-answer loses nothing."""

from __future__ import annotations

import pytest
import requests
from selenium.webdriver.common.by import By

from tests.browser.conftest import ChatPage, Stack, stored_chat

pytestmark = pytest.mark.browser

STORY = "Write a long story about a lighthouse keeper and a storm, with many details."


def answer_text(page: ChatPage, answer_id: str) -> str:
    """The drawn text of an answer ('' while it is not on screen)."""
    found = page.driver.find_elements(By.CSS_SELECTOR, f'[data-message-id="{answer_id}"] .content')
    return found[0].text if found else ""


def start_answer(page: ChatPage) -> tuple[str, str]:
    """Ask for a long answer in a new chat; its id and its text once some has streamed."""
    page.by("new-chat").click()
    page.choose("qwen")
    page.type(STORY)
    answer_id = page.wait(
        lambda d: page.answers() and page.answers()[-1].get_attribute("data-message-id"), 30, "the answer's id"
    )
    text = page.wait(lambda d: len(t := answer_text(page, answer_id)) > 40 and t, 60, "some of the answer")
    return answer_id, text


def stored_answer(stack: Stack, session_id: str, answer_id: str) -> dict:
    messages = requests.get(f"{stack.capable.url}/api/sessions/{session_id}", timeout=10).json()["messages"]
    return next(m for m in messages if m["id"] == answer_id)


def test_reload_mid_answer_follows_the_same_answer_to_its_end(page: ChatPage, stack: Stack):
    answer_id, before = start_answer(page)
    session_id = page.active_session()
    page.reload()
    # The same answer, still being written, picked up where it is now.
    page.wait(lambda d: answer_text(page, answer_id).startswith(before[:30]), 30, "the answer after the reload")
    assert page.by("stop").is_displayed()
    answer = page.wait_answer(1, timeout=120)
    assert answer.get_attribute("data-message-id") == answer_id
    assert answer.get_attribute("data-finish") in ("stop", "length")
    final = answer.find_element(By.CSS_SELECTOR, ".content").text
    assert len(final) > len(before) and final.startswith(before[:30])
    stored = stored_answer(stack, session_id, answer_id)
    assert stored["finish_reason"] == answer.get_attribute("data-finish")


def test_another_chat_opens_and_works_while_an_answer_is_written(page: ChatPage, stack: Stack):
    other = stored_chat(stack, "What is two and two?", "Four.")
    answer_id, before = start_answer(page)
    writing = page.active_session()
    page.driver.refresh()  # the sidebar learns of the stored chat
    page.wait_ready()
    page.click(f'[data-testid="session-item"][data-session-id="{other}"]')
    page.wait(lambda d: "Four." in page.by("messages").text, 20, "the other chat")
    # This chat is free: Send, not Stop; the writing chat is marked in the sidebar.
    assert page.by("send").is_displayed() and not page.by("stop").is_displayed()
    page.wait(
        lambda d: page.all("session-item", f'[data-session-id="{writing}"][data-running="true"]'),
        20,
        "the sidebar to mark the chat being written",
    )
    page.click(f'[data-testid="session-item"][data-session-id="{writing}"]')
    answer = page.wait_answer(1, timeout=120)
    assert answer.get_attribute("data-message-id") == answer_id
    final = answer.find_element(By.CSS_SELECTOR, ".content").text
    assert final.startswith(before[:30]) and len(final) > len(before)
    assert stored_answer(stack, writing, answer_id)["finish_reason"] in ("stop", "length")
    assert not page.all("session-item", '[data-running="true"]')
