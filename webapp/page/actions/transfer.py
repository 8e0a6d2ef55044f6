"""The History menu's handlers: export (everything, or the open chat) and import.

Export asks each online service for its own export (JSON, lossless), merges the chats as
the sidebar does, and hands the browser a download made here (a Blob and an
``<a download>``): the file never travels over the network. Import reads the chosen file,
checks it with the same converters the services use (a bad file is refused here, nothing
sent), posts it to one service and refreshes the sidebar.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import js
from pyodide.ffi import create_once_callable, to_js

from shared.history import merge_sessions
from shared.schemas import SchemaError
from shared.transfer import export_json, export_markdown, parse_import
from webapp.page.api import endpoints
from webapp.page.api.http import ServiceError
from webapp.page.api.services import Services
from webapp.page.dom import Dom
from webapp.page.state.app import AppState
from webapp.page.state.service import Service

MIME = {"json": "application/json", "markdown": "text/markdown"}
SUFFIX = {"json": "json", "markdown": "md"}
CAPABLE = "qwen"
"""The capable service's id in the page config: imports go there when it is online."""


def import_target(services: Mapping[str, Service], selected: str) -> Service | None:
    """Where an import goes: the capable service if it is online, else the selected one,
    else any online one."""
    online = [s for s in services.values() if s.online]
    for wanted in (CAPABLE, selected):
        if wanted in services and services[wanted].online:
            return services[wanted]
    return online[0] if online else None


def file_name(kind: str, session_id: str | None, day: str) -> str:
    what = f"chat-{session_id[:8]}" if session_id else "history"
    return f"ruschat-{what}-{day}.{SUFFIX[kind]}"


class TransferActions:
    """Handlers of the History menu, over the page's AppState."""

    def __init__(
        self,
        state: AppState,
        dom: Dom,
        services: Services,
        on_error: Callable[[str | None], None],
        refresh: Callable[[], Awaitable[None]],
    ) -> None:
        self.state = state
        self.dom = dom
        self.services = services
        self.on_error = on_error
        self.refresh = refresh

    def say(self, text: str) -> None:
        self.dom.by_testid("transfer-result").textContent = text

    async def export(self, kind: str, only_open_chat: bool) -> None:
        session_id = self.state.chat.session_id if only_open_chat else None
        if session_id is not None and not self.state.is_stored(session_id):
            self.on_error("This chat is not stored yet: there is nothing to export.")
            return
        try:
            sessions = merge_sessions(*await self.services.from_all(lambda s: endpoints.export(s, session_id)))
        except SchemaError as error:
            self.on_error(f"A service sent an export that does not read: {error}")
            return
        now = time.time()
        if kind == "json":
            text = json.dumps(export_json(sessions, now), ensure_ascii=False, indent=1)
        else:
            # The open chat's branch as it is on screen; the others as the page first shows them.
            chat = self.state.chat
            picks = {parent or None: child for parent, child in chat.chosen.items()}
            text = export_markdown(sessions, now, {chat.session_id: picks})
        day = time.strftime("%Y-%m-%d", time.gmtime(now))
        self.download(file_name(kind, session_id, day), text, MIME[kind])
        self.on_error(None)
        self.say(f"Exported {len(sessions)} chat(s).")

    def download(self, name: str, text: str, mime: str) -> None:
        blob = js.Blob.new(to_js([text]), to_js({"type": mime}, dict_converter=js.Object.fromEntries))
        url = js.URL.createObjectURL(blob)
        link = self.dom.element("a", download=name, href=url, data_testid="download-link", hidden="")
        self.dom.document.body.appendChild(link)
        link.click()
        link.remove()
        js.setTimeout(create_once_callable(lambda: js.URL.revokeObjectURL(url)), 60_000)

    async def import_file(self, event: Any) -> None:
        picker = event.target
        if picker.files.length == 0:
            return
        text = await picker.files.item(0).text()
        picker.value = ""  # the same file may be picked again
        try:
            imported = parse_import(str(text))
        except SchemaError as error:
            self.on_error(f"Import refused: {error}")
            return
        target = import_target(self.state.services, self.state.selected)
        if target is None:
            self.on_error("Import needs a service online.")
            return
        try:
            result = await endpoints.import_chats(target, json.loads(str(text)))
        except ServiceError as error:
            self.on_error(f"Import refused by the {target.label.lower()} service: {error}")
            return
        self.on_error(None)
        # A chat deleted before and imported now is back: no service may delete it again.
        forget = [s.id for s in imported.sessions]
        await self.services.change_all(lambda s: endpoints.forget_tombstones(s, forget), self.on_error)
        self.say(
            f"Imported {result.imported_sessions} chat(s) and {result.imported_messages} message(s) "
            f"({imported.format}) into the {target.label.lower()} service; {result.skipped} skipped."
        )
        await self.refresh()
