"""Kernel citations as links: source files to a source browser, commits to git.kernel.org.

Model rules cite their kernel source as text, ``"kernel/sched/ext.c: scx_bpf_cpuperf_set (v6.12);
commit a11d6784d731 'sched_ext: Fix missing rq lock in scx_bpf_cpuperf_set()'"``. A *cited
commit* is a hash written as ``commit <hash>``, followed by a quoted title, or named by a known
bug's ``fixed_by``; a hash in parentheses after a function names the tree that was read, not a
change. :func:`segments` splits a citation into text and links; nothing here touches the
network (the links are only followed by the reader).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMMIT_URL = "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/commit/?id={}"
SOURCE_URL = "https://elixir.bootlin.com/linux/{version}/source/{path}"

_HASH = r"[0-9a-f]{12,40}"
_FILE = re.compile(r"\b((?:arch|block|fs|include|kernel|lib|mm|net|security|tools|drivers)/[\w./+-]+\.(?:c|h|S|rs|bpf\.c))")
_VERSION = re.compile(r"\(v(\d+\.\d+(?:\.\d+)?(?:-rc\d+)?)[;)]?")
_CITED = re.compile(rf"(?:\bcommit\s+({_HASH})\b)|(?:\b({_HASH})\s+'[^']+')")
_ANY_HASH = re.compile(rf"\b{_HASH}\b")


@dataclass(frozen=True)
class Segment:
    """A piece of a citation: plain text, or text with the URL it links to."""

    text: str
    url: str | None = None


def is_commit(text: str | None) -> bool:
    """Is ``text`` a commit hash (7 to 40 hex digits)? A known bug's ``fixed_by`` may also be a
    word (a design's flaws say "design")."""
    return bool(text) and re.fullmatch(r"[0-9a-f]{7,40}", text) is not None


def commit_url(commit: str) -> str:
    return COMMIT_URL.format(commit)


def cited_commits(text: str | None) -> list[str]:
    """The commits a citation names as changes (not the trees it was read in), in order."""
    if not text:
        return []
    return list(dict.fromkeys(a or b for a, b in _CITED.findall(text)))


def segments(text: str | None) -> list[Segment]:
    """``text`` split into plain segments and links: each kernel file (to the version the same
    clause names, else the latest) and each commit hash (to git.kernel.org)."""
    if not text:
        return []
    out: list[Segment] = []
    for i, clause in enumerate(re.split(r"(;\s*)", text)):
        if i % 2:  # a separator
            out.append(Segment(clause))
            continue
        version = _VERSION.search(clause)
        ver = f"v{version.group(1)}" if version else "latest"
        spans = [(m.start(), m.end(), SOURCE_URL.format(version=ver, path=m.group(1))) for m in _FILE.finditer(clause)]
        spans += [(m.start(), m.end(), commit_url(m.group(0))) for m in _ANY_HASH.finditer(clause)]
        spans.sort()
        pos = 0
        for start, end, url in spans:
            if start < pos:
                continue
            if start > pos:
                out.append(Segment(clause[pos:start]))
            out.append(Segment(clause[start:end], url))
            pos = end
        if pos < len(clause):
            out.append(Segment(clause[pos:]))
    return out
