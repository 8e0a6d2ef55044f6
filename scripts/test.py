"""Set up everything the tests need, then run them: ``python3 scripts/test.py [pytest args]``.

Browser tests need Chromium and ChromeDriver: on Debian/Ubuntu this script installs
them with apt-get when it runs as root or may use sudo without a password, and
otherwise says how to install them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ensure_browser() -> None:
    """The browser tests need Debian's Chromium and ChromeDriver: install them if we may."""
    missing = [tool for tool in ("chromium", "chromedriver") if shutil.which(tool) is None]
    if not missing:
        return
    install = ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"]
    if shutil.which("apt-get") is not None:
        prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
        if os.geteuid() == 0 or subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
            print("\n==> installing Chromium and ChromeDriver for the browser tests (apt-get)", flush=True)
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run([*prefix, "apt-get", "update", "-qq"], check=True, env=env)
            subprocess.run([*prefix, *install], check=True, env=env)
            return
    sys.exit(f"error: the browser tests need {' and '.join(missing)}; install them with:\n    sudo {' '.join(install)}")


def main() -> int:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "setup.py"), "--dev"], check=True)
    ensure_browser()
    command = [str(ROOT / ".venv" / "bin" / "python"), "-m", "pytest", *sys.argv[1:]]
    print("\n==> " + " ".join(command[2:]), flush=True)
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
