"""check-prog over several objects (files or folders of them): one result each, one summary table.

Each object gets its own model (:func:`~polykfunc.programs.choose.choose_model`) unless one is
named; an object that cannot be read is a row with its error, not the end of the run. The exit
code of the batch is the worst of its objects': 1 when any object has a finding, else 2 when one
could not be read, else 3 when something stayed unknown, else 0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from polykfunc.errors import UsageError

from .checkprog import VERDICTS, ProgramReport, check_parsed


@dataclass(frozen=True)
class ObjectResult:
    """One object of a batch: its report and the model it was checked against, or why it was not."""

    path: str
    report: ProgramReport | None
    model: str | None = None
    why: str | None = None          # why this model (when chosen, not named)
    error: str | None = None        # the object could not be read

    @property
    def exit_code(self) -> int:
        return 2 if self.report is None else self.report.exit_code

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.report.sites if self.report else ():
            out[s.verdict] = out.get(s.verdict, 0) + 1
        return out

    def to_json(self) -> dict:
        if self.report is None:
            return {"object": self.path, "error": self.error, "exit_code": 2}
        return {**self.report.to_json(), "model_reason": self.why}


def object_paths(args) -> list[Path]:
    """The objects named by ``args``: files as given, folders searched for ``*.o`` (sorted).

    Raises UsageError for a path that does not exist or a folder without objects.
    """
    out: list[Path] = []
    for a in args:
        p = Path(a)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*.o") if q.is_file())
            if not found:
                raise UsageError(f"{p} is a folder with no *.o file in it; pass BPF objects or folders of them")
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise UsageError(f"no such file or folder: {p} (pass a BPF object built with `clang -O2 -g -target bpf "
                             "-c`, or a folder of them)")
    return list(dict.fromkeys(out))


def check_one(path: Path, model_name: str | None, rlimit: int, models: dict) -> ObjectResult:
    """Read and check one object (``models`` caches loaded models by name)."""
    from polykfunc.model import load_model, resolve_target

    from .choose import choose_model
    from .elf import ObjectError, read_object
    try:
        obj = read_object(path)
    except ObjectError as e:
        return ObjectResult(str(path), None, error=str(e))
    why = None
    name = model_name
    if name is None:
        choice = choose_model(obj)
        name, why = choice.name, choice.why
    if name not in models:
        models[name] = load_model(resolve_target(name))
    return ObjectResult(str(path), check_parsed(obj, models[name], rlimit=rlimit), name, why)


def check_paths(paths: list[Path], model_name: str | None, rlimit: int) -> list[ObjectResult]:
    models: dict = {}
    return [check_one(p, model_name, rlimit, models) for p in paths]


def batch_exit(results: list[ObjectResult]) -> int:
    codes = {r.exit_code for r in results}
    for c in (4, 1, 2, 3):
        if c in codes:
            return c
    return 0


#: summary columns: (heading, verdicts counted)
COLUMNS = (("ok", ("ok",)), ("skew ok", ("skew ok",)), ("cond", ("condition",)), ("skew cond", ("skew condition",)), ("known", ("known bug",)),
           ("findings", tuple(v for v, st in VERDICTS.items() if st.is_failure)), ("unknown", ("unknown",)),
           ("absent", ("absent on this kernel", "not reached on this kernel")), ("no caller", ("no caller",)),
           ("not modelled", ("not modelled",)))


def _w(heading: str) -> int:
    return max(len(heading), 5)


def summary_lines(results: list[ObjectResult], seconds: float | None = None) -> list[str]:
    """One table row per object (sites per verdict class, model, exit code), then a total row."""
    width = max([len(r.path) for r in results] + [6])
    head = f"{'object':<{width}}  {'model':<17}" + "".join(f" {h:>{_w(h)}}" for h, _ in COLUMNS) + "  exit   time"
    out = [head, "-" * len(head)]
    total = dict.fromkeys((h for h, _ in COLUMNS), 0)
    for r in results:
        if r.report is None:
            out.append(f"{r.path:<{width}}  error: {r.error}")
            continue
        c = r.counts()
        row = {h: sum(c.get(v, 0) for v in vs) for h, vs in COLUMNS}
        for h, n in row.items():
            total[h] += n
        out.append(f"{r.path:<{width}}  {r.model or '-':<17}" + "".join(f" {row[h]:>{_w(h)}}" for h, _ in COLUMNS)
                   + f"  {r.exit_code:>4} {r.report.seconds:>6.2f}s")
    out.append("-" * len(head))
    spent = f" {seconds:>6.2f}s" if seconds is not None else ""
    out.append(f"{f'{len(results)} objects':<{width}}  {'':<17}" + "".join(f" {total[h]:>{_w(h)}}" for h, _ in COLUMNS)
               + f"  {batch_exit(results):>4}{spent}")
    return out


def timed_check(paths: list[Path], model_name: str | None, rlimit: int) -> tuple[list[ObjectResult], float]:
    t0 = time.perf_counter()
    res = check_paths(paths, model_name, rlimit)
    return res, time.perf_counter() - t0
