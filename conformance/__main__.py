"""``python -m conformance``: the adam-conformance CLI."""

from conformance.cli import entry

entry()
