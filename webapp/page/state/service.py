"""One inference service as the page knows it: its address and what it last said of itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.responses import ServiceInfo


@dataclass
class Service:
    """One inference service and what the page last heard from it."""

    id: str
    label: str
    url: str
    info: ServiceInfo | None = None
    online: bool = False
    socket: Any = None
    """Its status WebSocket (a JS object in the page), None before the first connect."""

    @property
    def model(self) -> str:
        return self.info.model if self.info else self.label

    @property
    def state(self) -> str:
        """``idle`` or ``busy`` as the service says, ``degraded`` when its upstream engine
        cannot be reached, ``offline`` when the service itself cannot."""
        if not self.online or self.info is None:
            return "offline"
        return "degraded" if self.info.degraded else self.info.state
