"""Serving with gunicorn: one worker process (so one model), many threads."""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from gunicorn.app.base import BaseApplication

from engine.config import ServiceProfile, config_from_args, exposure_refusal
from engine.inference.model_files import ModelMissing


class GunicornApp(BaseApplication):  # type: ignore[misc]
    """Runs the WSGI app that ``load()`` builds inside gunicorn's gthread worker.

    ``load`` runs in the worker process, after the fork, so a model or a database
    connection is never shared between processes.
    """

    def __init__(
        self, load: Callable[[], Any], bind: str, threads: int, name: str, on_term: Callable[[Any], None] | None = None
    ) -> None:
        self._load, self._bind, self._threads, self._name = load, bind, threads, name
        self._on_term = on_term
        self._app: Any = None
        super().__init__()

    def load_config(self) -> None:
        options: dict[str, Any] = {
            "bind": [self._bind],
            "workers": 1,
            "worker_class": "engine.http.worker.JsonErrorWorker",  # gthread, JSON errors
            "threads": self._threads,
            "timeout": 120,
            "graceful_timeout": 5,
            "keepalive": 5,
            "errorlog": "-",
            "loglevel": "info",
            "proc_name": self._name,
            # gunicorn 27 opens a control socket at one fixed path per user: two
            # services (or two test runs) would fight over it, and we do not use it.
            "control_socket_disable": True,
            "post_worker_init": self._watch_worker,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        self._app = self._load()
        return self._app

    def _watch_worker(self, worker: Any) -> None:
        """When the worker starts to stop (SIGTERM, or its master died), let the app end
        its long-lived responses (streams, status sockets) at once: gunicorn would
        otherwise wait for them, and an orphaned worker would never exit."""
        if self._on_term is None:
            return

        def watch() -> None:
            # gunicorn leaves `alive` set when the worker stops because its master died.
            while worker.alive and os.getppid() == worker.ppid:
                time.sleep(0.2)
            self._on_term(self._app)  # type: ignore[misc]

        threading.Thread(target=watch, name="worker-watch", daemon=True).start()


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def main(profile: ServiceProfile, argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s [{profile.name}] %(levelname)s %(message)s")
    try:
        config = config_from_args(profile, argv)
    except ModelMissing as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    refusal = exposure_refusal(config.host, config.api_key)
    if refusal is not None:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    if config.engine_url is None and not config.model_path.is_file():
        print(f"error: model file not found: {config.model_path}", file=sys.stderr)
        return 2
    from engine.app import create_app, shutdown

    # The inference thread runs Python between llama.cpp calls; with the default 5 ms
    # GIL switch interval a health check could wait that long behind it.
    sys.setswitchinterval(0.001)

    return serve(
        lambda: create_app(config),
        config.host,
        config.port,
        config.http_threads,
        f"ruschat-{config.service}",
        on_term=lambda app: shutdown(app, timeout=0),
    )


def serve(
    load: Callable[[], Any], host: str, port: int, threads: int, name: str, on_term: Callable[[Any], None] | None = None
) -> int:
    """Serve until SIGTERM/SIGINT; 2 with a clear message if the port is taken."""
    if not port_is_free(host, port):
        print(
            f"error: port {port} on {host} is already in use; stop the other process or choose another port",
            file=sys.stderr,
        )
        return 2
    GunicornApp(load, bind_address(host, port), threads, name, on_term).run()
    return 0
