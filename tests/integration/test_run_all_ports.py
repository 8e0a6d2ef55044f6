"""run_all refuses to start over a port that is taken, and says which."""

from __future__ import annotations

import socket
import subprocess
import sys

from engine.settings import REPO_ROOT
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
