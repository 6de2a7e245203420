"""``python -m socm`` runs the command line."""

import sys

from socm.cli import main

sys.exit(main())
