"""Deletes and renames that stick: made while the capable service is down, applied when it returns."""

from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import replace

import pytest
from selenium.webdriver.common.by import By

from engine.store.storage import Store
from shared.schemas import ChatMessage, Message
from tests.browser.conftest import MODEL, ChatPage, Stack
from tests.support import service_process

pytestmark = pytest.mark.browser


def chat_on_both(stack: Stack, question: str) -> str:
    """A chat both services hold (as if asked of each); its id."""
    session_id, question_id, answer_id = (str(uuid.uuid4()) for _ in range(3))
    for name, service in (("fast", "tinyllama"), ("capable", "qwen")):
        store = Store(f"sqlite:///{stack.folder / f'{name}.sqlite3'}")
        try:
            store.add_user_message(session_id, ChatMessage(question_id, "user", question))
            answer = Message(answer_id, session_id, "assistant", "Sure.", time.time(), MODEL, service, "stop")
            store.add_answer(replace(answer, parent_id=question_id))
        finally:
            store.close()
    return session_id


def capable_rows(stack: Stack, sql: str, *args: str) -> list[tuple]:
    with sqlite3.connect(stack.folder / "capable.sqlite3") as db:
        return db.execute(sql, args).fetchall()


def status_of(page: ChatPage, service: str) -> str:
    return page.driver.find_element(
        By.CSS_SELECTOR, f'[data-testid="service-status"] [data-service="{service}"]'
    ).get_attribute("data-state")


def test_a_chat_deleted_and_one_renamed_while_the_capable_service_was_down(page: ChatPage, stack: Stack):
    doomed, renamed = chat_on_both(stack, "Delete me"), chat_on_both(stack, "Rename me")
    page.reload()
    page.wait(lambda d: {doomed, renamed} <= set(page.session_ids()), 20, "both chats listed")

    stack.capable.stop()
    page.wait(lambda d: status_of(page, "qwen") == "offline", 20, "the capable service offline")
    page.click(f'[data-session-id="{doomed}"] .title')  # the open chat shows its buttons
    page.wait(lambda d: page.active_session() == doomed, 10, "the chat open")
    page.click(f'[data-session-id="{doomed}"] [data-testid="delete-session"]')
    page.wait(lambda d: doomed not in page.session_ids(), 10, "the chat gone from the list")
    page.click(f'[data-session-id="{renamed}"] .title')
    page.wait(lambda d: page.active_session() == renamed, 10, "the other chat open")
    page.click(f'[data-session-id="{renamed}"] [data-testid="rename-session"]')
    page.by("rename-input").send_keys("Renamed while down\n")
    page.wait(lambda d: any(s.text.startswith("Renamed while down") for s in page.sessions()), 10, "the new title")

    args = stack.capable.command[stack.capable.command.index("--origins") :]
    stack.capable = service_process(
        "backend_qwen", stack.folder / "capable.sqlite3", stack.folder / "back.log", *args, port=stack.capable.port
    ).start()
    page.wait(lambda d: status_of(page, "qwen") in ("idle", "busy"), 20, "the capable service back")
    # The page applies what it missed: the deletion (leaving a tombstone there too) and the rename.
    page.wait(
        lambda d: (
            not capable_rows(stack, "select 1 from sessions where id = ?", doomed)
            and capable_rows(stack, "select title from sessions where id = ?", renamed) == [("Renamed while down",)]
        ),
        20,
        "the capable service brought up to date",
    )
    assert capable_rows(stack, "select session_id from tombstones") == [(doomed,)]

    page.reload()
    assert doomed not in page.session_ids()
    assert any(s.text.startswith("Renamed while down") for s in page.sessions())
