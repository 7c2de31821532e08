"""polykfunc.programs: kfunc calls in real BPF programs, nesting, locks and designs.

- :func:`read_object` reads a compiled ``.bpf.o`` (ELF, BTF, BTF.ext);
- :class:`ProgramGraph` is its call graph and :func:`reaching_contexts` propagates contexts
  by the verifier's rules (static, global, sync and async callbacks, nested ops);
- :func:`check_object` decides every (call site, reaching context) against a model;
- :func:`check_nesting` and :func:`check_locks` prove the nesting and lock properties of a model;
- :func:`compare` proves the design models and compares them.

docs/programs.md and docs/designs.md describe each in full.
"""

import importlib

#: public name -> the submodule that defines it. Submodules load on first use (PEP 562), so
#: code that needs only one of them (the oracle reads BTF with ``programs.btf``) does not pay
#: for networkx and the checker.
_WHERE = {
    "ProgramGraph": "callgraph", "Reach": "callgraph", "SiteContext": "callgraph", "from_object": "callgraph",
    "reaching_contexts": "callgraph", "site_contexts": "callgraph",
    "ContextCheck": "checkprog", "ProgramReport": "checkprog", "SiteReport": "checkprog",
    "check_graph": "checkprog", "check_object": "checkprog", "check_parsed": "checkprog",
    "DesignTable": "designs", "compare": "designs",
    "BpfObject": "elf", "ObjectError": "elf", "read_object": "elf",
    "LockReport": "locks", "check_locks": "locks",
    "NestingReport": "nesting", "check_nesting": "nesting", "nesting_graph": "nesting",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
