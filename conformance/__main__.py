"""``python -m conformance``: the adam-conformance CLI."""

import sys

from conformance.cli import main

sys.exit(main())
