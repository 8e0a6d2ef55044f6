"""The installable app: the service worker serves the page while the web app server is down."""

from __future__ import annotations

import pytest
import requests

from tests.browser.conftest import LOCAL, ChatPage, running_stack, web_process

pytestmark = pytest.mark.browser

CONTROLLED = "return !!(navigator.serviceWorker && navigator.serviceWorker.controller)"
CACHES = "const done = arguments[arguments.length - 1]; caches.keys().then(done, (e) => done(['error ' + e]));"
INSTALLABLE = """
const done = arguments[arguments.length - 1];
const link = document.querySelector('link[rel=manifest]');
fetch(link.href).then((r) => r.json()).then(done, (e) => done({error: String(e)}));
"""


def config_text(page: ChatPage) -> str:
    return page.driver.execute_script("return document.getElementById('ruschat-config').textContent")


def test_a_reload_works_while_the_web_app_server_is_down(driver, tmp_path):
    # A stack of its own: this test stops its web app server.
    with running_stack(tmp_path) as stack:
        page = ChatPage(driver, stack.web.url.replace("127.0.0.1", "localhost")).open()
        manifest = page.driver.execute_async_script(INSTALLABLE)
        assert manifest["display"] == "standalone" and manifest["start_url"] == "/"
        assert {"192x192", "512x512"} <= {icon["sizes"] for icon in manifest["icons"]}
        page.wait(lambda d: d.execute_script(CONTROLLED), 60, "the service worker to control the page")
        worker = requests.get(f"{stack.web.url}/sw.js", timeout=5).text
        release = worker.split('const VERSION = "', 1)[1].split('"', 1)[0]
        assert page.driver.execute_async_script(CACHES) == [f"ruschat-{release}"]
        page.requested_hosts()

        stack.web.stop()
        with pytest.raises(requests.ConnectionError):
            requests.get(stack.web.url, timeout=2)
        page.reload()
        # The services are still reached directly: the page lists their models and answers.
        page.wait(lambda d: "offline" not in page.by("service-status").text.lower(), 20, "the services online")
        page.type("Say hello in one short sentence.")
        assert page.wait_answer(1).text.strip()
        assert page.requested_hosts() <= LOCAL

        # A new release (here: the page names the fast service differently) replaces the old
        # one: the page, loaded from the old cache, reloads itself once the new worker took over.
        renamed = stack.fast.url.replace("127.0.0.1", "localhost")
        web = web_process(tmp_path / "web2.log", renamed, stack.capable.url, port=stack.web.port).start()
        try:
            newer = requests.get(f"{web.url}/sw.js", timeout=5).text.split('const VERSION = "', 1)[1].split('"', 1)[0]
            assert newer != release
            page.driver.refresh()
            page.wait(lambda d: renamed in config_text(page), 60, "the new release's page")
            page.wait_ready()
            assert page.driver.execute_async_script(CACHES) == [f"ruschat-{newer}"]
        finally:
            web.stop()
