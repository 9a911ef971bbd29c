"""``python -m chatapp.cluster``: see :mod:`chatapp.cluster.runner`."""

import sys

from .runner import main

sys.exit(main())
