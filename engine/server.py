"""Serving one service with gunicorn: one worker process (one model), many threads."""

from __future__ import annotations

import errno
import logging
import socket
import sys
from collections.abc import Sequence
from typing import Any

from gunicorn.app.base import BaseApplication

from engine.model_files import ModelMissing
from engine.settings import ServiceConfig, ServiceProfile, config_from_args


class GunicornService(BaseApplication):  # type: ignore[misc]
    """Runs ``create_app(config)`` inside gunicorn's gthread worker.

    The app (and so the model) is built in the worker process, after the fork.
    """

    def __init__(self, config: ServiceConfig) -> None:
        self.service_config = config
        super().__init__()

    def load_config(self) -> None:
        config = self.service_config
        host = f"[{config.host}]" if ":" in config.host else config.host
        options: dict[str, Any] = {
            "bind": [f"{host}:{config.port}"],
            "workers": 1,
            "worker_class": "gthread",
            "threads": config.http_threads,
            "timeout": 120,
            "graceful_timeout": 5,
            "keepalive": 5,
            "errorlog": "-",
            "loglevel": "info",
            "proc_name": f"ruschat-{config.service}",
            # gunicorn 27 opens a control socket at one fixed path per user: two
            # services (or two test runs) would fight over it, and we do not use it.
            "control_socket_disable": True,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from engine.app import create_app

        return create_app(self.service_config)


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
    if not config.model_path.is_file():
        print(f"error: model file not found: {config.model_path}", file=sys.stderr)
        return 2
    if not port_is_free(config.host, config.port):
        print(
            f"error: port {config.port} on {config.host} is already in use; stop the other process "
            f"or choose another port with --port",
            file=sys.stderr,
        )
        return 2
    GunicornService(config).run()
    return 0
