import sys

from backend_qwen import PROFILE
from engine.server import main

sys.exit(main(PROFILE))
