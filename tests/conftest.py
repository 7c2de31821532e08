"""Shared fixtures: small models written on the fly, and the Hypothesis CI profile."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "model" / "bundled" / "common" / "core.toml"
TOY = ROOT / "tests" / "models" / "toy"


@pytest.fixture
def write_model(tmp_path):
    """write_model(body, name="t@1", core=True) -> path of a model folder holding ``body``.

    The manifest includes the bundled core vocabulary unless ``core=False``.
    """
    counter = {"n": 0}

    def make(body: str, name: str = "t@1", core: bool = True, manifest_extra: str = "") -> Path:
        counter["n"] += 1
        folder = tmp_path / f"m{counter['n']}"
        folder.mkdir()
        includes = [os.path.relpath(CORE, folder)] if core else []
        includes.append("body.toml")
        inc = ", ".join(f'"{i}"' for i in includes)
        (folder / "model.toml").write_text(
            f'[model]\nname = "{name}"\nkernel = "test"\ninclude = [{inc}]\n{manifest_extra}')
        (folder / "body.toml").write_text(textwrap.dedent(body))
        return folder

    return make
