"""The polykfunc command line: one module per command group, all registered on one click group.

``main`` is the console entry point; ``cli`` the click group (for click's test runner).
"""

from .main import cli, main

__all__ = ["cli", "main"]
