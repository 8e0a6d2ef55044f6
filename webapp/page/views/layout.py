"""The page's frame: the colour theme, and on a phone the chat list behind a button.

The theme follows the system unless the user picks light or dark with the toolbar's
button (system -> light -> dark -> system); the choice is remembered in localStorage
and shown as ``data-theme`` on <html>, which the stylesheet reads. ``static/theme.js``
applies the remembered choice before the first paint, long before Python has loaded.

At phone width (<= 640 px, see ``static/tools.css``) the sidebar is hidden; the toolbar's
☰ opens it over the chat, and choosing a chat or New chat closes it again.
"""

from __future__ import annotations

from typing import Any

import js

from webapp.page.dom import Dom

THEMES = ("system", "light", "dark")
THEME_KEY = "ruschat-theme"
"""The localStorage key (``static/theme.js`` reads it too)."""
THEME_LABELS = {"system": "◐ Auto", "light": "☀ Light", "dark": "☾ Dark"}


def next_theme(theme: str) -> str:
    """The theme after ``theme`` in the button's cycle."""
    return THEMES[(THEMES.index(theme) + 1) % len(THEMES)] if theme in THEMES else THEMES[0]


class Layout:
    """The theme in use and whether the phone's chat list is open; drawn onto the page."""

    def __init__(self, dom: Dom, saved_theme: str | None) -> None:
        self.dom = dom
        self.theme = saved_theme if saved_theme in THEMES else "system"
        self.sidebar_open = False

    def install(self) -> None:
        dom = self.dom
        dom.on(dom.by_testid("theme-toggle"), "click", self.cycle_theme)
        dom.on(dom.by_testid("sidebar-toggle"), "click", self.toggle_sidebar)
        dom.on(dom.document.querySelector(".sidebar"), "click", self.on_sidebar_click)
        dom.on(dom.document.querySelector(".chat"), "click", self.close_sidebar)
        self.render()

    def cycle_theme(self, _event: Any = None) -> None:
        self.theme = next_theme(self.theme)
        js.localStorage.setItem(THEME_KEY, self.theme)
        self.render()

    def toggle_sidebar(self, event: Any) -> None:
        event.stopPropagation()  # the click would reach .chat, which closes the list
        self.sidebar_open = not self.sidebar_open
        self.render()

    def on_sidebar_click(self, event: Any) -> None:
        """Close the list once a chat is chosen (not on rename or delete, which stay in it)."""
        target = event.target
        if not hasattr(target, "closest") or target.closest(".icon, input"):
            return
        if target.closest('[data-testid="session-item"], [data-testid="new-chat"]'):
            self.close_sidebar()

    def close_sidebar(self, _event: Any = None) -> None:
        if self.sidebar_open:
            self.sidebar_open = False
            self.render()

    def render(self) -> None:
        document = self.dom.document
        document.documentElement.setAttribute("data-theme", self.theme)
        button = self.dom.by_testid("theme-toggle")
        button.textContent = THEME_LABELS[self.theme]
        button.title = f"Theme: {self.theme} (click for {next_theme(self.theme)})"
        document.querySelector(".layout").setAttribute("data-sidebar", "open" if self.sidebar_open else "closed")
        self.dom.by_testid("sidebar-toggle").setAttribute("aria-expanded", str(self.sidebar_open).lower())
