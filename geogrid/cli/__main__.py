"""``python -m geogrid.cli``: the ``geogrid`` command without its console script."""

import sys

from geogrid.cli import main

sys.exit(main())
