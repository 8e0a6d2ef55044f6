"""`python -m webapp`, and the installed `ruschat-web` command (webapp.server.main)."""

import sys

from webapp.server import main

if __name__ == "__main__":
    sys.exit(main())
