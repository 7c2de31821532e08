"""The layering of docs/architecture.md is a contract the build checks (import-linter).

import-linter (grimp) finds a package by walking its folder, but ``polykfunc.model`` and
``polykfunc.properties`` live in the top-level ``model/`` and ``properties/`` folders (the design
card's layout) and are mapped into the package at install time. So the check runs on a staged
copy with the installed layout: ``src/polykfunc/`` plus ``model/*.py`` and ``properties/*.py``
under it, exactly the modules a wheel holds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")
PACKAGE = ROOT / "src" / "polykfunc"


def _stage(tmp_path: Path) -> Path:
    """A copy of the package with the installed layout; returns the folder to put on PYTHONPATH."""
    stage = tmp_path / "stage"
    shutil.copytree(PACKAGE, stage / "polykfunc", ignore=shutil.ignore_patterns("__pycache__", "templates"))
    for sub in ("model", "properties"):
        dest = stage / "polykfunc" / sub
        dest.mkdir()
        for f in (ROOT / sub).glob("*.py"):
            shutil.copy(f, dest / f.name)
    return stage


def _lint(stage: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(stage))
    return subprocess.run([str(LINT), "--no-cache", str(ROOT / "pyproject.toml")], env=env, cwd=stage,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    if not LINT.exists():
        pytest.skip("lint-imports is not installed: pip install -e '.[test]'")
    return _stage(tmp_path_factory.mktemp("layers"))


def test_the_layers_hold(staged):
    run = _lint(staged)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 kept, 0 broken" in run.stdout


def test_every_subpackage_is_in_a_layer():
    """A new subpackage must be placed in the contract, or nothing checks what it imports."""
    import tomllib
    layers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]["layers"]
    named = {part.strip(" ()") for layer in layers for part in layer.split("|")}
    present = {f"polykfunc.{p.name}" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    present |= {"polykfunc.model", "polykfunc.properties", "polykfunc.errors"}
    assert present <= named, f"not in the layers contract: {sorted(present - named)}"


@pytest.mark.parametrize("importer, imported", [
    ("engine/solver.py", "polykfunc.cli.main"),              # the engine reaching for the command line
    ("counterexamples/store.py", "polykfunc.report.terminal"),  # storage reaching for presentation
])
def test_an_upward_import_breaks_the_contract(tmp_path, importer, imported):
    stage = _stage(tmp_path)
    with open(stage / "polykfunc" / importer, "a") as f:
        f.write(f"\nimport {imported}  # upward, on purpose\n")
    run = _lint(stage)
    assert run.returncode == 1
    assert "0 kept, 1 broken" in run.stdout
    assert f"-> {imported}" in run.stdout
