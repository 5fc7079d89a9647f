"""`python -m tools.server ...`: the same as `multiprise server ...`."""
import sys

from tools.server.cli import main

sys.exit(main())
