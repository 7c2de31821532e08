"""polykfunc.properties: the properties polykfunc proves, as proof obligations.

validated model -> :class:`Obligation` list. See docs/properties.md for the precise statements.
"""

from .generate import GENERATORS, obligations
from .obligation import Obligation

__all__ = ["GENERATORS", "Obligation", "obligations"]
