"""Small helpers over the page's DOM, shared by the views and the actions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pyodide.ffi import create_proxy


class Dom:
    """The document, plus the proxies that keep Python event handlers alive for JS."""

    def __init__(self, document: Any) -> None:
        self.document = document
        self._proxies: list[Any] = []

    def by_testid(self, name: str) -> Any:
        return self.document.querySelector(f'[data-testid="{name}"]')

    def element(self, tag: str, text: str | None = None, cls: str | None = None, **data: str) -> Any:
        """A new element; ``data`` become attributes (``data_testid`` -> ``data-testid``)."""
        node = self.document.createElement(tag)
        if text is not None:
            node.textContent = text  # text, never markup
        if cls:
            node.className = cls
        for key, value in data.items():
            node.setAttribute(key.replace("_", "-"), value)
        return node

    def on(self, element: Any, event: str, handler: Callable[[Any], Any]) -> None:
        """Attach a Python handler (plain or async) to a DOM event."""

        def call(evt: Any) -> None:
            result = handler(evt)
            if asyncio.iscoroutine(result):
                asyncio.ensure_future(result)

        proxy = create_proxy(call)
        self._proxies.append(proxy)
        element.addEventListener(event, proxy)
