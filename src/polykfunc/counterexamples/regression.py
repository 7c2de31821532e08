"""The regression corpus: one stored counterexample per known bug of each bundled model.

The corpus lives in the top-level ``counterexamples/`` folder, one store per model
(``counterexamples/<model name>/<fingerprint>.json``, the store format of docs/counterexample-format.md).
:func:`check_corpus` is what CI runs: every entry must replay on the current model, still match a
known bug the model declares, and still be found by ``prove``; every known bug must have an entry.
``make corpus`` rebuilds it after an intended model change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from polykfunc.model import bundled_manifests, load_model

from polykfunc.engine.prover import prove_model
from polykfunc.counterexamples.store import store_entries
from polykfunc.engine.replay import replay_problems
from polykfunc.counterexamples.store import Store

CORPUS = Path(__file__).resolve().parents[3] / "counterexamples"  # the repository's counterexamples/


def build_corpus(root: Path = CORPUS) -> dict[str, int]:
    """Rewrite the corpus from the bundled models: the first counterexample of each known bug."""
    counts = {}
    for name, path in bundled_manifests().items():
        model = load_model(path)
        report = prove_model(model)
        folder = root / name
        chosen = {}
        for entry in store_entries(model, report):
            bug = entry.counterexample.known_bug
            if bug and bug not in chosen:
                chosen[bug] = entry
        store = Store(folder)
        keep = {e.id for e in chosen.values()}
        for old in store.files():  # drop what is no longer chosen; keep unchanged files as they are
            if old.stem not in keep:
                old.unlink()
        for entry in chosen.values():
            if not (folder / f"{entry.id}.json").exists():
                store.save(entry)
        if folder.exists() and not any(folder.iterdir()):
            folder.rmdir()
        counts[name] = len(chosen)
    return counts


@dataclass(frozen=True)
class CorpusProblem:
    model: str
    entry: str
    problem: str

    def __str__(self) -> str:
        return f"{self.model}/{self.entry}: {self.problem}"


def check_corpus(root: Path = CORPUS) -> list[CorpusProblem]:
    """Every way the corpus and the bundled models disagree (empty: all is well)."""
    problems: list[CorpusProblem] = []
    manifests = bundled_manifests()
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if folder.name not in manifests:
            problems.append(CorpusProblem(folder.name, "*", "no bundled model has this name"))
    for name, path in manifests.items():
        model = load_model(path)
        entries, bad = Store(root / name).entries()
        problems += [CorpusProblem(name, "?", str(e)) for e in bad]
        found = {c.fingerprint for c in prove_model(model).counterexamples()}
        covered = set()
        for e in entries:
            cex = e.counterexample
            for p in replay_problems(model, cex):
                problems.append(CorpusProblem(name, e.id, f"does not replay: {p}"))
            bug = next((b for b in model.known_bugs
                        if b.matches(cex.property, cex.kfunc, cex.context, cex.impl)), None)
            if bug is None or bug.id != cex.known_bug:
                problems.append(CorpusProblem(name, e.id, f"matches no known bug of the model (stored as {cex.known_bug})"))
            else:
                covered.add(bug.id)
            if cex.fingerprint not in found:
                problems.append(CorpusProblem(name, e.id, "prove no longer finds this counterexample "
                                                          "(if the model change is intended: make corpus)"))
        for b in model.known_bugs:
            if b.id not in covered:
                problems.append(CorpusProblem(name, b.id, "known bug without a corpus entry (make corpus)"))
    return problems
