"""The test BPF programs of tests/bpf/: their committed objects, how they are built, what they say.

Every ``tests/bpf/<name>.bpf.c`` is compiled twice and both objects are committed beside it
(like the testdata of cilium/ebpf), so the tests need no compiler:

- ``<name>.bpf.o``: the current kfunc names (scx_bpf_dsq_insert, scx_bpf_dsq_move_to_local);
- ``<name>-old.bpf.o``: ``-DSCX_OLD``, the v6.12 names (scx_bpf_dispatch, scx_bpf_consume).

``make bpf-objects`` (which runs this file as a script) rebuilds them after a source changes.
The build is deterministic: clang runs in tests/bpf/ on the bare file name with
``-fdebug-compilation-dir=.``, so no path of the machine that built it enters an object.
tests/test_bpf_objects.py rebuilds them when clang is present and checks that the facts
check-prog reads (:func:`object_facts`) are unchanged.

In a test module: ``from bpf_build import bpf_object  # noqa: F401``.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BPF_DIR = Path(__file__).resolve().parent / "bpf"
#: clang's flags for every test object (codegen: -O2 -g -target bpf; the last flag keeps the
#: build directory out of the debug info)
CFLAGS = ("-O2", "-g", "-target", "bpf", "-fdebug-compilation-dir=.")
VARIANTS = {"": (), "-old": ("-DSCX_OLD",)}


def sources(folder: Path = BPF_DIR) -> list[str]:
    """The names of every ``<name>.bpf.c`` in ``folder``, sorted."""
    return sorted(p.name[: -len(".bpf.c")] for p in folder.glob("*.bpf.c"))


def object_name(name: str, old: bool = False) -> str:
    """The file name of the object of ``<name>.bpf.c`` (``old``: the -DSCX_OLD build)."""
    return f"{name}{'-old' if old else ''}.bpf.o"


def compile_program(clang: str, name: str, out_dir: Path, old: bool = False, src_dir: Path = BPF_DIR) -> Path:
    """Compile ``src_dir/<name>.bpf.c`` into ``out_dir``; returns the object's path.

    Raises RuntimeError with clang's messages when it fails.
    """
    target = Path(out_dir).resolve() / object_name(name, old)
    cmd = [clang, *CFLAGS, *VARIANTS["-old" if old else ""], "-c", f"{name}.bpf.c", "-o", str(target)]
    res = subprocess.run(cmd, cwd=src_dir, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"clang failed on {name}.bpf.c{' (-DSCX_OLD)' if old else ''}:\n{res.stderr}")
    return target


def build_all(clang: str, out_dir: Path, src_dir: Path = BPF_DIR) -> list[Path]:
    """Compile every program of ``src_dir`` in both variants into ``out_dir``."""
    return [compile_program(clang, name, out_dir, old, src_dir) for name in sources(src_dir) for old in (False, True)]


def clang_version(clang: str) -> str:
    """clang's first ``--version`` line (e.g. "Debian clang version 14.0.6")."""
    return subprocess.run([clang, "--version"], capture_output=True, text=True).stdout.splitlines()[0].strip()


@pytest.fixture(scope="session")
def bpf_object():
    """bpf_object(name, old=False) -> path of the committed object of tests/bpf/<name>.bpf.c."""
    def find(name: str, old: bool = False) -> Path:
        path = BPF_DIR / object_name(name, old)
        if not path.is_file():
            pytest.fail(f"{path.name} is missing: run `make bpf-objects` (needs clang) and commit it", pytrace=False)
        return path

    return find


def source_line(name: str, needle: str) -> int:
    """The 1-based line of tests/bpf/<name>.bpf.c holding ``needle`` (first occurrence)."""
    for n, line in enumerate((BPF_DIR / f"{name}.bpf.c").read_text().splitlines(), start=1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {name}.bpf.c")


_INSN = re.compile(r"instruction \d+")


@functools.cache
def _newest_model_facts():
    """sched_ext@newest's nesting graph and the kfuncs that spoil a direct dispatch (loaded once)."""
    from polykfunc.model import bundled_path, load_model
    from polykfunc.programs.nesting import nesting_graph

    model = load_model(bundled_path("sched_ext@newest"))
    return nesting_graph(model), frozenset(k.name for k in model.kfuncs if "enqueue_dispatch" in k.sets)


def object_facts(path: Path) -> dict:
    """What check-prog reads from the object at ``path``, without instruction numbers.

    The programs (type, struct_ops member, sleepability), the notes, each kfunc's BTF
    parameters, and every kfunc call site (function, kfunc, source file and line) with every
    context that reaches it (path, kind, nesting, regions, argument values, what ran before)
    and the facts check-prog states for it. Nesting and the kfuncs that spoil a direct
    dispatch come from the bundled sched_ext@newest model. Two builds of the same sources
    agree on this even when the instructions moved.
    """
    from polykfunc.programs.callgraph import from_object, reaching_contexts, site_contexts
    from polykfunc.programs.checkprog import _member_tasks
    from polykfunc.programs.elf import read_object
    from polykfunc.programs.sitefacts import param_roles, site_facts

    nest, enqueue = _newest_model_facts()
    obj = read_object(path)
    graph = from_object(obj)
    members = {graph.node(e).get("member") for e in graph.entries()}

    def nested(entry: str):
        m = graph.node(entry).get("member")
        return sorted(o for o in (nest.predecessors(m) if m in nest else ()) if o in members)

    sctx = site_contexts(graph, reaching_contexts(graph, nested))
    sites = []
    for site, rows in sctx.items():
        d = graph.node(site)
        roles = param_roles(d["kfunc"], obj.kfunc_params(d["kfunc"]))
        contexts = []
        for sc in rows:
            prog = graph.node(sc.reach.entry)
            facts = site_facts(sc, prog, roles, _member_tasks(prog, obj.member_params), enqueue)
            contexts.append({"reach": sc.reach.describe(), "outer": sc.reach.outer, "args": repr(sc.args),
                             "view_regions": list(sc.view_regions), "run_regions": list(sc.run_regions),
                             "seen": sorted(sc.seen), "facts": sorted(f.text for f in facts)})
        file, line = d["line"] or (None, None)
        sites.append({"function": d["function"], "kfunc": d["kfunc"], "file": file, "line": line,
                      "contexts": sorted(contexts, key=repr)})
    programs = {e: {k: graph.node(e).get(k) for k in ("prog_type", "member", "st_ops", "sleepable", "section")}
                for e in graph.entries()}
    kfuncs = sorted({graph.node(s)["kfunc"] for s in graph.sites()})
    return {"programs": programs, "notes": sorted(_INSN.sub("instruction N", n) for n in graph.notes),
            "kfunc_params": {k: [list(p) for p in obj.kfunc_params(k)] for k in kfuncs},
            "sites": sorted(sites, key=repr)}


def main(argv: list[str]) -> int:
    """``python tests/bpf_build.py``: rebuild every committed object of tests/bpf/ in place."""
    clang = shutil.which("clang")
    if clang is None:
        print("clang is needed to build the BPF test objects (Debian: apt-get install clang llvm)", file=sys.stderr)
        return 2
    try:
        built = build_all(clang, BPF_DIR)
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 2
    for stale in sorted(set(BPF_DIR.glob("*.bpf.o")) - set(built)):
        print(f"removing {stale.name}: no source builds it", file=sys.stderr)
        stale.unlink()
    print(f"{len(built)} objects in {BPF_DIR.relative_to(Path.cwd()) if BPF_DIR.is_relative_to(Path.cwd()) else BPF_DIR}"
          f" built by {clang_version(clang)}; record it in tests/bpf/README.md if it changed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
