"""The models that ship with polykfunc, found by name."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from polykfunc.errors import UsageError, close_matches

from .source import MANIFEST


def bundled_root() -> Path:
    """The folder holding the bundled models."""
    return Path(str(resources.files("polykfunc.model") / "bundled"))


def bundled_manifests() -> dict[str, Path]:
    """Every bundled model's name mapped to its manifest, sorted by path."""
    import tomllib
    out: dict[str, Path] = {}
    for manifest in sorted(bundled_root().rglob(MANIFEST)):
        with manifest.open("rb") as fh:
            name = tomllib.load(fh).get("model", {}).get("name")
        if isinstance(name, str):
            out[name] = manifest
    return out


def bundled_path(name: str) -> Path:
    """The manifest of the bundled model ``name``; UsageError (with close names) if none."""
    found = bundled_manifests()
    if name in found:
        return found[name]
    hint = close_matches(name, found)
    raise UsageError(f"no bundled model named {name!r}" + (f"; {hint}" if hint else "")
                     + " (run `polykfunc models` for the list)")


def resolve_target(target: str) -> Path:
    """A CLI target: a bundled model name, or a path to a model file or folder."""
    p = Path(target)
    if p.exists():
        return p
    if "/" in target or target.endswith(".toml"):
        raise UsageError(f"no such model file or folder: {target}")
    return bundled_path(target)
