"""C structure of one file, read with tree-sitter (tree-sitter-c): ``__bpf_kfunc`` definitions,
``btf_kfunc_id_set`` and ``bpf_struct_ops`` initializers, registration calls, struct_ops member
lists, and the few verifier functions whose switch cases or names matter.

The input is the masked source of :func:`.preproc.masked_source` (macro lists blanked), so
tree-sitter sees plain C; ``#if`` blocks are kept and tree-sitter parses through them.
"""

from __future__ import annotations

import re

from .inventory import FunctionRefs, IdSetStruct, KfuncDef, OpsMember, Param, Place, Registration, Skip

_PARSER = None

REGISTER_CALLS = {"register_btf_kfunc_id_set": "kfunc", "register_btf_fmodret_id_set": "fmodret"}
#: verifier functions whose referenced names are facts: function -> the identifiers kept
REF_FUNCTIONS = {"specialize_kfunc": re.compile(r"^KF_(bpf_\w+)$"),
                 "can_be_sleepable": re.compile(r"^BPF_PROG_TYPE_(\w+)$")}
HOOK_FUNCTION = "bpf_prog_type_to_kfunc_hook"


def parser():
    """One tree-sitter C parser per process."""
    global _PARSER
    if _PARSER is None:
        import tree_sitter_c
        from tree_sitter import Language, Parser
        _PARSER = Parser(Language(tree_sitter_c.language()))
    return _PARSER


