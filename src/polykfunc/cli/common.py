"""What every command module shares: the stable exit codes and the epilog that lists them."""

from __future__ import annotations

EXIT_OK, EXIT_FAIL, EXIT_INPUT, EXIT_UNKNOWN, EXIT_INTERNAL = 0, 1, 2, 3, 4

EPILOG = """\b
Exit codes:
  0  all as expected (proved, or only declared known bugs)
  1  counterexample, vacuous premise, or a known bug that no longer appears
  2  invalid input or usage
  3  unknown (resource limit) and no counterexample
  4  internal error (a bug in polykfunc)
"""
