"""The sidebar at scale: the first page of each service, under date headings; more on scroll."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from tests.browser.conftest import ChatPage, Stack

pytestmark = pytest.mark.browser

DAY = 86_400.0


def store_chats(db: Path, stamps: list[float]) -> list[tuple[float, str]]:
    """One chat (a question) per time in ``stamps``, written straight into a service's
    database; their (updated_at, id)."""
    keys = [(when, str(uuid.uuid4())) for when in stamps]
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "insert into sessions (id, title, created_at, updated_at) values (?, ?, ?, ?)",
            [(sid, f"Chat at {when:.0f}", when, when) for when, sid in keys],
        )
        conn.executemany(
            "insert into messages (id, session_id, role, content, created_at) values (?, ?, 'user', 'Hi', ?)",
            [(str(uuid.uuid4()), sid, when) for when, sid in keys],
        )
    return keys


def test_the_sidebar_shows_a_page_under_date_headings_and_loads_the_rest_on_scroll(page: ChatPage, stack: Stack):
    now = time.time()
    # 120 chats over ~60 days: 90 on the capable service, 30 on the fast one, interleaved.
    capable = store_chats(stack.folder / "capable.sqlite3", [now - i * DAY / 2 for i in range(120) if i % 4])
    fast = store_chats(stack.folder / "fast.sqlite3", [now - i * DAY / 2 - 1 for i in range(0, 120, 4)])
    expected = [sid for _, sid in sorted(capable + fast, reverse=True)]
    page.reload()

    first = page.session_ids()
    assert first == expected[: len(first)], "the first page in the true order"
    assert 50 <= len(first) < 120, "one page of the capable service (and the fast one's chats as new)"
    headings = [h.text for h in page.all("session-group")]
    assert headings[:3] == ["Today", "Yesterday", "Previous 7 days"], headings
    assert len(headings) == len(set(headings)) and all(h.split()[-1].isdigit() for h in headings[3:])
    # Each heading names the list under it, for screen readers.
    group = page.driver.find_element(By.CSS_SELECTOR, ".session-group")
    assert group.get_attribute("aria-labelledby") == page.all("session-group")[0].get_attribute("id")

    def scrolled_to_the_end(_driver: object) -> bool:
        page.driver.execute_script(
            "const list = arguments[0]; list.scrollTop = list.scrollHeight;", page.by("session-list")
        )
        return len(page.sessions()) == 120

    page.driver.execute_script(WATCH)
    page.wait(scrolled_to_the_end, 30, "every chat listed after scrolling")
    assert page.session_ids() == expected
    assert page.by("session-list-end").get_attribute("data-more") == "false"
    # A page continues the last heading or starts the next one: no heading twice.
    headings = [h.text for h in page.all("session-group")]
    assert len(headings) == len(set(headings)), headings
    # Each loaded page was drawn by adding its items after the last: the items listed before
    # are the same DOM nodes in their places, none was taken out, and the items added are
    # the chats added (not the whole list again).
    seen = page.driver.execute_script("return window.ruschatWatch.summary()")
    assert seen["same"], "the items listed before were kept in their places"
    assert seen["removed"] == 0, seen
    assert seen["added"] == len(expected) - len(first), seen
    assert seen["loads"] >= 1 and max(seen["per_load"]) <= 2 * 50, seen  # a page (and chats it uncovers)


WATCH = """
const groups = document.querySelector('[data-testid=session-groups]');
const item = '[data-testid=session-item]';
const before = [...groups.querySelectorAll(item)];
const watch = {added: 0, removed: 0, per_load: []};
const count = (node) => node.nodeType !== 1 ? 0 : node.matches(item) ? 1 : node.querySelectorAll(item).length;
new MutationObserver((records) => {
  let added = 0;
  for (const record of records) {
    for (const node of record.addedNodes) added += count(node);
    watch.removed += [...record.removedNodes].filter((node) => node.nodeType === 1).length;
  }
  watch.added += added;
  watch.per_load.push(added);  // the records of one task: one loaded page's drawing
}).observe(groups, {childList: true, subtree: true});
watch.summary = () => ({
  added: watch.added, removed: watch.removed, per_load: watch.per_load, loads: watch.per_load.length,
  same: before.every((node, i) => node.isConnected && node === groups.querySelectorAll(item)[i]),
});
window.ruschatWatch = watch;
"""
