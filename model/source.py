"""Read a model's TOML files: includes, merging, and where every table came from.

The result is a tree of :class:`Table` (a dict that knows its file and key path) and plain
lists and values. Errors found later point back into the right file and line through
:func:`locate`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from polykfunc.errors import SpecError, Where

MANIFEST = "model.toml"


_TEXTS: dict[str, str] = {}


def where_of(table: "Table", key: str | int | None = None) -> Where:
    """The located place of ``table`` (or of ``key`` inside it, in the file that wrote the key)."""
    if key is None:
        w = table.where
    else:
        w = table.origins.get(key, table.where).child(key) if isinstance(key, str) else table.where.child(key)
    text = _TEXTS.get(w.file)
    return locate(w, text) if text is not None else w


def child_where(where: Where, key: str | int) -> Where:
    """The located place of ``key`` below ``where``."""
    w = where.child(key)
    text = _TEXTS.get(w.file)
    return locate(w, text) if text is not None else w


class Table(dict):
    """A TOML table that remembers where it was written."""

    where: Where
    origins: dict  # key -> the Where of the table (in its own file) that wrote the key

    def __init__(self, data: dict, where: Where):
        super().__init__(data)
        self.where = where
        self.origins = {}


def manifest_path(target: Path) -> Path:
    """The manifest a target names: the file itself, or ``model.toml`` inside a folder."""
    if target.is_dir():
        found = target / MANIFEST
        if not found.is_file():
            raise SpecError(Where(str(target)), f"the folder has no {MANIFEST}",
                            "a model folder holds a model.toml manifest; pass that file or its folder")
        return found
    if not target.exists():
        raise SpecError(Where(str(target)), "no such file or folder",
                        "run `polykfunc models` for the bundled models")
    return target


def read_model_files(target: Path) -> tuple[Table, list[Path]]:
    """Read the manifest and every file it includes, merged into one document.

    Returns the merged document and the files read, in order.
    """
    root = manifest_path(Path(target))
    files: list[Path] = []
    merged = Table({}, Where(display_path(root)))
    _read(root.resolve(), merged, files, stack=())
    return merged, files


def display_path(path) -> str:
    """How polykfunc shows a file: relative to the current directory when it lies below it,
    else absolute (the one rule for error messages, reports and SARIF locations)."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def _read(path: Path, into: Table, files: list[Path], stack: tuple[Path, ...]) -> None:
    if path in stack:
        chain = " -> ".join(display_path(p) for p in stack + (path,))
        raise SpecError(Where(display_path(stack[-1])), f"include cycle: {chain}", "remove one of the includes")
    if path in files:
        return  # included twice through different routes: read once
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        where = Where(display_path(stack[-1]) if stack else display_path(path), "model.include")
        if where.file in _TEXTS:
            where = locate(where, _TEXTS[where.file])
        raise SpecError(where, f"included file {display_path(path)} does not exist",
                        "include paths are relative to the file that includes them") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(Where(display_path(path)), f"cannot read the file: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _toml_error_line(str(exc))
        raise SpecError(Where(display_path(path), "", line), f"not valid TOML: {exc}",
                        "check quotes, brackets and that every key = value pair is on one line") from None
    files.append(path)
    shown = display_path(path)
    _TEXTS[shown] = text
    doc = _wrap(data, Where(shown, "", None), text)
    includes = doc.get("model", {}).get("include", []) if isinstance(doc.get("model"), dict) else []
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise SpecError(locate(Where(shown, "model.include"), text), "include must be a list of file paths",
                        'write include = ["contexts.toml", "kfuncs.toml"]')
    _merge(into, doc, text)
    for inc in includes:
        _read((path.parent / inc).resolve(), into, files, stack + (path,))


_LINE = re.compile(r"line (\d+)")


def _toml_error_line(message: str) -> int | None:
    m = _LINE.search(message)
    return int(m.group(1)) if m else None


def _wrap(value, where: Where, text: str):
    if isinstance(value, dict):
        t = Table({}, locate(where, text))
        for k, v in value.items():
            t[k] = _wrap(v, where.child(k), text)
        return t
    if isinstance(value, list):
        return [_wrap(v, where.child(i), text) for i, v in enumerate(value)]
    return value


def _merge(into: Table, new: Table, text: str) -> None:
    for key, value in new.items():
        if key not in into:
            into[key] = value
            into.origins[key] = new.origins.get(key, new.where)
            continue
        old = into[key]
        if key == "include" and into.where.path == "model":
            continue  # each file's includes are followed separately
        if isinstance(old, Table) and isinstance(value, Table):
            _merge(old, value, text)
        elif isinstance(old, list) and isinstance(value, list) and \
                all(isinstance(v, Table) for v in old + value):
            old.extend(value)
        else:
            where = value.where if isinstance(value, Table) else locate(new.where.child(key), text)
            first = old.where if isinstance(old, Table) else where_of(into, key)
            raise SpecError(where, f"'{key}' is already defined in {first}",
                            "a key may be defined once across all of a model's files")


_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*\]\]?\s*(#.*)?$")
_KEYLINE = re.compile(r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*=")


def _split_key(key: str) -> list[str]:
    parts = re.findall(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_-]+)", key)
    return [a or b or c for a, b, c in parts]


_LINE_INDEX: dict[int, dict[str, int]] = {}


def _index(text: str) -> dict[str, int]:
    """Map each key path written in ``text`` to its first line (1-based)."""
    cached = _LINE_INDEX.get(id(text))
    if cached is not None and cached.get("\0text") == hash(text):
        return cached
    out: dict[str, int] = {"\0text": hash(text)}  # type: ignore[dict-item]
    table: list[str] = []
    counters: dict[str, int] = {}   # resolved path of an array of tables -> its last index
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = _HEADER.match(line)
        if m and not _KEYLINE.match(line):
            parts = _split_key(m.group(2))
            resolved: list[str] = []
            for part in parts[:-1]:  # a prefix naming an array of tables means its last element
                resolved.append(part)
                base = _path(resolved)
                if base in counters:
                    resolved[-1] = f"{part}[{counters[base]}]"
            if m.group(1) == "[[":
                base = _path(resolved + [parts[-1]])
                idx = counters.get(base, -1) + 1
                counters[base] = idx
                table = resolved + [f"{parts[-1]}[{idx}]"]
            else:
                table = resolved + [parts[-1]]
            out.setdefault(_path(table), lineno)
            continue
        m = _KEYLINE.match(line)
        if m:
            for i in range(1, len(_split_key(m.group(1))) + 1):
                out.setdefault(_path(table + _split_key(m.group(1))[:i]), lineno)
    _LINE_INDEX[id(text)] = out
    return out


def _path(parts: list[str]) -> str:
    w = Where("")
    for p in parts:
        m = re.fullmatch(r"(.*)\[(\d+)\]", p)
        if m:
            w = w.child(m.group(1)).child(int(m.group(2)))
        else:
            w = w.child(p)
    return w.path


def locate(where: Where, text: str) -> Where:
    """The same place with the line filled in: the line of the longest written prefix."""
    index = _index(text)
    path = where.path
    while path:
        if path in index:
            return Where(where.file, where.path, index[path])
        path = _parent(path)
    return where


def _parent(path: str) -> str:
    if path.endswith("]"):
        return path[: path.rindex("[")]
    m = re.match(r"^(.*)\.(?:[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\")$", path)
    return m.group(1) if m else ""
