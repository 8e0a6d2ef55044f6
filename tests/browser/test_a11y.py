"""Accessibility: an axe-core audit of the page's states, and a keyboard-only walk-through.

axe-core comes from the npm registry (webapp/node_modules, pinned in package-lock.json);
the test injects it into the page, which never loads it itself.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.conftest import LOCAL, ChatPage, Stack, stored_chat
from webapp.server import NODE_MODULES

pytestmark = pytest.mark.browser

AXE = NODE_MODULES / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}

RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ["violations"]}).then(
  (result) => done(result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ") + " :: " + (n.failureSummary || "")),
  }))),
  (error) => done([{id: "axe-error", impact: "critical", help: String(error), nodes: []}]),
);
"""


def audit(page: ChatPage, what: str) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now; fails on a serious or critical one."""
    if not page.driver.execute_script("return typeof window.axe === 'object'"):
        page.driver.execute_script(AXE.read_text())
    page.driver.set_script_timeout(60)
    violations = page.driver.execute_async_script(RUN_AXE)
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    for v in violations:  # the minor and moderate ones, for the log (pytest -s)
        print(f"{what}: {v['impact']} {v['id']}: {v['help']} {v['nodes'][:2]}")
    assert not blocking, f"{what}: " + "\n".join(f"{v['impact']} {v['id']}: {v['help']} {v['nodes']}" for v in blocking)
    return violations


def active(page: ChatPage) -> Any:
    return page.driver.switch_to.active_element


def active_testid(page: ChatPage) -> str:
    return active(page).get_attribute("data-testid") or active(page).tag_name


def press(page: ChatPage, *keys: str) -> None:
    ActionChains(page.driver).send_keys(*keys).perform()


def dialog_open(page: ChatPage) -> bool:
    return page.driver.execute_script("return document.querySelector('[data-testid=settings-dialog]').open")


def test_no_serious_violations_on_the_pages_states(driver, stack: Stack):
    page = ChatPage(driver, stack.web.url.replace("127.0.0.1", "localhost")).open()
    assert AXE.name not in page.driver.page_source
    audit(page, "the empty page")

    word = f"zebra{uuid.uuid4().hex[:6]}"
    stored_chat(stack, f"Tell me about the {word}", f"The {word} is a striped animal.")
    page.type("Say hello in one short sentence.")
    answer = page.wait_answer(1)
    # The finished answer is announced once, politely; the message list itself is not live.
    announcer = page.by("announcer")
    assert announcer.get_attribute("role") == "status"
    page.wait(
        lambda d: (
            answer.find_element(By.CSS_SELECTOR, ".content").text.strip()[:20]
            in (announcer.get_attribute("textContent") or "")
        ),
        10,
        "the answer announced",
    )
    assert page.by("messages").get_attribute("aria-live") in (None, "off")
    audit(page, "a chat with a streamed answer")

    opener = page.by("settings")
    opener.click()
    page.wait(lambda d: dialog_open(page), 10, "the settings dialog")
    audit(page, "the settings panel")
    press(page, Keys.ESCAPE)
    page.wait(lambda d: not dialog_open(page), 10, "Escape to close the settings")
    assert active(page) == opener

    box = page.by("search-input")
    box.send_keys(word)
    page.wait(lambda d: page.all("search-hit"), 20, "the search hits")
    audit(page, "the search results")
    assert page.requested_hosts() <= LOCAL


WIDE_CODE = """Two ways to do it:

```python
import os  # the comment on this line goes on far past the width of the answer, so the block scrolls sideways
@cache
def load(path: str, retries: int = 3) -> dict[str, object]:
    \"\"\"Read one file.\"\"\"
    n = 1  # short
    if not os.path.exists(path) or retries <= 0: raise FileNotFoundError(f"no file at {path!r}, tried {retries} times")
    return {"path": path, "size": len(open(path).read()) * 1024 + 0x1F - 3.5e2, "ok": True, "none": None}
```

```console
$ ls -l  # short
total 0
```

```bash
# then run it, with a long line that keeps on going and going past the edge of the message box for sure
for f in *.txt; do echo "file: $f" | grep -v '^#' >> out.log && wc -l "$f"; done; export N=42
```