class FileReader:
    """Walks one parsed file and collects its facts."""

    def __init__(self, data: bytes, file: str, guards: list[tuple[str, ...]], marked: set[int]):
        self.data = data
        self.file = file
        self.guards = guards
        self.marked = marked
        self.tree = parser().parse(data)
        self.definitions: list[KfuncDef] = []
        self.id_sets: list[IdSetStruct] = []
        self.registrations: list[Registration] = []
        self.struct_ops: list[tuple[str, str, str | None, Place]] = []
        self.struct_types: list[tuple[str, tuple[OpsMember, ...], Place]] = []
        self.functions: dict[str, object] = {}
        self.refs: list[FunctionRefs] = []
        self.hooks: list[tuple[str, str, Place]] = []
        self.skips: list[Skip] = []

    # ------------------------------------------------------------------ helpers
    def text(self, node) -> str:
        return self.data[node.start_byte:node.end_byte].decode("utf-8", "replace")

    def line(self, node) -> int:
        return node.start_point[0] + 1

    def place(self, node) -> Place:
        return Place(self.file, self.line(node))

    def guard(self, node) -> tuple[str, ...]:
        i = node.start_point[0]
        return self.guards[i] if i < len(self.guards) else ()

    # ------------------------------------------------------------------ walk
    def read(self, want_structs: set[str] | None = None) -> "FileReader":
        """Collect the facts; ``want_structs``: only these struct definitions (None: any with
        function-pointer members)."""
        stack = [(self.tree.root_node, None)]
        while stack:
            node, func = stack.pop()
            t = node.type
            if t == "function_definition":
                name = _declarator_name(node.child_by_field_name("declarator"))
                if name:
                    self.functions[name] = node
                    if self._is_marked(node):
                        self._definition(node, name)
                    func = name
            elif t == "declaration" and func is None:
                self._declaration(node)
            elif t == "struct_specifier" and node.child_by_field_name("body") is not None:
                self._struct_type(node, want_structs)
            elif t == "call_expression" and func is not None:
                self._call(node, func)
            stack.extend((c, func) for c in reversed(node.children))
        for fname, pattern in REF_FUNCTIONS.items():
            if fname in self.functions:
                node = self.functions[fname]
                refs = sorted({m.group(1) for m in (pattern.match(self.text(n)) for n in _identifiers(node)) if m})
                self.refs.append(FunctionRefs(fname, tuple(refs), self.place(node)))
        if HOOK_FUNCTION in self.functions:
            self._hooks(self.functions[HOOK_FUNCTION])
        return self

    def _is_marked(self, node) -> bool:
        start = self.line(node)
        body = node.child_by_field_name("body")
        end = self.line(body) if body is not None else start
        return any(n in self.marked for n in range(start - 1, end + 1))

    def _definition(self, node, name: str) -> None:
        decl = node.child_by_field_name("declarator")
        fdecl = _function_declarator(decl)
        params = []
        plist = fdecl.child_by_field_name("parameters") if fdecl is not None else None
        for p in (plist.named_children if plist is not None else []):
            if p.type != "parameter_declaration":
                continue
            pname = _declarator_name(p.child_by_field_name("declarator")) or ""
            ptype = " ".join(self.text(p).split())
            if not pname and ptype == "void":
                continue
            ann = pname.rsplit("__", 1)[1] if "__" in pname.strip("_") else None
            params.append(Param(pname, ptype, ann or None))
        body = node.child_by_field_name("body")
        head = self.data[node.start_byte:body.start_byte if body is not None else node.end_byte]
        proto = " ".join(head.decode("utf-8", "replace").split())
        self.definitions.append(KfuncDef(name, proto, tuple(params), self.guard(node), self.place(node)))

    def _declaration(self, node) -> None:
        ty = node.child_by_field_name("type")
        if ty is None or ty.type != "struct_specifier":
            return
        sname = ty.child_by_field_name("name")
        sname = self.text(sname) if sname is not None else ""
        if sname not in ("btf_kfunc_id_set", "bpf_struct_ops"):
            return
        for d in node.children_by_field_name("declarator"):
            if d.type != "init_declarator":
                continue
            var = _declarator_name(d.child_by_field_name("declarator"))
            init = d.child_by_field_name("value")
            fields = self._initializer(init) if init is not None and init.type == "initializer_list" else {}
            if sname == "btf_kfunc_id_set":
                self.id_sets.append(IdSetStruct(var or "", _address_of(fields.get("set")),
                                                _address_of(fields.get("filter")), self.guard(node), self.place(node)))
            else:
                stubs = _address_of(fields.get("cfi_stubs"))
                ops = stubs[len("__bpf_ops_"):] if stubs and stubs.startswith("__bpf_ops_") else None
                if ops is None and fields.get("name", "").startswith('"'):
                    ops = fields["name"].strip('"')
                if ops is None:
                    self.skips.append(Skip(self.place(node), f"struct bpf_struct_ops {var}: no .cfi_stubs or .name",
                                           "its ops type is unknown; the struct_ops is skipped"))
                    continue
                self.struct_ops.append((ops, var or "", _address_of(fields.get("check_member")), self.place(node)))

    def _initializer(self, init) -> dict[str, str]:
        out = {}
        for pair in _descend(init, "initializer_pair"):
            des = pair.child_by_field_name("designator")
            val = pair.child_by_field_name("value")
            if des is not None and val is not None:
                out[self.text(des).lstrip(".")] = " ".join(self.text(val).split())
        return out

    def _struct_type(self, node, want: set[str] | None) -> None:
        name_node = node.child_by_field_name("name")
        if name_node is None:
            return
        name = self.text(name_node)
        if want is not None and name not in want:
            return
        members = []
        for f in _descend(node.child_by_field_name("body"), "field_declaration"):
            d = f.child_by_field_name("declarator")
            if d is not None and _function_declarator(d) is not None and _has_pointer(d):
                mname = _declarator_name(d)
                if mname:
                    members.append(OpsMember(mname, None, self.guard(f), self.place(f)))
        if members:
            self.struct_types.append((name, tuple(members), self.place(node)))

    def _call(self, node, func: str) -> None:
        fn = node.child_by_field_name("function")
        if fn is None or fn.type != "identifier":
            return
        kind = REGISTER_CALLS.get(self.text(fn))
        if kind is None:
            return
        args = node.child_by_field_name("arguments")
        vals = [a for a in (args.named_children if args is not None else []) if a.type != "comment"]
        if kind == "fmodret" and len(vals) == 1:   # fmodret sets have no program type
            target = _address_of(" ".join(self.text(vals[0]).split()))
            if target:
                self.registrations.append(Registration("", target, func, kind, self.guard(node), self.place(node)))
            return
        if len(vals) != 2:
            self.skips.append(Skip(self.place(node), f"{self.text(fn)} called with {len(vals)} arguments",
                                   "expected (BPF_PROG_TYPE_X, &set); the call is skipped"))
            return
        ptype, target = self.text(vals[0]), _address_of(" ".join(self.text(vals[1]).split()))
        if not re.fullmatch(r"BPF_PROG_TYPE_\w+", ptype) or not target:
            self.skips.append(Skip(self.place(node), f"{self.text(fn)}({ptype}, {self.text(vals[1])}): "
                                   "the program type or the set is not a constant",
                                   "only literal BPF_PROG_TYPE_* and &set arguments are read; the call is skipped"))
            return
        self.registrations.append(Registration(ptype[len("BPF_PROG_TYPE_"):], target, func, kind,
                                               self.guard(node), self.place(node)))

    def _hooks(self, node) -> None:
        pending: list[tuple[str, Place]] = []
        for case in _descend(node, "case_statement"):
            value = case.child_by_field_name("value")
            if value is not None and self.text(value).startswith("BPF_PROG_TYPE_"):
                pending.append((self.text(value)[len("BPF_PROG_TYPE_"):], self.place(case)))
            ret = next((c for c in case.named_children if c.type == "return_statement"), None)
            if ret is not None:
                m = re.search(r"BTF_KFUNC_HOOK_(\w+)", self.text(ret))
                for ptype, place in pending:
                    if m:
                        self.hooks.append((ptype, m.group(1), place))
                pending = []

    def member_sleepable(self, function: str, ops: str) -> dict[str, bool] | None:
        """Which members of ``ops`` the check_member ``function`` lets a sleepable program
        implement: a switch over offsetof(struct OPS, member) whose cases break, while the
        default refuses prog->sleepable. None when the function does not decide sleepability."""
        node = self.functions.get(function)
        if node is None or "sleepable" not in self.text(node):
            return None
        out: dict[str, bool] = {}
        group: list[str] = []
        default_refuses = False
        for case in _descend(node, "case_statement"):
            value = case.child_by_field_name("value")
            body = [c for c in case.named_children if c is not value and c.type != "comment"]
            if value is not None:
                m = re.search(r"offsetof\s*\(\s*struct\s+" + re.escape(ops) + r"\s*,\s*(\w+)\s*\)", self.text(value))
                if m:
                    group.append(m.group(1))
            if not body:
                continue
            text = " ".join(self.text(b) for b in body)
            if value is None:   # default
                default_refuses = "sleepable" in text
            else:
                allowed = "sleepable" not in text
                out.update({g: allowed for g in group})
            group = []
        if not default_refuses:
            return None
        out["*"] = False
        return out


def _descend(node, kind: str):
    """Nodes of type ``kind`` below ``node``, in source order (through #if blocks)."""
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if n.type == kind:
            out.append(n)
        stack.extend(reversed(n.children))
    return out


def _identifiers(node):
    return _descend(node, "identifier")


def _function_declarator(node):
    while node is not None:
        if node.type == "function_declarator":
            return node
        node = node.child_by_field_name("declarator")
    return None


def _has_pointer(node) -> bool:
    while node is not None:
        if node.type == "pointer_declarator":
            return True
        if node.type == "parenthesized_declarator":
            return any(_has_pointer(c) for c in node.named_children)
        node = node.child_by_field_name("declarator")
    return False


def _declarator_name(node) -> str | None:
    while node is not None:
        if node.type in ("identifier", "field_identifier"):
            return node.text.decode() if node.text is not None else None
        if node.type == "parenthesized_declarator":
            inner = [c for c in node.named_children]
            node = inner[0] if inner else None
            continue
        node = node.child_by_field_name("declarator")
    return None


def _address_of(value: str | None) -> str | None:
    if not value:
        return None
    v = value.strip()
    if v.startswith("&"):
        v = v[1:].strip()
    return v if re.fullmatch(r"[A-Za-z_]\w*", v) else None
