"""Set up everything the tests need, then run them: ``python3 scripts/test.py [pytest args]``.

Browser tests need Chromium and ChromeDriver (on Debian: ``apt-get install chromium
chromium-driver``); this script says so and stops if they are missing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "setup.py"), "--dev"], check=True)
    needs_browser = (ROOT / "tests" / "browser").is_dir()
    if needs_browser:
        missing = [tool for tool in ("chromium", "chromedriver") if shutil.which(tool) is None]
        if missing:
            sys.exit(
                f"error: the browser tests need {' and '.join(missing)}: "
                "sudo apt-get install -y chromium chromium-driver"
            )
    command = [str(ROOT / ".venv" / "bin" / "python"), "-m", "pytest", *sys.argv[1:]]
    print("\n==> " + " ".join(command[2:]), flush=True)
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
