"""polykfunc.programs: kfunc calls in real BPF programs, nesting, locks and designs.

- :func:`read_object` reads a compiled ``.bpf.o`` (ELF, BTF, BTF.ext);
- :class:`ProgramGraph` is its call graph and :func:`reaching_contexts` propagates contexts
  by the verifier's rules (static, global, sync and async callbacks, nested ops);
- :func:`check_object` decides every (call site, reaching context) against a model;
- :func:`check_nesting` and :func:`check_locks` prove the nesting and lock properties of a model;
- :func:`compare` proves the design models and compares them.

docs/programs.md and docs/designs.md describe each in full.
"""

from .callgraph import ProgramGraph, Reach, SiteContext, from_object, reaching_contexts, site_contexts
from .checkprog import ContextCheck, ProgramReport, SiteReport, check_graph, check_object, check_parsed
from .designs import DesignTable, compare
from .elf import BpfObject, ObjectError, read_object
from .locks import LockReport, check_locks
from .nesting import NestingReport, check_nesting, nesting_graph

__all__ = [
    "BpfObject", "ContextCheck", "DesignTable", "LockReport", "NestingReport", "ObjectError", "ProgramGraph",
    "ProgramReport", "Reach", "SiteContext", "SiteReport", "check_graph", "check_locks", "check_nesting",
    "check_object", "check_parsed", "compare", "from_object", "nesting_graph", "reaching_contexts",
    "read_object", "site_contexts",
]
