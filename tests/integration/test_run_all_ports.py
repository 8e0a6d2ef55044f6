"""run_all refuses to start over a port that is taken, or beyond loopback without a key, and says why."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from engine.config import REPO_ROOT
from tests.support import free_port


def test_a_port_in_use_is_reported_clearly():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                str(REPO_ROOT / "scripts" / "run_all.py"),
                "--no-browser",
                "--skip-setup",
                "--web-port",
                str(free_port()),
                "--fast-port",
                str(port),
                "--capable-port",
                str(free_port()),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"fast port {port}" in result.stdout and "already in use" in result.stdout
    assert "starting" not in result.stdout  # nothing was launched


def test_beyond_loopback_without_a_key_nothing_starts():
    env = {k: v for k, v in os.environ.items() if k != "RUSCHAT_API_KEY"}
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "run_all.py"),
            "--no-browser",
            "--skip-setup",
            "--host",
            "0.0.0.0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without an API key" in result.stdout
    assert "starting" not in result.stdout
