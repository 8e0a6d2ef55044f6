"""RusChat in the browser: Python running in Pyodide, talking to the two services.

The page holds the open chat as a list of messages; each answer comes from the service
picked in the dropdown, which receives the whole conversation. History lives in the
services' databases: the sidebar is the shared merge of both lists.

The page's Python, by concern: ``state`` (dataclasses, no DOM), ``client`` and
``services`` (HTTP, SSE, status sockets), ``view_*`` (one per region, state to DOM),
``actions`` (events to state changes and redraws), ``dom`` (small DOM helpers). This
module only builds them and wires the page's fixed controls.
"""

from __future__ import annotations

import asyncio
import json

import js

# The mark before the page's imports times them (bench/start.py).
js.performance.mark("ruschat:python")

import a11y
import shortcuts
import view_settings
import view_tools
from actions import Actions
from chat_settings import DEFAULTS_KEY, defaults_from_json
from client import Credentials
from dom import Dom
from search_actions import SearchActions
from settings_actions import SettingsActions
from state import AppState
from transfer_actions import TransferActions
from view_layout import THEME_KEY, Layout


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
        dom.on(dom.by_testid(f"export-all-{kind}"), "click", lambda _e, k=kind: transfer.export(k, False))
        dom.on(dom.by_testid(f"export-chat-{kind}"), "click", lambda _e, k=kind: transfer.export(k, True))
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
