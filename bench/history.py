"""The page at scale: page ready and opening a chat with 10,000 chats in each service.

``python -m bench --only history``. Fills each service's SQLite file with chats of ten
messages (rows written straight into the database through SQL, before the services
start), starts both services and the web app on free ports, and drives the page in
headless Chromium (started offline, as tests/browser does):

- **page ready**: from navigation start to the page's ``ruschat:ready`` mark (set with
  body ``data-ready``), warm (after one load not counted); median of 5, with an empty
  history and with the full one (both stacks running, loads alternating);
- **chat open**: from the click on a chat in the sidebar to its last message in the DOM
  (the next animation frame); median of 5 different chats.

Writes the figures into docs/BENCHMARKS.md, a section of its own.
"""

from __future__ import annotations

import re
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.store.storage import Store

CHATS = 10_000
MESSAGES = 10
RUNS = 5
TARGET_READY_RATIO = 1.25
TARGET_OPEN_MS = 300.0
START, END = "<!-- history:start -->", "<!-- history:end -->"


def fill(db: Path, chats: int, messages: int, service: str, now: float) -> list[tuple[str, str]]:
    """``chats`` chats of ``messages`` messages (question, answer, ...) over the last year,
    newest first; each chat's id and its last message's id."""
    Store(f"sqlite:///{db}").close()  # the schema, through the migrations
    sessions, rows, shown = [], [], []
    for index in range(chats):
        sid = str(uuid.uuid4())
        updated = now - index * (365 * 86_400 / chats)
        start = updated - messages * 30
        sessions.append((sid, f"{service} chat {index}: a question about topic {index % 97}", start, updated))
        parent = None
        for n in range(messages):
            mid = str(uuid.uuid4())
            role = "user" if n % 2 == 0 else "assistant"
            text = f"Message {n} of chat {index}. " + ("Tell me more, please." if role == "user" else "Sure: " * 20)
            rows.append(
                (mid, sid, role, text, start + n * 30, parent, "SmolLM2", service, None if n % 2 == 0 else "stop")
            )
            parent = mid
        shown.append((sid, parent or sid))
    with sqlite3.connect(db) as conn:
        conn.executemany("insert into sessions (id, title, created_at, updated_at) values (?, ?, ?, ?)", sessions)
        conn.executemany(
            "insert into messages (id, session_id, role, content, created_at, parent_id, model, service, finish_reason)"
            " values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return shown


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Chromium, offline, as the browser tests start it."""
    from tests.browser.conftest import new_chromium

    driver = new_chromium(Path(tempfile.mkdtemp(prefix="ruschat-bench-chromium-")))
    try:
        yield driver
    finally:
        driver.quit()


def page_ready_ms(driver: Any, url: str, timeout: float = 120) -> float:
    """Load the page; milliseconds from navigation start to its ``ruschat:ready`` mark."""
    driver.get(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mark = driver.execute_script(
            "const m = performance.getEntriesByName('ruschat:ready'); return m.length ? m[0].startTime : null;"
        )
        if mark is not None:
            return float(mark)
        time.sleep(0.05)
    raise RuntimeError(f"the page at {url} was not ready after {timeout} s")


OPEN_SCRIPT = """
const [sid, last, done] = arguments;
const messages = document.querySelector('[data-testid="messages"]');
const shown = () => messages.querySelector(`[data-message-id="${last}"]`);
const item = document.querySelector(`[data-testid="session-item"][data-session-id="${sid}"]`);
if (!item) { done(-1); return; }
const started = performance.now();
const finish = () => requestAnimationFrame(() => done(performance.now() - started));
const observer = new MutationObserver(() => { if (shown()) { observer.disconnect(); finish(); } });
observer.observe(messages, {childList: true, subtree: true});
item.click();
setTimeout(() => { observer.disconnect(); done(-2); }, 20000);
"""


def open_chat_ms(driver: Any, session_id: str, last_message: str) -> float:
    """Milliseconds from the click on a chat in the sidebar to its last message shown."""
    driver.set_script_timeout(30)
    elapsed = float(driver.execute_async_script(OPEN_SCRIPT, session_id, last_message))
    if elapsed < 0:
        raise RuntimeError(f"chat {session_id} did not open ({elapsed})")
    return elapsed


def chat_opens(driver: Any, url: str, chats: list[tuple[str, str]], runs: int) -> dict[str, Any]:
    """Open ``runs`` chats of the first page (not the one open: the 2nd, 4th, ... newest)."""
    page_ready_ms(driver, url)
    opened = [open_chat_ms(driver, sid, last) for sid, last in chats[1 : 2 * runs + 1 : 2]]
    listed = driver.execute_script("return document.querySelectorAll('[data-testid=\"session-item\"]').length")
    return {"open_ms": opened, "median_open_ms": statistics.median(opened), "items_listed": listed}


MORE_SCRIPT = """
const done = arguments[arguments.length - 1];
const list = document.querySelector('[data-testid="session-list"]');
const count = () => list.querySelectorAll('[data-testid="session-item"]').length;
const before = count();
const started = performance.now();
const observer = new MutationObserver(() => {
  if (count() > before) {
    observer.disconnect();
    requestAnimationFrame(() => done([count(), performance.now() - started]));
  }
});
observer.observe(list, {childList: true, subtree: true});
list.scrollTop = list.scrollHeight;
setTimeout(() => { observer.disconnect(); done([count(), -1]); }, 30000);
"""
DEEP = 1000
"""Scroll the sidebar until this many chats are listed (``load more`` at depth)."""


def scroll_loads(driver: Any, url: str, until: int = DEEP) -> list[tuple[int, float]]:
    """Scroll the sidebar to its end page after page: (chats listed, ms from the scroll to
    the next page drawn) for each load, until ``until`` chats are listed."""
    page_ready_ms(driver, url)
    driver.set_script_timeout(60)
    loads: list[tuple[int, float]] = []
    more = "return document.querySelector('[data-testid=\"session-list-end\"]').dataset.more === 'true'"
    while not loads or loads[-1][0] < until:
        time.sleep(0.3)  # the page settles (a load the observer started ends)
        if not driver.execute_script(more):
            break  # everything is listed (a short history: --quick)
        listed, elapsed = driver.execute_async_script(MORE_SCRIPT)
        if elapsed < 0:
            raise RuntimeError(f"no more chats were drawn after {listed}")
        loads.append((int(listed), float(elapsed)))
    return loads


def history(folder: Path, chats: int = CHATS, messages: int = MESSAGES, runs: int = RUNS) -> dict[str, Any]:
    """Page ready with an empty history and with ``chats`` chats in each service (both
    stacks running, loads alternating, so that the noise of a shared machine hits both
    sides); then opening chats with the full history."""
    from tests.browser.conftest import running_stack

    result: dict[str, Any] = {"chats_per_service": chats, "messages_per_chat": messages, "runs": runs}
    empty, full = folder / "empty", folder / "full"
    empty.mkdir()
    full.mkdir()
    began, now = time.monotonic(), time.time()
    fast = fill(full / "fast.sqlite3", chats, messages, "tinyllama", now)
    capable = fill(full / "capable.sqlite3", chats, messages, "qwen", now - 1)
    result["fill_s"] = round(time.monotonic() - began, 1)
    # Both services' chats, newest first: the page lists them in this order.
    newest = [pair for both in zip(fast, capable, strict=True) for pair in both]
    with chromium() as driver, running_stack(empty) as bare, running_stack(full) as loaded:
        urls = {"empty": bare.web.url, "full": loaded.web.url}
        for url in urls.values():
            page_ready_ms(driver, url)  # warm-up: the runtime in the browser's cache
        ready: dict[str, list[float]] = {"empty": [], "full": []}
        for _ in range(runs):
            for name, url in urls.items():
                ready[name].append(page_ready_ms(driver, url))
        for name, samples in ready.items():
            result[name] = {"ready_ms": samples, "median_ready_ms": statistics.median(samples)}
        result["full"].update(chat_opens(driver, urls["full"], newest, runs))
        loads = scroll_loads(driver, urls["full"])
        deep = [ms for _listed, ms in loads[-runs:]]
        result["full"].update(more_loads=loads, median_more_ms=statistics.median(deep), more_listed=loads[-1][0])
    result["ready_ratio"] = result["full"]["median_ready_ms"] / result["empty"]["median_ready_ms"]
    result["targets"] = {"ready_ratio": TARGET_READY_RATIO, "open_ms": TARGET_OPEN_MS}
    return result


def rows(r: dict[str, Any]) -> list[str]:
    """The section's table."""
    empty, full = r["empty"]["median_ready_ms"], r["full"]["median_ready_ms"]
    opened = r["full"]["median_open_ms"]
    n = f"{r['chats_per_service']:,} chats of {r['messages_per_chat']} messages in each service"
    return [
        "| Measure | Result | Target | |",
        "|---|---|---|---|",
        f"| Page ready (body `data-ready`), warm, median of {r['runs']}: empty history / {n} "
        f"| {empty:.0f} / {full:.0f} ms (**{r['ready_ratio']:.2f}x**) | ≤ {TARGET_READY_RATIO}x empty "
        f"| {'met' if r['ready_ratio'] <= TARGET_READY_RATIO else '**missed**'} |",
        f"| Open a chat: click in the sidebar to its messages shown, median of {r['runs']} ({n}) "
        f"| **{opened:.0f} ms** | < {TARGET_OPEN_MS:.0f} ms | {'met' if opened < TARGET_OPEN_MS else '**missed**'} |",
        f"| Scroll the sidebar to its end with {r['full']['more_listed']:,} chats listed: the next page drawn, "
        f"median of the last {r['runs']} loads | **{r['full']['median_more_ms']:.0f} ms** | | |",
    ]


def update_markdown(path: Path, r: dict[str, Any], when: str) -> None:
    """Write the section's table into BENCHMARKS.md between its markers (added at the end once)."""
    text = path.read_text()
    if START not in text:
        text = text.rstrip("\n") + "\n\n" + SECTION + f"\n{START}\n{END}\n"
    table = "\n".join([f"Measured {when}; sidebar items listed at 10,000: {r['full']['items_listed']}.", "", *rows(r)])
    text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _m: f"{START}\n{table}\n{END}", text, flags=re.S)
    path.write_text(text)


SECTION = """## The page with a long history

`python -m bench --only history` (bench/history.py) fills each service's database with
10,000 chats of 10 messages (rows written straight into SQLite before the services
start), starts both services and the web app, and drives the page in headless Chromium:
page ready (navigation start to body `data-ready`, warm, median of 5) with an empty
history and with the full one (both stacks running, loads alternating), and opening a
chat (click in the sidebar to its messages shown, median of 5 chats). The sidebar loads
50 chats per service and more on scroll, so page ready no longer grows with the history
(before: 5.5–7 s with 3,000 chats against 2.1 s empty, and 0.87 s to open a chat).
"""
