"""Reports for the report tests, made once per test run (they take seconds to prove and draw).

- :func:`toy_pair`: the toy model and a second version of it in which perf_set refuses calls
  from init (a fix with a cited commit), so the pair has a version diff with a known cause.
- :func:`sched_ext_review`: the issue's own example, ``report sched_ext@v6.12 sched_ext@v7.1``,
  as HTML and Markdown, written through the real command.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOY = ROOT / "tests" / "models" / "toy"
ARTIFACTS = ROOT / "test-artifacts"

CORE = ROOT / "model" / "bundled" / "common" / "core.toml"

#: A two-context model of one polymorphic and one single-implementation kfunc. In version 1,
#: perf_set runs from init without any rq lock: a declared known bug. Version 2 refuses that
#: call at run time by a rule that cites the commit that made it so.
FIX_COMMIT = "0123456789ab"
BODY = """\
[vars.view.member]
type = "enum"
values = ["none", "enqueue", "init"]

[vars.tracked.kf_mask]
type = "flags"
values = ["ENQUEUE"]

[context.enqueue]
source = "kernel/sched/ext.c: do_enqueue_task (v1)"
view = ["view.prog_type == 'STRUCT_OPS'", "view.member == 'enqueue'", "not view.sleepable"]
facts = ["state.exec == 'task'", "own_rq_held", "tracked.kf_mask == ['ENQUEUE']"]

[context.init]
source = "kernel/sched/ext.c: scx_ops_init (v1)"
view = ["view.prog_type == 'STRUCT_OPS'", "view.member == 'init'"]
facts = ["state.exec == 'task'", "state.locked_rq == -1", "tracked.kf_mask == []"]

[kfunc.insert]
source = "kernel/sched/ext.c: insert (v1)"
allow = "view.member == 'enqueue'"

[[kfunc.insert.impl]]
name = "direct"
requires = ["own_rq_held"]

[[kfunc.insert.impl]]
name = "buffered"
requires = ["rq_held"]

[[kfunc.insert.select]]
when = "not tracked.kf_mask.ENQUEUE"
select = "error"
source = "kernel/sched/ext.c: insert, scx_kf_allowed (v1)"

[[kfunc.insert.select]]
when = "arg.task == 'op_task'"
select = "direct"
source = "kernel/sched/ext.c: insert (v1)"

[[kfunc.insert.select]]
when = "true"
select = "buffered"
source = "kernel/sched/ext.c: insert (v1)"

[kfunc.perf_set]
source = "kernel/sched/ext.c: perf_set (v1)"
{allow}
[[kfunc.perf_set.impl]]
name = "set"
requires = [{{ label = "some rq lock is held", expr = "rq_held" }}]
{rest}"""

V1_REST = """
[[known_bug]]
id = "perf-set-unlocked"
title = "perf_set from init holds no rq lock"
property = "safety"
kfunc = "perf_set"
context = "init"
fixed_by = "0000000000ab"
source = "kernel/sched/ext.c: perf_set (v1)"
"""

V2_REST = f"""
[[kfunc.perf_set.select]]
when = "tracked.kf_mask == []"
select = "error"
source = "kernel/sched/ext.c: perf_set (v2); commit {FIX_COMMIT} 'refuse perf_set without an rq lock'"

[[kfunc.perf_set.select]]
when = "true"
select = "set"
source = "kernel/sched/ext.c: perf_set (v2)"
"""


def _scratch() -> Path:
    d = Path(tempfile.mkdtemp(prefix="pkf-report-tests-"))
    atexit.register(shutil.rmtree, d, True)
    return d


def write_version(folder: Path, version: int) -> Path:
    """Model ``rq@<version>`` (subsystem "rq") in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.toml").write_text(
        f'[model]\nname = "rq@{version}"\nsubsystem = "rq"\nkernel = "v{version}"\n'
        f'include = ["{CORE}", "body.toml"]\n')
    allow = "allow = \"view.member != 'init'\"\n" if version == 2 else ""
    (folder / "body.toml").write_text(BODY.format(allow=allow, rest=V1_REST if version == 1 else V2_REST))
    return folder


@functools.lru_cache(maxsize=None)
def versions() -> tuple[Path, Path]:
    root = _scratch()
    return write_version(root / "v1", 1), write_version(root / "v2", 2)


@functools.lru_cache(maxsize=None)
def rq_pair():
    """The collected report data of rq@1 then rq@2 (one process, no cache)."""
    from polykfunc.report.data import collect
    return collect(list(versions()), jobs=1)


@functools.lru_cache(maxsize=None)
def sched_ext_review() -> tuple[Path, Path, object]:
    """(review.html, review.md, report data) of ``report sched_ext@v6.12 sched_ext@v7.1``:
    collected once, written in both formats the way the command writes them."""
    from polykfunc.model import resolve_target
    from polykfunc.report.data import collect
    from polykfunc.cli.report import write_report
    out = _scratch()
    data = collect([resolve_target("sched_ext@v6.12"), resolve_target("sched_ext@v7.1")],
                   cache_dir=str(out / "cache"))
    html, md = write_report(data, out / "review.html"), write_report(data, out / "review.md")
    return html, md, data
