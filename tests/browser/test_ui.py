"""The chat page end to end: real web app, real services, real model, real Chromium."""

from __future__ import annotations

import re
import uuid

import pytest
import requests
from selenium.webdriver.common.by import By

from tests.browser.conftest import LOCAL, MODEL, ChatPage, Stack, stored_chat
from tests.support import iter_chunks

pytestmark = pytest.mark.browser


def test_python_loads_from_localhost_only(driver, stack: Stack):
    page = ChatPage(driver, stack.web.url.replace("127.0.0.1", "localhost"))
    page.driver.get("about:blank")
    page.requested_hosts()
    page.open()
    assert page.by("model-select").is_enabled()
    hosts = page.requested_hosts()
    assert "localhost" in hosts and hosts <= LOCAL
    status = page.by("service-status").text
    assert "Fast idle" in status and "Capable idle" in status
    options = [o.text for o in page.by("model-select").find_elements(By.TAG_NAME, "option")]
    assert options == [f"Fast: {MODEL}", f"Capable: {MODEL}"]


def test_answer_streams_in_and_is_labelled_with_its_model(page: ChatPage):
    page.choose("tinyllama")
    page.type("Write a haiku about the sea.")
    lengths = page.watch_answer(1)
    assert len(set(lengths)) >= 3, f"the answer did not grow in steps: {lengths}"
    answer = page.wait_answer(1)
    assert answer.get_attribute("data-finish") in ("stop", "length")
    assert answer.get_attribute("data-model") == MODEL
    assert answer.get_attribute("data-service") == "tinyllama"
    assert "Fast" in answer.find_element(By.CSS_SELECTOR, ".meta").text
    assert page.requested_hosts() <= LOCAL
    assert page.driver.switch_to.active_element == page.by("message-input")


def test_stop_keeps_the_partial_answer_and_the_next_message_works(page: ChatPage):
    page.choose("qwen")
    page.type("Write a very long story about a dragon who learns to cook, with many chapters.")
    page.wait(lambda d: page.by("stop").is_displayed(), 30, "the Stop button")
    page.wait(lambda d: page.answers() and len(page.answers()[-1].text) > 60, 60, "some answer text")
    page.by("stop").click()
    stopped = page.wait_answer(1, timeout=10)
    assert stopped.get_attribute("data-finish") == "cancelled"
    assert "stopped" in stopped.find_element(By.CSS_SELECTOR, ".meta").text
    partial = stopped.find_element(By.CSS_SELECTOR, ".content").text
    assert partial
    assert not page.by("stop").is_displayed() and page.by("send").is_displayed()

    page.type("Now say hello.")
    assert page.wait_answer(2).get_attribute("data-finish") in ("stop", "length")
    # The service stored the stopped answer as cancelled, with the text the user saw.
    session_id = page.active_session()
    stored = requests.get(f"{page_service(page, 'qwen')}/api/sessions/{session_id}", timeout=10).json()
    cancelled = [m for m in stored["messages"] if m["finish_reason"] == "cancelled"]
    assert len(cancelled) == 1 and cancelled[0]["content"].strip()[:20] in partial


def test_status_says_why_a_service_runs_fewer_threads(page: ChatPage, stack: Stack):
    page.choose("qwen")
    page.type("Write a very long story about a dragon who learns to cook, with many chapters.")
    page.wait(lambda d: page.answers() and page.answers()[-1].text, 60, "the answer streaming")
    # Meanwhile another client asks the fast service: both generate at once.
    body = {
        "session_id": str(uuid.uuid4()),
        "messages": [{"id": str(uuid.uuid4()), "role": "user", "content": "Write a long poem about rain."}],
        "max_tokens": 1500,
    }
    with requests.post(stack.fast.url + "/api/chat", json=body, stream=True, timeout=60) as other:
        assert other.status_code == 200
        named = next(c for _, c in iter_chunks(other) if c is not None)["ruschat"]
        try:
            badges = page.wait(
                lambda d: "threads)" in page.by("service-status").text and page.by("service-status").text,
                30,
                "a status badge saying why fewer threads",
            )
        finally:  # the answer would run on without its reader
            stop = f"{stack.fast.url}/api/sessions/{named['session_id']}/messages/{named['message_id']}/stop"
            requests.post(stop, timeout=30)
    page.by("stop").click()
    page.wait_answer(1, timeout=10)
    assert "sharing the CPU" in badges or "other programs busy" in badges
    used, most = map(int, re.search(r"\((\d+) of (\d+) threads\)", badges).groups())  # type: ignore[union-attr]
    assert 1 <= used < most


