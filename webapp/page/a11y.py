"""Keyboard access to the page's lists and menus, and what screen readers are told.

- The chat list and the search hits are lists of clickable items: the list takes the Tab
  focus once, the arrow keys (and Home, End) move between its items, Enter or Space opens
  the focused one. Items get ``tabindex="-1"`` as the focus reaches them, so the sidebar
  draws its items as it likes.
- Escape closes the Export / import menu and gives the focus back to its summary (the
  settings panel is a ``<dialog>``: the browser closes it on Escape and restores the focus).
- A finished answer is announced once, in a visually hidden ``role="status"`` region
  (``aria-live="polite"``). The message list itself is not live: screen readers (NVDA,
  JAWS, VoiceOver) re-read or queue every change of a live region, and a streamed answer
  changes a dozen times a second, so a live message list reads the answer over and over,
  fragment by fragment, and buries whatever the user does meanwhile. One polite
  announcement of the whole answer, after its last token, waits for the reader to be
  idle and reads the answer once; the answer stays in the list for reading at leisure.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from webapp.page.dom import Dom

LISTS = {"session-list": "session-item", "search-results": "search-hit"}
"""Keyboard-driven lists (by data-testid) and the testid of their items."""
MOVES = ("ArrowDown", "ArrowUp", "Home", "End")


def next_index(key: str, current: int, count: int) -> int | None:
    """The item to focus after ``key`` (``current`` -1: the list itself has the focus); None: no move."""
    if count == 0 or key not in MOVES:
        return None
    if key == "Home":
        return 0
    if key == "End":
        return count - 1
    if key == "ArrowDown":
        return min(current + 1, count - 1)
    return max(current - 1, 0)


def install(dom: Dom) -> None:
    """Listen for the keys of the lists and the export menu."""
    for testid, item_testid in LISTS.items():
        listing = dom.by_testid(testid)
        dom.on(listing, "keydown", partial(on_list_key, listing, item_testid))
    menu = dom.by_testid("history-menu")
    dom.on(menu, "keydown", lambda event: on_menu_key(menu, event))


def on_list_key(listing: Any, item_testid: str, event: Any) -> None:
    if event.ctrlKey or event.metaKey or event.altKey:
        return
    items = list(listing.querySelectorAll(f'[data-testid="{item_testid}"]'))
    target = event.target
    on_item = any(item == target for item in items)  # not a rename field or a button inside one
    if event.key in ("Enter", " ") and on_item:
        event.preventDefault()
        target.click()
        return
    if not (on_item or target == listing):
        return
    current = next((i for i, item in enumerate(items) if item == target), -1)
    index = next_index(str(event.key), current, len(items))
    if index is not None:
        event.preventDefault()
        items[index].setAttribute("tabindex", "-1")
        items[index].focus()


def focus_first(dom: Dom, testid: str) -> bool:
    """Focus the first item of one of LISTS; False if it has none."""
    item = dom.by_testid(testid).querySelector(f'[data-testid="{LISTS[testid]}"]')
    if not item:
        return False
    item.setAttribute("tabindex", "-1")
    item.focus()
    return True


def on_menu_key(menu: Any, event: Any) -> None:
    if event.key == "Escape" and menu.open:
        event.preventDefault()
        event.stopPropagation()  # Escape here closes the menu, it stops no answer
        menu.open = False
        menu.querySelector("summary").focus()


def answer_announcement(label: str, text: str, reason: str, error: str | None = None) -> str:
    """What a screen reader says when an answer ends: who wrote it, how it ended, the answer."""
    how = {
        "stop": "answered",
        "length": "answered (cut at the length limit)",
        "cancelled": "was stopped",
        "interrupted": "was interrupted",
    }
    if reason == "error":
        return f"{label} failed: {error or 'unknown error'}. {text}".strip()
    return f"{label} {how.get(reason, 'answered')}: {text.strip()}"


def announce(dom: Dom, text: str) -> None:
    """Have screen readers read ``text`` once, when they are idle."""
    import js  # the browser's, imported here so the rules above also run under CPython (unit tests)
    from pyodide.ffi import create_once_callable

    region = dom.by_testid("announcer")
    region.textContent = ""
    # Emptied then filled a moment later: the same text twice in a row is announced twice.
    js.setTimeout(create_once_callable(lambda: setattr(region, "textContent", text)), 100)
