"""Every kfunc on which a bundled concrete resolver and its model differ, over many sampled
admitted states (more than tests/test_concrete.py draws). There is no list of tolerated
differences: any difference is printed, with one state that shows it, and the exit code is 1.

    .venv/bin/python bench/known_differences.py [STATES]
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from test_concrete import MODELS, differences  # noqa: E402

from polykfunc.crosscheck.strategies import State, sample_admitted  # noqa: E402


def main(states: int) -> int:
    found = False
    for name, m in MODELS.items():
        rng, seen = random.Random(7), {}
        for _ in range(states):
            ctx = rng.choice(m.context_names)
            env = sample_admitted(m, ctx, lambda k, n: rng.randrange(n))
            if env is None:
                continue
            st = State(ctx, env)
            for d in differences(name, st.part("view"), st.part("tracked"), st.part("arg"), env):
                seen.setdefault(d.split(":")[0], (ctx, d))
        print(f"{name}: {len(seen)} kfunc(s) differ over {states} sampled states")
        for kfunc, (ctx, d) in sorted(seen.items()):
            print(f"  in {ctx}: {d}")
        found |= bool(seen)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1500))
