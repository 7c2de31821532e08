"""The verdict matrix against explicit enumeration: every cell's outcomes, without z3.

build_matrix enumerates each distinct outcome formula once, seeded by one state per context
(engine/matrix.py); explicit search (crosscheck/explicit_search.py) decides, for every kfunc,
context and outcome code, whether some state of the context reaches it.
"""

from __future__ import annotations

import pytest

from conftest import TOY
from polykfunc.crosscheck.brute_force import case_searches
from polykfunc.engine.matrix import build_matrix
from polykfunc.model import bundled_path, load_model
from polykfunc.model import semantics as sem
from polykfunc.model.expr import eq, int_const


def explicit_outcomes(model, kfunc, context) -> tuple[str, ...]:
    k = model.kfunc(kfunc)
    out = sem.outcome(model, k)
    codes = [c for c in [*range(len(k.impls)), sem.REJECTED, sem.REFUSED]
             if any(s.refine([eq(out, int_const(c))]).solve() is not None for s in case_searches(model, context))]
    return tuple(sem.outcome_name(k, c) for c in sorted(codes, reverse=True))


@pytest.mark.parametrize("target", [TOY, "sched_ext@v6.12"], ids=["toy", "sched_ext@v6.12"])
def test_every_cell_has_exactly_the_outcomes_explicit_search_finds(target):
    model = load_model(bundled_path(target) if isinstance(target, str) else target)
    matrix = build_matrix(model)
    assert matrix.complete
    for cell in matrix.cells:
        assert cell.outcomes == explicit_outcomes(model, cell.kfunc, cell.context), (cell.kfunc, cell.context)
