"""``python -m vecclf``: the ``vecclf`` command line."""

import sys

from vecclf.training.cli import main

sys.exit(main())
