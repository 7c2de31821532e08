"""Counterexample stores for the explorer tests, made the way a user makes them:
`polykfunc prove MODEL --store DIR` (in process, through the real command group)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from click.testing import CliRunner

from polykfunc.cli import cli

ROOT = Path(__file__).resolve().parent.parent
TOY = ROOT / "tests" / "models" / "toy"
CORE = ROOT / "model" / "bundled" / "common" / "core.toml"

# The toy's only implementation of perf_set, and its fix: the kfunc takes the target rq lock itself.
PERF_SET_REQUIRES = 'requires = [{ label = "the target CPU\'s rq lock is held", expr = "state.locked_rq == arg.cpu" }]'
PERF_SET_FIXED = 'takes = ["rq(arg.cpu)"]\nrequires = []'

# One kfunc with a counterexample of every exportable kind: safety (fast in b, slow in a),
# coverage (a sleepable call the contract allows is rejected), visibility (no single
# implementation is safe at one view) and refinement (the resolver and the selector disagree).
MIXED = """\
[context.a]
source = "k.c: a (v1)"
view = ["view.prog_type == 'STRUCT_OPS'"]
facts = ["state.locked_rq == state.cpu"]

[context.b]
source = "k.c: b (v1)"
view = ["view.prog_type == 'STRUCT_OPS'"]
facts = ["state.locked_rq == -1"]

[kfunc.op]
source = "k.c: op (v1)"
allow = "view.prog_type == 'STRUCT_OPS'"
in_force = "resolver"

[[kfunc.op.impl]]
name = "fast"
takes = ["rq(arg.cpu)"]
requires = ["own_rq_held"]

[[kfunc.op.impl]]
name = "slow"
requires = ["not rq_held"]

[[kfunc.op.resolve]]
when = "view.sleepable"
select = "reject"

[[kfunc.op.resolve]]
when = "true"
select = "fast"

[[kfunc.op.select]]
when = "true"
select = "slow"
"""


def run(*args, **kwargs):
    """Invoke polykfunc in process; ``result.stdout`` / ``result.stderr`` / ``result.exit_code``."""
    result = CliRunner().invoke(cli, [str(a) for a in args], **kwargs)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    for text in (result.stdout, result.stderr):
        assert "Traceback" not in text, text
    return result


def prove_into(model: Path, store: Path) -> Path:
    """`polykfunc prove MODEL --store STORE`; the store holds its counterexamples afterwards."""
    res = run("prove", model, "--store", store)
    assert res.exit_code in (0, 1), res.stdout + res.stderr
    assert any(store.glob("*.json")), res.stdout
    return store


def copy_toy(dest: Path) -> Path:
    """A copy of the toy model in ``dest`` (its core include rewritten), to edit freely."""
    dest.mkdir(parents=True)
    shutil.copy(TOY / "rest.toml", dest / "rest.toml")
    core = os.path.relpath(CORE, dest)
    (dest / "model.toml").write_text((TOY / "model.toml").read_text()
                                     .replace("../../../model/bundled/common/core.toml", core))
    return dest


def write_mixed(dest: Path) -> Path:
    """The MIXED model in ``dest``."""
    dest.mkdir(parents=True)
    core = os.path.relpath(CORE, dest)
    (dest / "model.toml").write_text(f'[model]\nname = "mixed@1"\nkernel = "test"\ninclude = ["{core}", "body.toml"]\n')
    (dest / "body.toml").write_text(MIXED)
    return dest


def fix_toy(model_dir: Path) -> None:
    """Fix perf_set in a toy copy: it now takes the target CPU's rq lock itself."""
    rest = model_dir / "rest.toml"
    text = rest.read_text()
    assert PERF_SET_REQUIRES in text
    rest.write_text(text.replace(PERF_SET_REQUIRES, PERF_SET_FIXED))


def ids_by_context(store: Path) -> dict[str, str]:
    """context -> id of the stored toy counterexamples (enqueue, dispatch, init)."""
    res = run("cex", "list", "--store", store, "--json")
    return {row["context"]: row["id"] for row in json.loads(res.stdout)}


def snapshot(store: Path) -> dict[str, bytes]:
    """Every file of the store with its bytes: nothing may be lost or changed behind our back."""
    return {p.name: p.read_bytes() for p in sorted(store.iterdir())}
