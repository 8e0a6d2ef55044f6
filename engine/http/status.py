"""Live service status over a WebSocket (flask-sock): busy/idle, queue depth, tokens/s."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from flask import Flask
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from engine.http.state import current

IDLE_HEARTBEAT_SECONDS = 10.0
BUSY_REFRESH_SECONDS = 1.0


class _DaemonThread(threading.Thread):
    """simple-websocket reads each socket on a thread of its own; as a daemon, a client
    that never answers the close handshake cannot hold the process open at shutdown."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, daemon=True, **kwargs)


def install(app: Flask) -> None:
    # Pings find dead peers (a laptop that slept) and free their slot.
    app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": 20, "thread_class": _DaemonThread}
    sock = Sock(app)

    @sock.route("/ws/status")
    def status_socket(ws: Any) -> None:
        """Send the service info whenever it changes (and every second while busy)."""
        service = current()
        if not service.status_sockets.acquire(blocking=False):
            ws.close(reason=1013, message="too many status connections")
            return
        try:
            version, last_sent, degraded = -1, 0.0, None
            while ws.connected and not service.scheduler.stopping:
                status = service.scheduler.wait_for_change(version, timeout=BUSY_REFRESH_SECONDS)
                now = time.monotonic()
                due = IDLE_HEARTBEAT_SECONDS if status.state == "idle" else BUSY_REFRESH_SECONDS
                # An upstream engine going away (or coming back) is a change too.
                if status.version != version or now - last_sent >= due or service.engine.degraded() != degraded:
                    info = service.info()
                    ws.send(json.dumps(info.to_dict()))
                    version, last_sent, degraded = status.version, now, info.degraded
        except ConnectionClosed:
            pass
        finally:
            service.status_sockets.release()