```js
const total = items.filter((x) => x.size > 10 && typeof x.name === "string").reduce((a, b) => a + b.size, 0); // sum
```
"""


def choose_theme(page: ChatPage, theme: str) -> None:
    """Click the toolbar's theme button until ``theme`` is in use."""
    for _ in range(3):
        if page.driver.execute_script("return document.documentElement.dataset.theme") == theme:
            return
        page.by("theme-toggle").click()
    assert page.driver.execute_script("return document.documentElement.dataset.theme") == theme


def test_a_wide_highlighted_code_block_passes_in_both_themes(driver, stack: Stack):
    session_id = stored_chat(stack, "Show me some code", WIDE_CODE)
    page = ChatPage(driver, stack.web.url.replace("127.0.0.1", "localhost")).open(f"/#chat={session_id}")
    blocks = page.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".message pre > code"), 20, "the code blocks")
    assert len(blocks) == 4
    kinds = set(
        page.driver.execute_script("return [...document.querySelectorAll('.message pre span')].map((s) => s.className)")
    )
    # keywords, strings, comments, numbers, operators, builtins, functions, shell prompt and output
    wanted = {"hl-k", "hl-kn", "hl-s2", "hl-c1", "hl-mi", "hl-mf", "hl-mh", "hl-o", "hl-nb", "hl-nf", "hl-gp", "hl-go"}
    assert wanted <= kinds, f"token classes missing: {sorted(wanted - kinds)}"
    scrolls = "return arguments[0].scrollWidth > arguments[0].clientWidth"
    wide = [block for block in blocks if "console" not in (block.get_attribute("class") or "")]
    assert all(page.driver.execute_script(scrolls, block) for block in wide), "the long lines scroll sideways"
    try:
        for theme in ("light", "dark"):
            choose_theme(page, theme)
            audit(page, f"an answer with wide code blocks, {theme} theme")
    finally:
        page.driver.execute_script("localStorage.removeItem('ruschat-theme')")
    # The keyboard reaches each block (to scroll it) and it says what it is.
    for block in blocks:
        assert block.get_attribute("tabindex") == "0" and block.get_attribute("aria-label"), block


def test_keyboard_alone_reaches_the_controls_and_escape_closes_dialogs(driver, stack: Stack):
    stored_chat(stack, "A question asked earlier", "An answer given earlier.")
    page = ChatPage(driver, stack.web.url.replace("127.0.0.1", "localhost")).open()
    page.wait(lambda d: page.sessions(), 20, "the chat list")
    page.driver.execute_script("document.activeElement.blur(); document.body.focus()")
    seen: list[str] = []
    for _ in range(40):
        press(page, Keys.TAB)
        testid = active_testid(page)
        seen.append(testid)
        if testid == "body":
            continue  # the focus left the page (the browser's own controls) and comes back
        # Each control reached shows where the focus is.
        outline = page.driver.execute_script(
            "const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]"
        )
        assert outline[0] != "none" and outline[1] != "0px", f"no visible focus on {testid}: {outline} ({seen})"
        if testid == "message-input":
            break
    order = ["new-chat", "search-input", "session-list", "model-select", "messages", "message-input"]
    positions = [seen.index(t) if t in seen else -1 for t in order]
    assert -1 not in positions and positions == sorted(positions), f"tab order {seen}"

    # The chat list: arrows move between chats, Enter opens one.
    page.by("session-list").send_keys(Keys.ARROW_DOWN)
    assert active_testid(page) == "session-item"
    chosen = active(page).get_attribute("data-session-id")
    press(page, Keys.ENTER)
    assert page.active_session() == chosen

    # The composer: typing then Tab reaches Send.
    page.by("message-input").click()
    press(page, "hello")
    press(page, Keys.TAB)
    assert active_testid(page) == "send"
    page.by("message-input").clear()

    # Escape closes the settings panel and the export menu; the focus goes back to the opener.
    opener = page.by("settings")
    opener.send_keys(Keys.ENTER)
    page.wait(lambda d: dialog_open(page), 10, "the settings dialog")
    press(page, Keys.ESCAPE)
    page.wait(lambda d: not dialog_open(page), 10, "Escape to close the settings")
    assert active(page) == opener
    summary = page.by("history-menu").find_element(By.TAG_NAME, "summary")
    summary.send_keys(Keys.ENTER)
    assert page.by("history-menu").get_attribute("open") is not None
    press(page, Keys.TAB)
    press(page, Keys.ESCAPE)
    assert page.by("history-menu").get_attribute("open") is None
    assert active(page) == summary
