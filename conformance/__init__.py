"""adam-conformance: the engine that turns the nn.Adam spec into verdicts for any implementation."""

__version__ = "0.1.0"
