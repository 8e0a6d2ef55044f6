"""RusChat in the browser: Python running in Pyodide, talking to the two services.

The page holds the open chat as a list of messages; each answer comes from the service
picked in the dropdown, which receives the whole conversation. History lives in the
services' databases: the sidebar is the shared merge of both lists.

This is the page's script (served as /py/main.py; the rest of ``webapp.page`` comes in
/py/page.zip): it only builds the state, the actions and the views (see the package's
docstring for how they fit) and wires the page's fixed controls.
"""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Any

import js

# The mark before the page's imports times them (bench/start.py).
js.performance.mark("ruschat:python")

from webapp.page import a11y, shortcuts
from webapp.page.actions.chat import Actions
from webapp.page.actions.search import SearchActions
from webapp.page.actions.settings import SettingsActions
from webapp.page.actions.transfer import TransferActions
from webapp.page.api.http import Credentials
from webapp.page.dom import Dom
from webapp.page.state.app import AppState
from webapp.page.state.settings import DEFAULTS_KEY, defaults_from_json
from webapp.page.views import settings as view_settings
from webapp.page.views import tools as view_tools
from webapp.page.views.layout import THEME_KEY, Layout


async def export_clicked(transfer: TransferActions, kind: str, only_open_chat: bool, _event: Any) -> None:
    await transfer.export(kind, only_open_chat)


def main() -> None:
    js.performance.mark("ruschat:imported")
    dom = Dom(js.document)
    config = json.loads(js.document.getElementById("ruschat-config").textContent)
    Credentials.key = config.get("api_key")
    state = AppState.from_config(
        config,
        saved_choice=js.localStorage.getItem("ruschat-service"),
        defaults=defaults_from_json(js.localStorage.getItem(DEFAULTS_KEY)),
    )
    actions = Actions(state, dom)
    settings = SettingsActions(state, dom, actions.services, actions.show_error)
    view_settings.build_panel(dom, settings)
    dom.on(dom.by_testid("settings"), "click", settings.open_settings)
    dom.on(js.document.getElementById("composer"), "submit", actions.on_submit)
    dom.on(dom.by_testid("message-input"), "keydown", actions.on_key)
    dom.on(dom.by_testid("stop"), "click", actions.stop)
    dom.on(dom.by_testid("ask-both"), "click", actions.ask_both)
    dom.on(dom.by_testid("new-chat"), "click", actions.new_chat)
    dom.on(dom.by_testid("model-select"), "change", actions.on_model_change)
    dom.on(js.window, "hashchange", actions.on_hash_change)
    # An import may put chats anywhere in the lists: the sidebar starts over.
    transfer = TransferActions(
        state, dom, actions.services, actions.show_error, lambda: actions.refresh_sessions(reset=True)
    )
    for kind in ("json", "markdown"):
        dom.on(dom.by_testid(f"export-all-{kind}"), "click", partial(export_clicked, transfer, kind, False))
        dom.on(dom.by_testid(f"export-chat-{kind}"), "click", partial(export_clicked, transfer, kind, True))
    dom.on(dom.by_testid("import-file"), "change", transfer.import_file)
    Layout(dom, saved_theme=js.localStorage.getItem(THEME_KEY)).install()
    view_tools.install(dom, state)
    search = SearchActions(state, dom, actions)
    dom.on(dom.by_testid("search-input"), "input", search.on_input)
    dom.on(dom.by_testid("search-input"), "keydown", search.on_key)
    shortcuts.install(dom, state, actions, search)
    a11y.install(dom)
    asyncio.ensure_future(actions.start())


main()
