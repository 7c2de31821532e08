"""polykfunc.model: the kernel model layer.

Spec files -> validated :class:`Model` -> the formulas that say what it means
(:mod:`polykfunc.model.semantics`). Nothing here knows about solvers.
"""

from .bundled_models import bundled_manifests, bundled_path, bundled_root, resolve_target
from .spec import (
    Axiom, Case, Context, Fact, Filter, Implementation, Kfunc, KfuncSet, KnownBug, Model, Rule,
    Source, VarDecl,
)
from .validate import load_model

__all__ = [
    "Axiom", "Case", "Context", "Fact", "Filter", "Implementation", "Kfunc", "KfuncSet",
    "KnownBug", "Model", "Rule", "Source", "VarDecl", "bundled_manifests", "bundled_path",
    "bundled_root", "load_model", "resolve_target",
]
