"""Which files of a kernel tree an import reads, and what the tree is.

A full tree has ~35k C files; only those that mention a kfunc or BTF-set macro, a
registration or a struct_ops are parsed (a byte-level prefilter, done in the worker processes).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from polykfunc.errors import UsageError

#: a file is parsed only when it contains one of these
MARKERS = (b"BTF_KFUNCS_START", b"BTF_SET8_START", b"__bpf_kfunc", b"register_btf_kfunc_id_set",
           b"register_btf_fmodret_id_set", b"BTF_SET_START", b"BTF_ID_LIST", b"bpf_struct_ops",
           b"bpf_prog_type_to_kfunc_hook", b"can_be_sleepable", b"specialize_kfunc")
#: folders that are not kernel code: the tools' and samples' own kfunc test modules stay out
SKIP_DIRS = {".git", "tools", "samples", "Documentation", "scripts", "usr", "LICENSES", ".pc", "debian"}
FLAGS_HEADER = "include/linux/btf.h"
PROG_TYPES_HEADER = "include/uapi/linux/bpf.h"

#: --subsystem names that are not a path prefix of the tree
SUBSYSTEMS = {"sched_ext": ("kernel/sched/ext",), "bpf": ("kernel/bpf/",), "net": ("net/",),
              "hid": ("drivers/hid/bpf/",), "fs": ("fs/",), "trace": ("kernel/trace/",)}


def check_tree(root: Path) -> None:
    """UsageError unless ``root`` looks like a kernel source tree."""
    if not root.is_dir():
        raise UsageError(f"{root}: not a folder (import-kernel reads a kernel source tree)")
    if not (root / FLAGS_HEADER).is_file() and not (root / "kernel" / "bpf").is_dir():
        raise UsageError(f"{root}: not a kernel tree (neither {FLAGS_HEADER} nor kernel/bpf/ is there); "
                         "pass the top folder of a Linux source tree, e.g. /usr/src/linux-source-6.12")


def c_files(root: Path) -> list[str]:
    """Every ``.c`` file below ``root`` outside :data:`SKIP_DIRS`, relative, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = sorted(d for d in dirnames if not (rel_dir == "." and d in SKIP_DIRS) and d != ".git")
        for f in filenames:
            if f.endswith(".c"):
                out.append(os.path.normpath(os.path.join(rel_dir, f)))
    return sorted(out)


def version(root: Path) -> str | None:
    """VERSION.PATCHLEVEL.SUBLEVEL from the top Makefile, or None."""
    try:
        text = (root / "Makefile").read_text(errors="replace")[:2000]
    except OSError:
        return None
    parts = [re.search(rf"^{k}\s*=\s*(\d+)", text, re.M) for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL")]
    if not parts[0] or not parts[1]:
        return None
    return ".".join(p.group(1) for p in parts if p)


def in_subsystem(file: str, subsystem: str | None) -> bool:
    """Does ``file`` belong to ``subsystem`` (a name of :data:`SUBSYSTEMS` or a path prefix)?"""
    if not subsystem:
        return True
    return file.startswith(SUBSYSTEMS.get(subsystem, (subsystem,)))
