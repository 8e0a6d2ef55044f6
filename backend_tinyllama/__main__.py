import sys

from backend_tinyllama import PROFILE
from engine.server import main

sys.exit(main(PROFILE))
