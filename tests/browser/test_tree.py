"""Conversation trees in the real page: regenerate, versions, edit, continue, Ask both."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

from tests.browser.conftest import LOCAL, ChatPage, Stack

pytestmark = pytest.mark.browser


@pytest.fixture
def page(page: ChatPage) -> ChatPage:
    """The page, on a new chat."""
    page.by("new-chat").click()
    page.wait(lambda d: not page.all("message"), 10, "an empty chat")
    page.requested_hosts()
    return page


def message(page: ChatPage, role: str, index: int = -1) -> WebElement:
    return page.all("message", f'[data-role="{role}"]')[index]


def control(node: WebElement, testid: str) -> WebElement:
    return node.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def settled(page: ChatPage) -> bool:
    """No answer streaming: Send is back."""
    return page.by("send").is_displayed()


def version(page: ChatPage, role: str) -> str:
    return control(message(page, role), "sibling-index").text


def stored(stack: Stack, service: str, session_id: str) -> list[dict[str, Any]]:
    url = (stack.fast if service == "tinyllama" else stack.capable).url
    response = requests.get(f"{url}/api/sessions/{session_id}", timeout=10)
    return response.json()["messages"] if response.status_code == 200 else []


def test_regenerate_then_flip_between_versions_and_keep_the_choice_after_reload(page: ChatPage, stack: Stack):
    page.choose("qwen")
    page.type("Name a fruit.")
    first = page.wait_answer(1)
    first_id = first.get_attribute("data-message-id")
    question_id = message(page, "user").get_attribute("data-message-id")
    assert first.get_attribute("data-parent-id") == question_id

    page.choose("tinyllama")  # regenerate with the other model
    page.click(f'[data-message-id="{first_id}"] [data-testid="regenerate"]')
    page.wait(lambda d: settled(page) and version(page, "assistant") == "2/2", 90, "the second version")
    second = message(page, "assistant")
    second_id = second.get_attribute("data-message-id")
    assert second_id != first_id
    assert second.get_attribute("data-service") == "tinyllama"
    assert second.get_attribute("data-parent-id") == question_id

    page.click(f'[data-message-id="{second_id}"] [data-testid="sibling-prev"]')
    page.wait(lambda d: version(page, "assistant") == "1/2", 10, "the first version")
    assert message(page, "assistant").get_attribute("data-message-id") == first_id

    session_id = page.active_session()
    page.reload()
    page.wait(lambda d: len(page.all("message")) == 2, 20, "the chat after reload")
    assert message(page, "assistant").get_attribute("data-message-id") == first_id
    assert version(page, "assistant") == "1/2"
    # Ctrl+Shift+Enter regenerates the last answer: a third version.
    keys = ActionChains(page.driver).key_down(Keys.CONTROL).key_down(Keys.SHIFT).send_keys(Keys.ENTER)
    keys.key_up(Keys.SHIFT).key_up(Keys.CONTROL).perform()
    page.wait(lambda d: settled(page) and version(page, "assistant") == "3/3", 90, "a third version by keyboard")
    # Each service stored its own answer, both under the same question.
    parents = [m["parent_id"] for s in ("qwen", "tinyllama") for m in stored(stack, s, session_id)]
    assert parents.count(question_id) == 3
    assert page.requested_hosts() <= LOCAL


def test_edit_a_question_and_see_both_branches(page: ChatPage):
    page.choose("qwen")
    page.type("Say one word.")
    page.wait_answer(1)
    page.click('[data-role="user"] [data-testid="edit"]')
    field = page.by("edit-field")
    field.clear()
    field.send_keys("Say two words.")
    page.by("edit-save").click()
    page.wait(lambda d: settled(page) and version(page, "user") == "2/2", 90, "the edited question answered")
    assert message(page, "user").find_element(By.CSS_SELECTOR, ".content").text == "Say two words."
    page.click('[data-role="user"] [data-testid="sibling-prev"]')
    page.wait(lambda d: version(page, "user") == "1/2", 10, "the first question")
    assert message(page, "user").find_element(By.CSS_SELECTOR, ".content").text == "Say one word."
    assert len(page.answers()) == 1  # the old question's own answer


def test_continue_a_stopped_answer_grows_it_in_place(page: ChatPage):
    page.choose("qwen")
    page.type("Write a long story about a lighthouse keeper, with many chapters.")
    page.wait(lambda d: page.answers() and len(page.answers()[-1].text) > 80, 60, "some answer text")
    page.by("stop").click()
    stopped = page.wait_answer(1, timeout=10)
    assert stopped.get_attribute("data-finish") == "cancelled"
    answer_id = stopped.get_attribute("data-message-id")
    before = stopped.find_element(By.CSS_SELECTOR, ".content").text
    page.click(f'[data-message-id="{answer_id}"] [data-testid="continue"]')

    def text() -> str:
        return str(message(page, "assistant").find_element(By.CSS_SELECTOR, ".content").text)

    page.wait(lambda d: len(text()) > len(before) + 20 or settled(page), 60, "the answer to grow")
    if page.by("stop").is_displayed():
        page.by("stop").click()
    page.wait(lambda d: settled(page), 10, "the continuation to end")
    grown = message(page, "assistant")
    assert grown.get_attribute("data-message-id") == answer_id
    assert text().startswith(before[:40])
    # It went on (or the model ended the story at once, which also updates how it ended).
    assert len(text()) > len(before) or grown.get_attribute("data-finish") in ("stop", "length")
    assert len(page.answers()) == 1


def test_ask_both_streams_two_answers_side_by_side_and_stores_both(page: ChatPage, stack: Stack):
    page.type("Name a colour.", send=False)
    page.by("ask-both").click()

    def columns() -> list[WebElement]:
        """The side-by-side answers, found afresh (the page redraws the chat as news comes)."""
        return page.by("compare").find_elements(By.CSS_SELECTOR, '[data-role="assistant"]')

    page.wait(
        lambda d: settled(page) and len(columns()) == 2 and all(a.get_attribute("data-finish") for a in columns()),
        90,
        "both answers",
    )
    assert page.wait(lambda d: {a.get_attribute("data-service") for a in columns()}, 10) == {"tinyllama", "qwen"}
    question_id = message(page, "user").get_attribute("data-message-id")
    session_id = page.active_session()
    for service in ("tinyllama", "qwen"):
        answers = [m for m in stored(stack, service, session_id) if m["role"] == "assistant"]
        assert [a["parent_id"] for a in answers] == [question_id]
    # Go on from the other one (not the first to finish): the next question follows it.
    picked = page.wait(
        lambda d: next(a.get_attribute("data-message-id") for a in columns() if "other" in a.get_attribute("class")),
        10,
        "the answer the chat did not go on from",
    )
    page.click(f'[data-message-id="{picked}"] [data-testid="pick"]')
    page.type("Why?")
    page.wait(lambda d: settled(page) and len(page.all("message", '[data-role="user"]')) == 2, 90, "the follow-up")
    assert message(page, "user").get_attribute("data-parent-id") == picked
