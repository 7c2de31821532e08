"""Compile the test BPF programs of tests/bpf/ once per session (clang -O2 -g -target bpf).

Objects go into a temporary folder, never into the repository. ``SCX_OLD`` builds use the
v6.12 kfunc names (scx_bpf_dispatch, scx_bpf_consume). Import the fixture into a test module:
``from bpf_build import bpf_object  # noqa: F401``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

BPF_DIR = Path(__file__).resolve().parent / "bpf"
PROGRAMS = ("good", "bad_direct", "bad_static", "bad_global", "bad_sync", "bad_async", "bad_nested", "ambiguous")


@pytest.fixture(scope="session")
def bpf_object(tmp_path_factory):
    """bpf_object(name, old=False) -> path of tests/bpf/<name>.bpf.c compiled for BPF."""
    clang = shutil.which("clang")
    if clang is None:
        pytest.fail("clang is needed to compile the BPF test programs: apt-get install clang llvm (.ci/run does)")
    out = tmp_path_factory.mktemp("bpf")
    built: dict[tuple[str, bool], Path] = {}

    def build(name: str, old: bool = False) -> Path:
        key = (name, old)
        if key not in built:
            target = out / f"{name}{'-old' if old else ''}.bpf.o"
            cmd = [clang, "-O2", "-g", "-target", "bpf", "-c", str(BPF_DIR / f"{name}.bpf.c"), "-o", str(target)]
            if old:
                cmd.insert(1, "-DSCX_OLD")
            res = subprocess.run(cmd, capture_output=True, text=True)
            assert res.returncode == 0, f"clang failed on {name}.bpf.c:\n{res.stderr}"
            built[key] = target
        return built[key]

    return build


def source_line(name: str, needle: str) -> int:
    """The 1-based line of tests/bpf/<name>.bpf.c holding ``needle`` (first occurrence)."""
    for n, line in enumerate((BPF_DIR / f"{name}.bpf.c").read_text().splitlines(), start=1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {name}.bpf.c")
