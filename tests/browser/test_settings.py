"""The settings panel end to end: a chat's system prompt reaches the model, is stored, comes back."""

from __future__ import annotations

import re
import uuid

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

from tests.browser.conftest import ChatPage, Stack

pytestmark = pytest.mark.browser


def dialog_open(page: ChatPage) -> bool:
    return page.driver.execute_script("return document.querySelector('[data-testid=settings-dialog]').open")


def open_panel(page: ChatPage) -> None:
    page.click('[data-testid="settings"]')
    page.wait(lambda d: dialog_open(page), 10, "the settings dialog")


def fill(page: ChatPage, testid: str, text: str) -> None:
    field = page.by(testid)
    field.clear()
    field.send_keys(text)


def stored_settings(stack: Stack, session_id: str) -> dict:
    answer = requests.get(f"{stack.fast.url}/api/sessions/{session_id}", timeout=10)
    answer.raise_for_status()
    return answer.json()["settings"]


def prompt_tokens(answer: WebElement) -> int:
    """The prompt's length in tokens, from the answer's statistics (as the service counted it)."""
    stats = answer.find_element(By.CSS_SELECTOR, '[data-testid="answer-stats"]').get_attribute("textContent")
    found = re.search(r"prompt (\d+) tokens", stats or "")
    assert found, f"no prompt size in {stats!r}"
    return int(found.group(1))


def test_a_chats_system_prompt_is_sent_stored_and_shown_again(driver, stack: Stack):
    page = ChatPage(driver, stack.web.url.replace("127.0.0.1", "localhost")).open()
    prompt = (
        "You are a helpful pirate who always talks like a pirate, says arr a lot, and loves the sea, "
        f"tall ships and old treasure maps. ({uuid.uuid4().hex[:8]})"
    )
    open_panel(page)
    assert page.driver.switch_to.active_element == page.by("system-prompt")
    fill(page, "system-prompt", prompt)
    fill(page, "max-tokens", "40")
    fill(page, "temperature", "0.1")
    page.by("settings-save").click()
    page.wait(lambda d: not dialog_open(page), 10, "the dialog to close on Save")

    page.choose("tinyllama")
    page.type("Say hello.")
    with_prompt = prompt_tokens(page.wait_answer(1))
    session_id = page.active_session()
    settings = stored_settings(stack, session_id)
    assert (settings["system"], settings["max_tokens"], settings["temperature"]) == (prompt, 40, 0.1)

    page.reload()
    page.by("new-chat").click()
    open_panel(page)
    assert page.by("system-prompt").get_attribute("value") == ""  # a new chat starts from the defaults
    page.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    page.wait(lambda d: not dialog_open(page), 10, "Escape to close the dialog")
    # The model saw the system prompt: the same question without it is a shorter prompt.
    page.type("Say hello.")
    assert prompt_tokens(page.wait_answer(1)) < with_prompt

    page.click(f'[data-session-id="{session_id}"]')
    page.wait(lambda d: page.messages(), 20, "the chat to reopen")
    open_panel(page)
    assert page.by("system-prompt").get_attribute("value") == prompt
    assert page.by("max-tokens").get_attribute("value") == "40"

    # Saving again replaces the stored chat's settings (PATCH; the other service has no copy).
    fill(page, "system-prompt", "Answer in one word.")
    page.by("settings-save").click()
    page.wait(
        lambda d: stored_settings(stack, session_id)["system"] == "Answer in one word.", 10, "the PATCHed settings"
    )
    assert not page.by("error").is_displayed()


def set_settings(page: ChatPage, fields: dict[str, str]) -> None:
    """Open the panel, fill ``fields`` (by data-testid), save."""
    open_panel(page)
    for testid, text in fields.items():
        fill(page, testid, text)
    page.by("settings-save").click()
    page.wait(lambda d: not dialog_open(page), 10, "the dialog to close on Save")


def test_a_seed_repeats_an_answer_and_a_stop_sequence_ends_it_there(driver, stack: Stack):
    page = ChatPage(driver, stack.web.url.replace("127.0.0.1", "localhost")).open()
    seeded = {"temperature": "1", "max-tokens": "48", "seed": "7"}
    question = "Write three short sentences about a cat."
    answers = []
    for stop in ("", "."):  # the same chat twice (new chats), the second ending at its first "."
        page.by("new-chat").click()
        set_settings(page, {**seeded, "stop-sequences": stop})
        page.choose("tinyllama")
        page.type(question)
        page.wait_answer(1)
        stored = requests.get(f"{stack.fast.url}/api/sessions/{page.active_session()}", timeout=10).json()
        answers.append(stored)
    whole, stopped = (next(m for m in a["messages"] if m["role"] == "assistant") for a in answers)
    assert "." in whole["content"], f"no sentence end to stop at in {whole['content']!r}"
    # The same seed gave the same answer, up to where the stop sequence ended it (left out).
    assert stopped["finish_reason"] == "stop"
    assert stopped["content"] == whole["content"][: whole["content"].index(".")]
    assert (answers[1]["settings"]["seed"], answers[1]["settings"]["stop"]) == (7, ["."])
    open_panel(page)
    assert page.by("seed").get_attribute("value") == "7" and page.by("stop-sequences").get_attribute("value") == "."