def page_service(page: ChatPage, service: str) -> str:
    return page.driver.execute_script(
        "return JSON.parse(document.getElementById('ruschat-config').textContent).services"
        ".find(s => s.id === arguments[0]).url",
        service,
    )


def test_switching_model_in_one_chat_then_reload_shows_one_merged_chat(page: ChatPage):
    page.by("new-chat").click()
    page.choose("tinyllama")
    page.type("My name is Ada. Say hi.")
    page.wait_answer(1)
    page.choose("qwen")
    page.type("What is my name?")
    page.wait_answer(2)
    before = page.messages()
    assert [role for role, _ in before] == ["user", "assistant", "user", "assistant"]
    assert [a.get_attribute("data-service") for a in page.answers()] == ["tinyllama", "qwen"]
    session_id = page.active_session()

    page.reload()
    assert page.session_ids().count(session_id) == 1
    page.by("new-chat").click()
    page.wait(lambda d: not page.all("message"), 10, "an empty chat")
    page.click(f'[data-session-id="{session_id}"]')
    page.wait(lambda d: len(page.all("message")) == 4, 20, "the reopened chat")
    assert page.messages() == before
    assert [a.get_attribute("data-service") for a in page.answers()] == ["tinyllama", "qwen"]


def test_model_html_is_shown_as_text_and_loads_nothing(page: ChatPage, stack: Stack):
    # A stored answer as a model might write it: raw HTML, a script, a Markdown image.
    hostile = (
        'Here: <img src="http://images.invalid/x.png" onerror="window.pwned=1"> '
        "<script>window.pwned=2</script>\n\n![alt](http://images.invalid/y.png)\n\n"
        "```python\nprint('ok')\n```\n\n- one\n- two"
    )
    session_id = stored_chat(stack, "Show me some HTML", hostile)
    page.open(f"/#chat={session_id}")
    answer = page.wait(lambda d: page.answers() and page.answers()[0], 20, "the stored answer")
    content = answer.find_element(By.CSS_SELECTOR, ".content")
    assert '<img src="http://images.invalid/x.png"' in content.text
    assert "<script>window.pwned=2</script>" in content.text
    assert content.find_elements(By.CSS_SELECTOR, "img, script, iframe, object") == []
    assert page.driver.find_elements(By.CSS_SELECTOR, "img[src*='invalid']") == []
    assert page.driver.execute_script("return window.pwned === undefined")
    # Markdown still renders: a code block and a list.
    assert content.find_element(By.CSS_SELECTOR, "pre code").text == "print('ok')"
    assert [li.text for li in content.find_elements(By.CSS_SELECTOR, "li")] == ["one", "two"]
    assert "images.invalid" not in page.requested_hosts()


def test_rename_and_delete_survive_reload(page: ChatPage):
    page.by("new-chat").click()
    page.type("Give me a one-word answer: yes or no?")
    page.wait_answer(1)
    session_id = page.active_session()
    page.click(f'[data-session-id="{session_id}"] [data-testid="rename-session"]')
    # The old title starts selected, so typing replaces it (WebDriver's clear() would blur).
    page.by("rename-input").send_keys("Decisions\n")
    page.wait(lambda d: "Decisions" in [s.text for s in d.find_elements(By.CSS_SELECTOR, ".title")], 10, "new title")

    page.reload()
    title = f'[data-session-id="{session_id}"] .title'
    assert page.driver.find_element(By.CSS_SELECTOR, title).text == "Decisions"
    page.click(f'[data-session-id="{session_id}"] [data-testid="delete-session"]')
    page.wait(lambda d: session_id not in page.session_ids(), 10, "the chat to disappear")
    page.reload()
    assert session_id not in page.session_ids()
