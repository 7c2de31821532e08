"""System tools that only some tests need, and how such a test skips without them.

``make test`` needs only Python and PyPI. A test that truly needs a system program skips with
one line naming the Debian package that provides it; in CI (``CI=true``), where .ci/run installs
every one of them, a missing tool fails the run instead, so CI never passes by skipping.
The README's "Optional tools" table lists which tests each tool unlocks.
"""

from __future__ import annotations

import os
import shutil

import pytest

#: tool -> (executables looked up on PATH, Debian packages, what needs it)
TOOLS = {
    "clang": (("clang",), "clang llvm", "rebuilding the BPF test objects (tests/test_bpf_objects.py)"),
    "chromium": (("chromium", "chromium-browser", "google-chrome", "chrome"), "chromium",
                 "the report in a headless browser (tests/test_report_browser.py)"),
    "dot": (("dot",), "graphviz", "`cex graph --format svg` (tests/test_cex_cli.py), the report's batched "
                                  "diagrams (tests/test_report_parallel.py)"),
}


def find(tool: str) -> str | None:
    """The path of ``tool``'s first executable on PATH, or None."""
    return next((p for p in map(shutil.which, TOOLS[tool][0]) if p), None)


def missing(tool: str) -> str:
    """The one-line reason a test skips without ``tool``."""
    names, package, _what = TOOLS[tool]
    return f"{names[0]} is not installed (Debian: apt-get install {package}); .ci/run installs it"


def require(tool: str) -> str:
    """``tool``'s path. Without it: skips the calling test, or the whole module when called at
    module level; fails instead when CI=true."""
    path = find(tool)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {missing(tool)}", pytrace=False)
        pytest.skip(missing(tool), allow_module_level=True)
    return path
