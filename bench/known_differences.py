"""Every (kfunc, reason) where a bundled concrete resolver and its model differ, over many
sampled admitted states, against tests/test_concrete.py's KNOWN_DIFFERENCES (stale entries
and new differences are both printed).

    .venv/bin/python bench/known_differences.py [STATES]
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from test_concrete import KNOWN_DIFFERENCES, MODELS, reason  # noqa: E402

from polykfunc.crosscheck.concrete import bundled_resolver, same_choice  # noqa: E402
from polykfunc.model import semantics as sem  # noqa: E402
from polykfunc.crosscheck.strategies import State, sample_admitted  # noqa: E402


def main(states: int) -> int:
    changed = False
    for name, known in KNOWN_DIFFERENCES.items():
        m, r, rng, seen = MODELS[name], bundled_resolver(name), random.Random(7), set()
        for _ in range(states):
            ctx = rng.choice(m.context_names)
            env = sample_admitted(m, ctx, lambda k, n: rng.randrange(n))
            if env is None:
                continue
            st = State(ctx, env)
            view, tracked, arg = st.part("view"), st.part("tracked"), st.part("arg")
            for k in m.kfuncs:
                theirs = sem.outcome_name(k, sem.decide(m, k, env).outcome)
                ours, why = r.explain(k.name, view, tracked, arg)
                if not same_choice(theirs, ours):
                    seen.add((k.name, reason(theirs, ours, why, view)))
        print(f"{name}: {len(seen)} differences; stale: {sorted(known - seen)}; new: {sorted(seen - known)}")
        changed |= seen != known
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1500))
