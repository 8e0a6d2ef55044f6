import sys

from webapp.server import main

sys.exit(main())
