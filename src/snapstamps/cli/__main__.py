"""``python -m snapstamps.cli ...``: the ``snapstamps`` command without its console script."""

import sys

from . import main

sys.exit(main())
