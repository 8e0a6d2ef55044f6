"""The settings panel's handlers: open it on the open chat's settings, save them back.

Saved settings become the open chat's (its next requests carry them); a chat the services
already hold gets them by PATCH on every service (a service without the chat says 404,
which is fine). Ticking "save as default" also keeps them in localStorage for new chats.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import js

from shared.schemas import SchemaError
from webapp.page.api import endpoints
from webapp.page.api.services import Services
from webapp.page.dom import Dom
from webapp.page.state.app import AppState
from webapp.page.state.settings import DEFAULTS_KEY, defaults_to_json, settings_from_form
from webapp.page.views import composer as view_composer
from webapp.page.views import settings as view_settings


class SettingsActions:
    """Handlers of the Settings button and the panel, over the page's AppState."""

    def __init__(self, state: AppState, dom: Dom, services: Services, on_error: Callable[[str], None]) -> None:
        self.state = state
        self.dom = dom
        self.services = services
        self.on_error = on_error
        """Where a service's refusal of the new settings is shown."""

    def open_settings(self, _event: Any = None) -> None:
        view_settings.open_panel(self.dom, self.state.chat.settings)

    def close_settings(self, _event: Any = None) -> None:
        view_settings.close_panel(self.dom)

    async def save_settings(self, event: Any) -> None:
        event.preventDefault()
        try:
            settings = settings_from_form(view_settings.read_form(self.dom))
        except SchemaError as error:
            view_settings.show_error(self.dom, str(error))
            return
        chat = self.state.chat
        chat.settings = settings
        if view_settings.save_as_default(self.dom):
            self.state.defaults = settings
            js.localStorage.setItem(DEFAULTS_KEY, defaults_to_json(settings))
        view_settings.close_panel(self.dom)
        view_composer.focus_input(self.dom)
        if self.state.is_stored(chat.session_id):
            await self.services.change_all(
                lambda s: endpoints.patch_session(s, chat.session_id, settings=settings), self.on_error
            )
