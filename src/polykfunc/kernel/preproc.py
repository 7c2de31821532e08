"""The preprocessor's part of an import, done line by line: comments, ``#if`` guards, and the
BTF macro lists (``BTF_KFUNCS_START`` .. ``BTF_ID_FLAGS`` .. ``BTF_KFUNCS_END`` and friends).

The macro lists are not C until the preprocessor has run, so tree-sitter cannot parse them
(it reads them as a chain of bogus declarations and loses the code after them). They are read
here instead, and blanked out (same lines, same columns) before tree-sitter sees the file.
"""

from __future__ import annotations

import re

from .inventory import BtfList, BtfListEntry, KfuncIdList, Place, SetEntry, Skip

#: BTF id macros that make up a list line; blanked before parsing
LIST_MACROS = ("BTF_KFUNCS_START", "BTF_KFUNCS_END", "BTF_SET8_START", "BTF_SET8_END", "BTF_ID_FLAGS",
               "BTF_SET_START", "BTF_SET_END", "BTF_ID", "BTF_ID_LIST", "BTF_ID_LIST_SINGLE",
               "BTF_ID_LIST_GLOBAL", "BTF_ID_LIST_GLOBAL_SINGLE", "BTF_ID_UNUSED", "BTF_SET_START_GLOBAL")
_MACRO_LINE = re.compile(r"^[ \t]*(BTF_[A-Z0-9_]+)\b")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MARKER = re.compile(rb"\b__bpf_kfunc\b(?!_)")
_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*(\w+)(.*)$")


def strip_comments(text: str) -> str:
    """``text`` with every comment replaced by spaces (newlines kept), strings left alone."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and i + 1 < n and text[i + 1] == "*":
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join("\n" if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c == "/" and i + 1 < n and text[i + 1] == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in "/\"'":
                j += 1
            if j == i:
                out.append(c)
                i += 1
            else:
                out.append(text[i:j])
                i = j
    return "".join(out)


def guards_by_line(text: str) -> list[tuple[str, ...]]:
    """For each line (index 0 is line 1) the preprocessor conditions it sits under, outermost
    first: ``CONFIG_X`` for ``#ifdef``, ``!X`` for ``#ifndef``, the expression for ``#if``;
    ``#else``/``#elif`` negate the branches before them. A header's include guard is left out."""
    lines = text.split("\n")
    out: list[tuple[str, ...]] = []
    stack: list[list[str]] = []      # per open #if: the conditions of its branches so far
    current: list[str] = []          # per open #if: the condition of the branch we are in
    guard = _include_guard(lines)
    i = 0
    while i < len(lines):
        line = lines[i]
        full = line
        j = i
        while full.endswith("\\") and j + 1 < len(lines):
            j += 1
            full = full[:-1] + " " + lines[j]
        out.extend([tuple(current)] * (j - i + 1))
        m = _DIRECTIVE.match(full)
        if m:
            word, rest = m.group(1), " ".join(m.group(2).split())
            if word in ("if", "ifdef", "ifndef"):
                cond = rest if word == "if" else (rest if word == "ifdef" else f"!{rest}")
                if word == "ifndef" and rest == guard and not stack:
                    cond = ""  # the include guard
                stack.append([cond])
                current.append(cond)
            elif word == "elif" and stack:
                prev = " && ".join(f"!({c})" for c in stack[-1] if c)
                stack[-1].append(rest)
                current[-1] = f"{prev} && ({rest})" if prev else rest
            elif word == "else" and stack:
                current[-1] = " && ".join(f"!({c})" if " " in c else f"!{c}".replace("!!", "")
                                          for c in stack[-1] if c)
            elif word == "endif" and stack:
                stack.pop()
                current.pop()
        i = j + 1
    return [tuple(c for c in g if c) for g in out]


def _include_guard(lines: list[str]) -> str | None:
    for k, line in enumerate(lines):
        m = _DIRECTIVE.match(line)
        if not m:
            continue
        if m.group(1) == "ifndef":
            name = m.group(2).strip()
            nxt = next((ln for ln in lines[k + 1:] if ln.strip()), "")
            d = _DIRECTIVE.match(nxt)
            return name if d and d.group(1) == "define" and d.group(2).split()[:1] == [name] else None
        return None
    return None


