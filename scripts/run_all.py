"""Set up what is missing, then run RusChat: both inference services and the web app.

    python3 scripts/run_all.py            # then open http://localhost:8080

Supervises the three processes (engine.launcher, which is also the installed `ruschat`
command): their output is shown prefixed with their name and kept in <data-dir>/logs/;
one that crashes is restarted with backoff; Ctrl-C or SIGTERM stops all of them.
Standard library only: it runs before the .venv exists.
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"

sys.path.insert(0, str(ROOT))
from engine import launcher  # noqa: E402  (standard library only)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    launcher.add_arguments(parser)
    parser.add_argument("--skip-setup", action="store_true", help="do not check the installation first")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    say = functools.partial(launcher.log, "run_all")
    problem = launcher.refusal(args)
    if problem is not None:
        say(f"error: {problem}")
        return 2
    if not args.skip_setup:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "setup.py")], check=True)
    return launcher.run(args, str(PYTHON), ROOT, say)


if __name__ == "__main__":
    sys.exit(main())
