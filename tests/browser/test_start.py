"""The page's start: Python restored from the interpreter snapshot the web app made, or
started in the page when the snapshot is refused."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ChatPage, web_process
from tests.support import free_port
from webapp.server import NODE_MODULES
from webapp.snapshot import snapshot_name

pytestmark = pytest.mark.browser

RESTORED = "return performance.getEntriesByName('ruschat:snapshot').length"


def test_the_page_restores_python_from_the_snapshot_and_starts_it_when_the_snapshot_is_refused(driver, tmp_path):
    # No services: the page must start and say so whichever way Python came up.
    nowhere = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    made, damaged = tmp_path / "made", tmp_path / "damaged"
    # The snapshot made for real (Node, the page's runtime), in a folder of this test's own.
    web = web_process(tmp_path / "web.log", *nowhere, "--snapshot-dir", str(made)).start(timeout=180)
    try:
        [snapshot] = made.glob("pyodide-*.bin")
        assert snapshot.read_bytes()[:4] == b"\0snp"  # Pyodide's snapshot magic
        page = ChatPage(driver, web.url).open()
        assert driver.execute_script(RESTORED) == 1
        page.wait(lambda d: "offline" in page.by("service-status").text.lower(), 20, "the services shown offline")
    finally:
        web.stop()

    # A damaged file under the right name: Pyodide refuses it, Python starts the usual way.
    damaged.mkdir()
    (damaged / snapshot_name(NODE_MODULES / "pyodide")).write_bytes(b"not a snapshot" * 4096)
    web = web_process(tmp_path / "web-damaged.log", *nowhere, "--snapshot-dir", str(damaged)).start()
    try:
        driver.get_log("browser")  # only this page's messages from here on
        page = ChatPage(driver, web.url).open()
        assert driver.execute_script(RESTORED) == 0
        page.wait(lambda d: "offline" in page.by("service-status").text.lower(), 20, "the services shown offline")
        assert any("snapshot was refused" in entry["message"] for entry in driver.get_log("browser"))
    finally:
        web.stop()

    # A snapshot named in the page but gone when the page asks for it (404): Python starts.
    web = web_process(tmp_path / "web-gone.log", *nowhere, "--snapshot-dir", str(made)).start()
    try:
        snapshot.unlink()
        page = ChatPage(driver, web.url).open()
        assert driver.execute_script(RESTORED) == 0
        page.wait(lambda d: "offline" in page.by("service-status").text.lower(), 20, "the services shown offline")
    finally:
        web.stop()