def _args(call: str) -> list[str] | None:
    """The comma-separated arguments of ``NAME(a, b, c)``; None when the parentheses do not close."""
    start = call.find("(")
    if start < 0:
        return None
    depth, args, cur = 0, [], []
    for ch in call[start:]:
        if ch == "(":
            depth += 1
            if depth == 1:
                continue
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append("".join(cur).strip())
                return [a for a in args] if args != [""] else []
        elif ch == "," and depth == 1:
            args.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    return None


def lex_lists(clean: str, file: str, guards: list[tuple[str, ...]]):
    """Read the BTF macro lists of a comment-free file.

    Returns (kfunc id lists, plain BTF sets and id lists, skips, the line numbers that hold
    list macros). A malformed line is skipped with a message; the rest of the list is kept.
    """
    lines = clean.split("\n")
    kfunc_lists: list[KfuncIdList] = []
    btf_lists: list[BtfList] = []
    skips: list[Skip] = []
    macro_lines: list[int] = []
    open_k: tuple[str, str, int, list[SetEntry]] | None = None      # (name, form, line, entries)
    open_b: tuple[str, str, int, list[BtfListEntry], bool] | None = None  # (.., closes with END)

    def close_b():
        nonlocal open_b
        if open_b is not None:
            name, form, line, entries, _ = open_b
            btf_lists.append(BtfList(name, form, tuple(entries), Place(file, line)))
            open_b = None

    i = 0
    while i < len(lines):
        lineno = i + 1
        m = _MACRO_LINE.match(lines[i])
        if not m or m.group(1) not in LIST_MACROS:
            if open_b is not None and not open_b[4] and lines[i].strip() and not lines[i].lstrip().startswith("#"):
                close_b()          # a BTF_ID_LIST ends at the first line that is not one of its ids
            i += 1
            continue
        macro = m.group(1)
        call, j = lines[i], i
        if "(" not in call:
            args: list[str] | None = []          # BTF_ID_UNUSED and other bare macros
        else:
            while _args(call) is None and j + 1 < len(lines) and j - i < 4 \
                    and not _MACRO_LINE.match(lines[j + 1]):
                j += 1
                call += " " + lines[j]
            args = _args(call)
            if args is None:
                call, j = lines[i], i            # unreadable: consume this line only
        macro_lines.extend(range(i + 1, j + 2))
        place = Place(file, lineno)
        g = guards[i] if i < len(guards) else ()
        i = j + 1
        if args is None:
            skips.append(Skip(place, f"{macro}: the parentheses do not close", "a macro line the importer cannot read"))
            continue
        if macro in ("BTF_KFUNCS_START", "BTF_SET8_START"):
            if open_k is not None:
                skips.append(Skip(place, f"{macro}({', '.join(args)}) opens a list while {open_k[0]} "
                                         f"(line {open_k[2]}) is still open", "each START needs its END"))
                kfunc_lists.append(KfuncIdList(open_k[0], open_k[1], tuple(open_k[3]), (), Place(file, open_k[2])))
            if len(args) != 1 or not _IDENT.fullmatch(args[0]):
                skips.append(Skip(place, f"{macro} needs one identifier, got ({', '.join(args)})"))
                open_k = None
                continue
            open_k = (args[0], "BTF_KFUNCS" if macro == "BTF_KFUNCS_START" else "BTF_SET8", lineno, [])
            close_b()
        elif macro in ("BTF_KFUNCS_END", "BTF_SET8_END"):
            if open_k is None:
                skips.append(Skip(place, f"{macro}({', '.join(args)}) closes no open list"))
                continue
            if args != [open_k[0]]:
                skips.append(Skip(place, f"{macro}({', '.join(args)}) closes {open_k[0]} (line {open_k[2]})",
                                  "the END names a different list; the list is kept under its START name"))
            kfunc_lists.append(KfuncIdList(open_k[0], open_k[1], tuple(open_k[3]),
                                           guards[open_k[2] - 1], Place(file, open_k[2])))
            open_k = None
        elif macro == "BTF_ID_FLAGS":
            if open_k is None:
                skips.append(Skip(place, "BTF_ID_FLAGS outside a BTF_KFUNCS_START/END list"))
                continue
            if len(args) < 2 or args[0] != "func" or not _IDENT.fullmatch(args[1]):
                skips.append(Skip(place, f"BTF_ID_FLAGS({', '.join(args)}) is not (func, NAME[, FLAGS])",
                                  "the entry is skipped"))
                continue
            flags = []
            for tok in ("|".join(args[2:])).split("|") if len(args) > 2 else []:
                tok = tok.strip()
                if tok in ("", "0"):
                    continue
                if re.fullmatch(r"KF_[A-Z0-9_]+", tok):
                    flags.append(tok[3:])
                else:
                    skips.append(Skip(place, f"flag {tok!r} of {args[1]} is not a KF_ constant", "the flag is dropped"))
            open_k[3].append(SetEntry(args[1], tuple(flags), g, place))
        elif macro in ("BTF_SET_START", "BTF_SET_START_GLOBAL", "BTF_ID_LIST", "BTF_ID_LIST_GLOBAL"):
            close_b()
            if not args or not _IDENT.fullmatch(args[0]):
                skips.append(Skip(place, f"{macro} needs an identifier, got ({', '.join(args)})"))
                continue
            open_b = (args[0], "BTF_SET" if macro.startswith("BTF_SET") else "BTF_ID_LIST", lineno, [],
                      macro.startswith("BTF_SET"))
        elif macro == "BTF_SET_END":
            if open_b is None or not open_b[4]:
                skips.append(Skip(place, f"BTF_SET_END({', '.join(args)}) closes no open BTF_SET_START"))
                continue
            close_b()
        elif macro in ("BTF_ID", "BTF_ID_UNUSED"):
            if open_k is not None:
                skips.append(Skip(place, f"{macro} inside kfunc list {open_k[0]}", "kfunc lists use BTF_ID_FLAGS"))
                continue
            if open_b is None:
                continue   # a lone BTF_ID (e.g. BTF_ID_LIST_SINGLE's relatives): not a list we read
            if macro == "BTF_ID_UNUSED":
                open_b[3].append(BtfListEntry("", g, place))
            elif len(args) == 2 and _IDENT.fullmatch(args[1]):
                open_b[3].append(BtfListEntry(args[1], g, place))
            else:
                skips.append(Skip(place, f"BTF_ID({', '.join(args)}) is not (KIND, NAME)"))
        # BTF_ID_LIST_SINGLE and friends declare one id, no list: nothing to read
    if open_k is not None:
        skips.append(Skip(Place(file, open_k[2]), f"list {open_k[0]} is never closed",
                          "no BTF_KFUNCS_END/BTF_SET8_END; its entries are kept"))
        kfunc_lists.append(KfuncIdList(open_k[0], open_k[1], tuple(open_k[3]), guards[open_k[2] - 1],
                                       Place(file, open_k[2])))
    close_b()
    return kfunc_lists, btf_lists, skips, macro_lines


def masked_source(raw: bytes, clean: str, macro_lines: list[int]) -> tuple[bytes, set[int]]:
    """What tree-sitter parses: the comment-free text with macro-list lines and ``__bpf_kfunc``
    markers blanked (same length, so lines and columns stay); also the lines with a marker."""
    lines = clean.split("\n")
    for n in macro_lines:
        if 0 < n <= len(lines):
            lines[n - 1] = " " * len(lines[n - 1])
    data = "\n".join(lines).encode("utf-8", "surrogateescape")
    marked: set[int] = set()
    def blank(m):
        marked.add(data.count(b"\n", 0, m.start()) + 1)
        return b" " * (m.end() - m.start())
    return _MARKER.sub(blank, data), marked
