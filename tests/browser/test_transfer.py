"""Export and import through the page: export everything, empty the services, import the
file through the page's file input, and the sidebar is the same again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from tests.browser.conftest import ChatPage, Stack, stored_chat

pytestmark = pytest.mark.browser

CAPTURE_DOWNLOADS = """
window.__downloads = [];
const original = URL.createObjectURL;
URL.createObjectURL = (blob) => { window.__downloads.push(blob); return original(blob); };
"""
READ_LAST_DOWNLOAD = """
const done = arguments[arguments.length - 1];
window.__downloads[window.__downloads.length - 1].text().then(done);
"""


def sidebar(page: ChatPage) -> list[tuple[str, str]]:
    return [(s.get_attribute("data-session-id"), s.text.strip()) for s in page.sessions()]


def test_export_then_import_into_empty_services_gives_the_same_sidebar(page: ChatPage, stack: Stack, tmp_path: Path):
    stored_chat(stack, "What is the capital of France?", "Paris.")
    stored_chat(stack, "Name a colour.", "Blue.")
    page.reload()
    page.wait(lambda d: len(page.sessions()) >= 2, 20, "the stored chats in the sidebar")
    before = sidebar(page)

    page.driver.execute_script(CAPTURE_DOWNLOADS)
    page.click('[data-testid="history-menu"] summary')
    page.click('[data-testid="export-all-json"]')
    page.wait(lambda d: d.execute_script("return window.__downloads.length") == 1, 20, "the export download")
    exported = json.loads(page.driver.execute_async_script(READ_LAST_DOWNLOAD))
    assert exported["format"] == "ruschat" and len(exported["sessions"]) == len(before)

    for service in (stack.fast, stack.capable):
        for session in requests.get(service.url + "/api/sessions", timeout=10).json()["sessions"]:
            requests.delete(f"{service.url}/api/sessions/{session['id']}", timeout=10).raise_for_status()
    page.reload()
    page.wait(lambda d: not page.sessions(), 20, "an empty sidebar")

    file = tmp_path / "export.json"
    file.write_text(json.dumps(exported))
    page.click('[data-testid="history-menu"] summary')
    page.by("import-file").send_keys(str(file))
    page.wait(lambda d: len(page.sessions()) == len(before), 30, "the imported chats in the sidebar")
    assert sidebar(page) == before
    assert "Imported 2 chat(s)" in page.by("transfer-result").text
    assert page.by("error").get_attribute("hidden") is not None

    page.driver.execute_script(CAPTURE_DOWNLOADS)
    page.click(f'[data-testid="session-item"][data-session-id="{before[0][0]}"]')
    assert page.active_session() == before[0][0]
    page.click('[data-testid="export-chat-markdown"]')
    page.wait(lambda d: d.execute_script("return window.__downloads.length") == 1, 20, "the chat's Markdown")
    markdown = page.driver.execute_async_script(READ_LAST_DOWNLOAD)
    assert markdown.startswith("# RusChat export") and markdown.count("\n## ") == 1
    assert f"## {before[0][1]}" in markdown


def test_a_bad_file_shows_an_error_and_imports_nothing(page: ChatPage, tmp_path: Path):
    before = [s.get_attribute("data-session-id") for s in page.sessions()]
    file = tmp_path / "bad.json"
    file.write_text('{"not": "an export"}')
    page.click('[data-testid="history-menu"] summary')
    page.by("import-file").send_keys(str(file))
    page.wait(lambda d: page.by("error").is_displayed(), 20, "the error line")
    assert "not a recognised export" in page.by("error").text
    assert [s.get_attribute("data-session-id") for s in page.sessions()] == before
