"""`python -m backend_qwen`, and the installed `ruschat-capable` command."""

import sys

from backend_qwen import PROFILE
from engine.server import main as run_service


def main() -> int:
    return run_service(PROFILE)


if __name__ == "__main__":
    sys.exit(main())
