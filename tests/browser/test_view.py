"""The chat view's comforts in real Chromium: coloured code, copy buttons, answer statistics,
light and dark themes, keyboard shortcuts, and the layout at phone width."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import LOCAL, ChatPage, Stack, stored_chat

pytestmark = pytest.mark.browser

CODE = "def greet(name):\n    return f'<b>{name}</b>'  # bold"
ANSWER = f"Here you are:\n\n```python\n{CODE}\n```\n\nAnd a `word`."


def test_code_is_coloured_and_copy_buttons_copy(page: ChatPage, stack: Stack):
    session_id = stored_chat(stack, "A greeting function in Python?", ANSWER)
    page.open(f"/#chat={session_id}")
    answer = page.wait(lambda d: page.answers() and page.answers()[0], 20, "the stored answer")
    code = answer.find_element(By.CSS_SELECTOR, "pre code")
    assert code.text == CODE
    assert [k.text for k in code.find_elements(By.CSS_SELECTOR, ".hl-k")] == ["def", "return"]
    assert code.find_element(By.CSS_SELECTOR, ".hl-c1").text == "# bold"
    keyword_colour = code.find_element(By.CSS_SELECTOR, ".hl-k").value_of_css_property("color")
    assert keyword_colour != code.value_of_css_property("color")

    # One Copy per message and one per code block.
    assert len(page.all("copy", '[data-copy="message"]')) == 2
    code_copy = answer.find_element(By.CSS_SELECTOR, 'pre [data-testid="copy"][data-copy="code"]')
    answer_copy = answer.find_element(By.CSS_SELECTOR, '.tools [data-testid="copy"][data-copy="message"]')
    # What the Clipboard API is handed: the code, and the answer's Markdown source.
    page.driver.execute_script(
        "window.copied = []; navigator.clipboard.writeText = t => (window.copied.push(t), Promise.resolve());"
    )
    code_copy.click()
    page.wait(lambda d: code_copy.text == "Copied", 5, "Copied on the code's button")
    answer_copy.click()
    page.wait(lambda d: page.driver.execute_script("return window.copied.length") == 2, 5, "the second copy")
    assert page.driver.execute_script("return window.copied") == [CODE + "\n", ANSWER]
    page.wait(lambda d: code_copy.text == "Copy", 5, "the button to say Copy again")

    # Without the Clipboard API (insecure origins), a hidden text field is copied instead.
    page.driver.execute_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    code_copy.click()
    page.wait(lambda d: code_copy.text == "Copied", 5, "Copied through the fallback")
    box = page.by("message-input")
    box.click()
    ActionChains(page.driver).key_down(Keys.CONTROL).send_keys("v").key_up(Keys.CONTROL).perform()
    page.wait(lambda d: box.get_attribute("value") == CODE + "\n", 5, "the code pasted back")
    box.clear()

    # "/" focuses the message box (and types nothing); Ctrl+Shift+O starts a new chat.
    page.driver.find_element(By.CSS_SELECTOR, ".brand").click()
    ActionChains(page.driver).send_keys("/").perform()
    assert page.driver.switch_to.active_element == box and box.get_attribute("value") == ""
    ActionChains(page.driver).key_down(Keys.CONTROL).key_down(Keys.SHIFT).send_keys("o").key_up(Keys.SHIFT).key_up(
        Keys.CONTROL
    ).perform()
    page.wait(lambda d: not page.all("message"), 5, "an empty new chat")
    assert page.requested_hosts() <= LOCAL


def test_a_streamed_answer_shows_its_statistics_and_escape_stops(page: ChatPage):
    page.by("new-chat").click()
    page.choose("tinyllama")
    page.type("Say hello in five words.")
    answer = page.wait_answer(1)
    assert answer.get_attribute("data-finish") in ("stop", "length")
    toggle = page.wait(
        lambda d: answer.find_element(By.CSS_SELECTOR, '[data-testid="stats-toggle"]'), 5, "the statistics"
    )
    assert "tokens/s" in toggle.get_attribute("title")
    toggle.click()
    shown = answer.find_element(By.CSS_SELECTOR, ".stats-text")
    assert shown.is_displayed()
    assert "tokens ·" in shown.text and "tokens/s" in shown.text and "first token after" in shown.text

    # Escape stops an answer mid-stream; the service ends its stream with the statistics of
    # what it wrote (the page asks the service to stop, it does not hang up). A small
    # model may end a "long" story before the key arrives: then ask again (at most 3 times).
    for attempt in range(2, 5):
        page.type("Write a very long story about a dragon who learns to cook, with many chapters.")
        page.wait(
            lambda d, n=attempt: len(page.answers()) == n and len(page.answers()[-1].text) > 40, 60, "the next answer"
        )
        page.by("message-input").send_keys(Keys.ESCAPE)
        stopped = page.wait_answer(attempt, timeout=10)
        if stopped.get_attribute("data-finish") == "cancelled":
            break
    assert stopped.get_attribute("data-finish") == "cancelled"
    assert stopped.find_elements(By.CSS_SELECTOR, '[data-testid="answer-stats"]')

    # Reloaded answers come from the database, which keeps no timings: nothing to show.
    page.reload()
    page.wait(lambda d: len(page.answers()) == attempt, 20, "the reopened chat")
    assert not page.all("answer-stats")
    assert page.requested_hosts() <= LOCAL


def test_the_theme_toggle_cycles_and_is_remembered(page: ChatPage):
    def theme() -> str:
        return page.driver.find_element(By.TAG_NAME, "html").get_attribute("data-theme")

    def background() -> str:
        return page.driver.execute_script("return getComputedStyle(document.documentElement).backgroundColor")

    assert theme() == "system"
    page.by("theme-toggle").click()
    assert theme() == "light"
    light = background()
    page.by("theme-toggle").click()
    assert theme() == "dark"
    dark = background()
    assert dark != light
    page.reload()
    assert theme() == "dark" and background() == dark
    page.by("theme-toggle").click()
    assert theme() == "system"
    page.reload()
    assert theme() == "system"
    assert page.requested_hosts() <= LOCAL


def test_phone_width_hides_the_chat_list_behind_a_button(page: ChatPage, stack: Stack):
    wide = "A line of code far wider than a phone: " + "x" * 300
    session_id = stored_chat(
        stack, "Something wide?", f"```python\nprint('{wide}')\n```\n\n| a | b |\n|---|---|\n| {wide} | 1 |"
    )
    driver = page.driver
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
    )
    try:
        page.open(f"/#chat={session_id}").reload()  # a reload lists the new chat in the sidebar
        page.wait(lambda d: page.answers(), 20, "the stored answer")
        assert driver.execute_script("return innerWidth") == 390
        assert driver.execute_script("return document.documentElement.scrollWidth <= innerWidth")
        for control in ("message-input", "send", "model-select", "sidebar-toggle"):
            box = driver.execute_script(
                "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]",
                page.by(control),
            )
            assert page.by(control).is_displayed(), control
            left, top, right, bottom = box
            assert 0 <= left < right <= 390 and 0 <= top < bottom <= 844, (control, box)
        sidebar = driver.find_element(By.CSS_SELECTOR, ".sidebar")
        assert not sidebar.is_displayed()

        page.by("sidebar-toggle").click()
        page.wait(lambda d: sidebar.is_displayed(), 5, "the chat list")
        assert page.by("sidebar-toggle").get_attribute("aria-expanded") == "true"
        page.click(f'[data-session-id="{session_id}"]')
        page.wait(lambda d: not sidebar.is_displayed(), 5, "the chat list to close")
        driver.save_screenshot(str(stack.folder / "phone.png"))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert page.requested_hosts() <= LOCAL
