"""Set up everything the tests need, then run them: ``python3 scripts/test.py [pytest args]``.

Browser tests need Chromium and ChromeDriver, and the storage and service tests a
PostgreSQL server's programs (they start their own server): on Debian/Ubuntu this script
installs them with apt-get when it runs as root or may use sudo without a password, and
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
    if missing:
        apt_install(["chromium", "chromium-driver"], f"the browser tests need {' and '.join(missing)}")


def ensure_postgres() -> None:
    """The PostgreSQL tests need the server's programs (initdb, postgres): Debian's
    ``postgresql`` package. The tests run their own server; the package's own cluster is
    not needed (and not started here)."""
    if list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        return
    apt_install(["postgresql"], "the PostgreSQL tests need PostgreSQL's programs")
    # Debian starts a "main" cluster on install (where services may start): nothing here
    # uses it, so it does not stay running.
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    listed = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True)
    for line in listed.stdout.splitlines():
        version, name, _port, status, *_ = line.split()
        if status == "online":
            subprocess.run([*prefix, "pg_ctlcluster", version, name, "stop"], check=False)


def apt_install(packages: list[str], why: str) -> None:
    """``apt-get install`` as root or with passwordless sudo; else exit saying how."""
    install = ["apt-get", "install", "-y", "-qq", *packages]
    if shutil.which("apt-get") is not None:
        prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
        if os.geteuid() == 0 or subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
            print(f"\n==> installing {' '.join(packages)} (apt-get): {why}", flush=True)
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run([*prefix, "apt-get", "update", "-qq"], check=True, env=env)
            subprocess.run([*prefix, *install], check=True, env=env)
            return
    sys.exit(f"error: {why}; install them with:\n    sudo {' '.join(install)}")


def main() -> int:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "setup.py"), "--dev"], check=True)
    ensure_browser()
    ensure_postgres()
    command = [str(ROOT / ".venv" / "bin" / "python"), "-m", "pytest", *sys.argv[1:]]
    print("\n==> " + " ".join(command[2:]), flush=True)
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
