"""`python -m backend_tinyllama`, and the installed `ruschat-fast` command."""

import sys

from backend_tinyllama import PROFILE
from engine.server import main as run_service


def main() -> int:
    return run_service(PROFILE)


if __name__ == "__main__":
    sys.exit(main())
