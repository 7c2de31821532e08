"""polykfunc: prove that polymorphic kfunc resolution is safe, or show why it is not.

The public API is small: load a model, build its proof obligations, prove them.

>>> import polykfunc
>>> model = polykfunc.load_model(polykfunc.bundled_path("sched_ext-resolver@design"))  # doctest: +SKIP
>>> report = polykfunc.prove_model(model)                                              # doctest: +SKIP
"""

from polykfunc.errors import InternalError, PolykfuncError, SpecError, UsageError
from polykfunc.model import Model, bundled_manifests, bundled_path, load_model

__version__ = "0.1.0"

__all__ = [
    "InternalError", "Model", "PolykfuncError", "SpecError", "UsageError", "bundled_manifests",
    "bundled_path", "load_model", "prove_model", "__version__",
]


def prove_model(model, **options):
    """Prove every obligation of ``model``; see :func:`polykfunc.engine.prover.prove_model`."""
    from polykfunc.engine.prover import prove_model as _prove
    return _prove(model, **options)
