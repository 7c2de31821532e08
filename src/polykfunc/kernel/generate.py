"""Write the generated structural model (the generic layer) from an inventory.

The input is the inventory's JSON form (:meth:`Inventory.to_json`), which is also written
next to the model as ``inventory.json``: regenerating from that file must give the committed
files byte for byte (a test checks it), so generated files can never drift from their facts.

What a flag means at load time is the verifier's (kernel/bpf/verifier.c: check_kfunc_call,
read in 6.12): a KF_SLEEPABLE kfunc needs a sleepable program and no RCU or preempt-off region
around the call. A KF_RCU_PROTECTED iterator constructor (KF_ITER_NEW) called outside in_rcu_cs()
gets an untrusted iterator (mark_stack_slots_iter) whose _next()/_destroy() are refused ("expected
an RCU CS", is_iter_reg_valid_init) and which must be destroyed (check_reference_leak): the program
does not load, so the layer rejects that call. (Trees with 'bpf: Enforce RCU protection for
KF_RCU_PROTECTED' also reject other KF_RCU_PROTECTED kfuncs at the call; in 6.12 every
KF_RCU_PROTECTED kfunc is an iterator constructor, and the importer does not detect that commit.)

Findings the generated semantics predicts are written as known bugs; when a pattern's upstream
fix is known (:data:`KNOWN_FIXES`), each carries ``fixed_by`` and the evidence.
"""

from __future__ import annotations

import json
import re

TOOL = "polykfunc import-kernel"
SUBPROGS = ["main", "static", "global", "sync_cb", "async_cb"]
#: kfunc flags the model format knows (model/validate.py); others are listed in the header only
KNOWN_FLAGS = {"ACQUIRE", "RELEASE", "RET_NULL", "TRUSTED_ARGS", "SLEEPABLE", "DESTRUCTIVE", "RCU",
               "ITER_NEW", "ITER_NEXT", "ITER_DESTROY", "RCU_PROTECTED", "FASTCALL", "ARENA_RET",
               "ARENA_ARG1", "ARENA_ARG2", "IMPLICIT_ARGS"}
VERIFIER_SRC = "kernel/bpf/verifier.c: check_kfunc_call, in_sleepable"
#: a KF_SLEEPABLE kfunc's legitimate calls: a sleepable program, no region, not an async callback
SLEEPABLE_CONTRACT = (" and view.sleepable and not (view.in_spin_lock or view.in_irq_off or view.in_rcu"
                      " or view.in_preempt_off) and view.subprog != 'async_cb'")

#: a KF_RCU_PROTECTED iterator constructor's call stays usable only inside in_rcu_cs()
RCU_CS = "not view.sleepable or view.in_rcu or view.in_spin_lock"
OUTSIDE_RCU_CS = "view.sleepable and not (view.in_rcu or view.in_spin_lock)"
RCU_PROTECTED_SRC = ("kernel/bpf/verifier.c: mark_stack_slots_iter, is_iter_reg_valid_init, process_iter_arg, "
                     "in_rcu_cs, check_reference_leak (KF_RCU_PROTECTED)")

#: recognised finding patterns (the id prefix the generator writes) -> the upstream commit that
#: fixes them, with the evidence: read it before adding a row
KNOWN_FIXES = {
    "sleepable-kfunc-in-async-callback": {
        "fixed_by": "469d638d1520",
        "evidence": ("commit 469d638d1520 'bpf: Fix sleepable context for async callbacks' (Oct 2025, "
                     "Fixes: 81f1d7a583fa): an async callback is verified as non-sleepable (bpf_wq "
                     "callbacks aside); a 6.18 kernel refuses it (polykfunc oracle --kfunc "
                     "bpf_copy_from_user_str: syscall.s timer_cb 'program must be sleepable to call "
                     "sleepable kfunc')"),
    },
}


#: where verifier.c is not in the import: the verifier's rule after the upstream fix of in_sleepable()
#: for async callbacks (a bpf_timer callback is never sleepable; bpf_wq callbacks, which are, are not
#: told apart in this vocabulary, so they are refused too: over-strict, never unsafe)
ASYNC_FIX_SRC = ("kernel/bpf/verifier.c: in_sleepable, push_async_cb after 469d638d1520 'bpf: Fix sleepable "
                 "context for async callbacks' (not in this import: the rule of the upstream fix)")


def _verifier_read(inv: dict) -> bool:
    """Whether kernel/bpf/verifier.c was part of the import (its can_be_sleepable() was read)."""
    return any(r["function"] == "can_be_sleepable" for r in inv["verifier_refs"])


def q(s: str) -> str:
    """A TOML basic string."""
    return json.dumps(s)


def model_name(inv: dict) -> str:
    return f"kernel@{kernel_label(inv)}"


def kernel_label(inv: dict) -> str:
    v = inv["tree"].get("version") or ""
    m = re.match(r"(\d+)\.(\d+)", v)
    return inv.get("model_kernel") or (f"v{m.group(1)}.{m.group(2)}" if m else "unknown")


def generate(inv: dict) -> dict[str, str]:
    """The model files (name -> text) for an inventory in JSON form."""
    tree = inv["tree"]
    ver = tree.get("version") or tree.get("label")
    tag = f"({tree['label']})"
    # a partial tree without include/uapi/linux/bpf.h: the program types its registrations make visible
    all_types = [p["name"] for p in inv.get("prog_types", [])] or sorted(
        {t for s in registered_sets(inv).values() for t in s["visible"]})
    sleepable_types = set(next((r["refs"] for r in inv["verifier_refs"] if r["function"] == "can_be_sleepable"), []))
    header = _header(inv)
    unknown_flags = sorted({f for k in inv["kfuncs"] for f in k["flags"] if f not in KNOWN_FLAGS})
    files = {}
    files["model.toml"] = header + "\n".join([
        "[model]",
        f"name = {q(model_name(inv))}",
        'subsystem = "kernel"',
        f"kernel = {q(kernel_label(inv))}",
        *( [f"commit = {q(tree['commit'])}"] if tree.get("commit") else []),
        "format = 1",
        f"description = {q(_description(inv, unknown_flags))}",
        'include = ["vocab.toml", "contexts.toml", "sets.toml", "kfuncs.toml", "known_bugs.toml"]',
        ""])
    files["vocab.toml"] = header + _vocab(inv, all_types, tag)
    files["contexts.toml"] = header + _contexts(inv, all_types, sleepable_types, tag)
    files["sets.toml"] = header + _sets(inv, all_types, tag)
    files["kfuncs.toml"] = header + _kfuncs(inv, tag)
    files["known_bugs.toml"] = header + _known_bugs(inv, tag)
    return files


def _known_bugs(inv: dict, tag: str) -> str:
    """The one finding the generic semantics predicts for every KF_SLEEPABLE kfunc (open, unconfirmed)."""
    src = next((f"{r['file']}:{r['line']}: can_be_sleepable" for r in inv["verifier_refs"]
                if r["function"] == "can_be_sleepable"), "kernel/bpf/verifier.c")
    out = ["# Findings the generic layer predicts; fixed_by names the upstream fix of a recognised pattern.",
           "# The verifier checks an asynchronous callback (bpf_timer, bpf_wq) armed by a sleepable program",
           "# as sleepable (in_sleepable() reads prog->sleepable), so a KF_SLEEPABLE kfunc is accepted there;",
           "# a bpf_timer callback runs in softirq context, where sleeping is not allowed.", ""]
    if not _verifier_read(inv):
        # The prediction rests on the verifier's in_sleepable() and can_be_sleepable(): without
        # kernel/bpf/verifier.c in the import (a partial tree), predict nothing rather than carry
        # another tree's reading over (upstream changed in_sleepable() in 469d638d1520).
        return "\n".join(out[:1] + ["# None: kernel/bpf/verifier.c is not in this import, so the verifier's sleepable rules are unknown.", ""])
    can_sleep = set(next((r["refs"] for r in inv["verifier_refs"] if r["function"] == "can_be_sleepable"), [])) | {"SYSCALL"}
    regs = registered_sets(inv)
    for k in inv["kfuncs"]:
        visible = {t for s in k["sets"] for t in regs.get(s, {}).get("visible", ())}
        if "SLEEPABLE" not in k["flags"] or not visible & can_sleep:
            continue
        for prop, what in (("safety", "runs where it may not sleep"), ("coverage", "is accepted though not legitimate")):
            out += _known_bug("sleepable-kfunc-in-async-callback", prop, k["name"],
                              k['name'] + '() (KF_SLEEPABLE) is accepted in an async callback of a sleepable program, and ' + what + ': a bpf_timer callback runs in softirq',
                              f"{VERIFIER_SRC}, push_async_cb ({src}) {tag}")
    return "\n".join(out)


def _known_bug(pattern: str, prop: str, kfunc: str, title: str, source: str) -> list[str]:
    """One [[known_bug]] of a recognised pattern: with its upstream fix and evidence when
    :data:`KNOWN_FIXES` knows it, else an open finding (confirmed = false)."""
    fix = KNOWN_FIXES.get(pattern)
    lines = ["[[known_bug]]", f"id = {q(f'{pattern}-{prop}-{kfunc}')}", f"title = {q(title)}",
             f'property = "{prop}"', f"kfunc = {q(kfunc)}"]
    if fix:
        return lines + [f"fixed_by = {q(fix['fixed_by'])}", f"source = {q(source + '; ' + fix['evidence'])}", ""]
    return lines + [f"source = {q(source)}", "confirmed = false", ""]


def _header(inv: dict) -> str:
    t = inv["tree"]
    return "\n".join([
        f"# GENERATED by `{TOOL}`: do not edit by hand.",
        f"# tree: {t['label']} (Makefile version {t.get('version') or 'unknown'})"
        + (f", commit {t['commit']}" if t.get("commit") else ""),
        f"# files: {inv.get('files_note') or 'every .c file of the tree outside tools/, samples/, Documentation/, scripts/'}",
        f"# generated: {inv.get('generated', 'unknown date')}",
        f"# regenerate: {inv.get('regenerate', 'polykfunc import-kernel TREE -o DIR')}",
        *[f"# source: {f['path']} = {f['repo']}@{f['commit']} ({f['fetched']})"
          for f in (inv.get("provenance") or {}).get("files", [])],
        "# facts: inventory.json in this folder (the import these files are generated from)",
        "", ""])


def _description(inv: dict, unknown_flags: list[str]) -> str:
    n_sets = len([s for s in inv["sets"]])
    regs = {r["prog_type"] for r in inv["registrations"] if r["kind"] == "kfunc"}
    text = (f"Generated generic verifier layer of {inv['tree']['label']}: {len(inv['kfuncs'])} kfuncs in "
            f"{n_sets} kfunc sets, registered for {len(regs)} program types; a kfunc's visibility is its "
            "sets' registrations through the verifier's kfunc hooks, and KF_SLEEPABLE kfuncs need a "
            "sleepable program outside RCU and preempt-off regions.")
    regs = registered_sets(inv)
    unregistered = [k["name"] for k in inv["kfuncs"] if not any(regs[s]["regs"] for s in k["sets"])]
    if unregistered:
        text += f" In no registered kfunc set, so left out: {', '.join(unregistered)}."
    if unknown_flags:
        text += f" Flags the model format does not know (left out): {', '.join(unknown_flags)}."
    return text


def _types_expr(types) -> str:
    types = sorted(set(types))
    if not types:
        return "false"
    if len(types) == 1:
        return f"view.prog_type == '{types[0]}'"
    return "view.prog_type in [" + ", ".join(f"'{t}'" for t in types) + "]"


def _vocab(inv: dict, all_types: list[str], tag: str) -> str:
    place = next((p for p in inv.get("prog_types", [])), None)
    src = f"{place['file']}: enum bpf_prog_type {tag}" if place else f"registrations {tag}"
    types = all_types or sorted({t for k in inv["kfuncs"] for t in k["visible_to"]}) or ["UNSPEC"]
    out = [
        "# The generic layer's vocabulary. Names and types match model/bundled/common/core.toml, so an",
        "# overlay that includes core.toml composes with it (enum values are united, docs/spec-format.md).",
        "",
        "[vars.view.prog_type]", 'type = "enum"',
        "values = [" + ", ".join(q(t) for t in types) + "]",
        'doc = "BPF program type (resolve_prog_type)"', f"source = {q(src)}", "",
        "[vars.view.sleepable]", 'type = "bool"', 'doc = "the program is sleepable (prog->sleepable)"', "",
        "[vars.view.in_spin_lock]", 'type = "bool"', 'doc = "a bpf_spin_lock / res_spin_lock region is active at the call"', "",
        "[vars.view.in_rcu]", 'type = "bool"', 'doc = "an explicit bpf_rcu_read_lock region is active at the call"', "",
        "[vars.view.in_preempt_off]", 'type = "bool"', 'doc = "a bpf_preempt_disable region is active at the call"', "",
        "[vars.view.in_irq_off]", 'type = "bool"', 'doc = "a bpf_local_irq_save region is active at the call"', "",
        "[vars.view.subprog]", 'type = "enum"', "values = [" + ", ".join(q(s) for s in SUBPROGS) + "]",
        'doc = "where the call sits: the program body, a static or global subprogram, a synchronous or an asynchronous callback"', "",
        "[vars.state.may_sleep]", 'type = "bool"', 'doc = "sleeping is allowed here"', "",
        "[vars.state.rcu]", 'type = "bool"', 'doc = "inside an RCU read-side critical section"', "",
        "[[axiom]]",
        'name = "verifier-sleepable-body-may-sleep"',
        'expr = "implies(view.sleepable and not (view.in_spin_lock or view.in_rcu or view.in_preempt_off or view.in_irq_off) and view.subprog != \'async_cb\', state.may_sleep)"',
        f"source = {q(f'{VERIFIER_SRC} {tag}')}",
        'doc = "the verifier\'s premise: a sleepable program may sleep where it tracks no region (a global subprogram called inside its caller\'s region is the exception verifier@specialize models)"',
        "",
        "[[axiom]]",
        'name = "verifier-rcu-region-is-real"',
        'expr = "implies(view.in_rcu, state.rcu and not state.may_sleep)"',
        f"source = {q(f'kernel/bpf/helpers.c: bpf_rcu_read_lock {tag}')}",
        ""]
    return "\n".join(out)


def _contexts(inv: dict, all_types: list[str], sleepable_types: set[str], tag: str) -> str:
    src_sleep = next((f"{r['file']}:{r['line']}: can_be_sleepable {tag}" for r in inv["verifier_refs"]
                      if r["function"] == "can_be_sleepable"), None)
    out = ["# One context per program type: the verifier's view of a call site in such a program. Region",
           "# (view.in_*) and subprogram kind (view.subprog) are left free; sleepability is pinned to false",
           "# for program types can_be_sleepable() does not name (SYSCALL programs: left free).", ""]
    places = {p["name"]: p for p in inv.get("prog_types", [])}
    for t in all_types:
        p = places.get(t)
        out.append(f"[context.prog_{t.lower()}]")
        out.append(f"doc = {q(f'a BPF_PROG_TYPE_{t} program')}")
        src = f"{p['file']}:{p['line']}: BPF_PROG_TYPE_{t} {tag}" if p else tag
        out.append(f"source = {q(src)}")
        view = [f"view.prog_type == '{t}'"]
        if sleepable_types and t not in sleepable_types and t != "SYSCALL":
            view.append({"expr": "not view.sleepable", "source": src_sleep})
        out.append("view = [" + ", ".join(q(v) if isinstance(v, str) else
                                          "{ expr = " + q(v["expr"]) + ", source = " + q(v["source"]) + " }"
                                          for v in view) + "]")
        out.append("")
    return "\n".join(out)


def registered_sets(inv: dict) -> dict[str, dict]:
    """Per kfunc id list: the program types that see it, its registrations and filters."""
    out = {s["name"]: {"types": set(), "visible": set(), "regs": [], "filters": set()} for s in inv["sets"]}
    hooks = {h["prog_type"]: h["hook"] for h in inv.get("hooks", [])}
    all_types = [p["name"] for p in inv.get("prog_types", [])]
    for r in inv["registrations"]:
        same = [s for s in inv["id_sets"] if s["name"] == r["id_set"] and s["file"] == r["file"]]
        named = [s for s in inv["id_sets"] if s["name"] == r["id_set"]]
        s = same[0] if same else named[0] if len(named) == 1 else None
        if r["kind"] != "kfunc" or s is None or s["set"] not in out:
            continue
        e = out[s["set"]]
        e["types"].add(r["prog_type"])
        e["regs"].append(r)
        if r["prog_type"] == "UNSPEC":
            e["visible"].update(all_types)
        elif r["prog_type"] in hooks:
            e["visible"].update(t for t, h in hooks.items() if h == hooks[r["prog_type"]] and t != "UNSPEC")
        else:
            e["visible"].add(r["prog_type"])
        if s.get("filter"):
            e["filters"].add(s["filter"])
    return out


def _sets(inv: dict, all_types: list[str], tag: str) -> str:
    regs = registered_sets(inv)
    known = set(all_types)
    out = ["# Every kfunc id list, with the program types that see it: its registrations, widened to every",
           "# program type the verifier maps to the same kfunc hook (btf.c: bpf_prog_type_to_kfunc_hook).", ""]
    filters: dict[str, list] = {}
    for s in inv["sets"]:
        e = regs[s["name"]]
        if not e["regs"]:
            continue          # no kfunc registration uses the list: nothing can call its kfuncs
        visible = sorted(t for t in e["visible"] if t in known) if known else sorted(e["visible"])
        out.append(f"[kfunc_set.{s['name']}]")
        out.append(f"registered = {q(_types_expr(visible))}")
        out.append(f"allow = {q(_types_expr(visible))}")
        where = "; ".join(f"{r['file']}:{r['line']} {r['prog_type']}" for r in e["regs"]) or "none found"
        src = f"{s['file']}:{s['line']}: {s['name']}; registered {where} {tag}"
        out.append(f"source = {q(src)}")
        doc = f"{s['form']} list of {len(s['kfuncs'])} kfuncs"
        if s.get("guards"):
            doc += f"; under #if {' && '.join(s['guards'])}"
        if e["filters"]:
            doc += f"; filter {', '.join(sorted(e['filters']))}"
        out.append(f"doc = {q(doc)}")
        out.append("")
        for f in e["filters"]:
            filters.setdefault(f, []).append((s, visible))
    for f, items in sorted(filters.items()):
        types = sorted({t for _, v in items for t in v})
        sets = ", ".join(s["name"] for s, _ in items)
        out += ["[[filter]]", f"name = {q(f)}", f"applies = {q(_types_expr(types))}", 'default = "allow"',
                f"source = {q(f'filter of {sets} {tag}')}", "confirmed = false",
                f"doc = {q('the filter runs for every kfunc of the hooks it is registered on; its body is not interpreted (default allow), drift tracks that it exists')}",
                ""]
    return "\n".join(out)


def _kfuncs(inv: dict, tag: str) -> str:
    out = ["# Every kfunc of the tree: its sets, flags, and the verifier's load-time rules for its flags.", ""]
    regs = registered_sets(inv)
    for k in inv["kfuncs"]:
        name = k["name"]
        if not any(regs[s]["regs"] for s in k["sets"]):
            continue          # in no registered list (listed in the model's description)
        flags = [f for f in k["flags"] if f in KNOWN_FLAGS]
        d = k.get("definition")
        out.append(f"[kfunc.{name}]")
        out.append("sets = [" + ", ".join(q(s) for s in k["sets"] if regs[s]["regs"]) + "]")
        if flags:
            out.append("flags = [" + ", ".join(q(f) for f in flags) + "]")
        src = f"{k['file']}:{k['line']}: BTF_ID_FLAGS {name} {tag}"
        out.append(f"source = {q(src)}")
        doc = []
        if d:
            doc.append(f"defined {d['file']}:{d['line']}")
            ann = [f"{p['name']}" for p in d["params"] if p.get("annotation")]
            if ann:
                doc.append("annotated arguments: " + ", ".join(ann))
        else:
            doc.append("no __bpf_kfunc definition found")
        if k.get("guards"):
            doc.append("under #if " + " && ".join(k["guards"]))
        if k["filters"]:
            doc.append("filters: " + ", ".join(k["filters"]))
        out.append(f"doc = {q('; '.join(doc))}")
        sleepable = "SLEEPABLE" in k["flags"]
        rcu_iter = "RCU_PROTECTED" in k["flags"] and "ITER_NEW" in k["flags"]
        visible = sorted({t for s in k["sets"] for t in regs.get(s, {}).get("visible", ())})
        if sleepable:
            out.append(f"allow = {q(_types_expr(visible) + SLEEPABLE_CONTRACT)}")
        elif rcu_iter:
            out.append(f"allow = {q(_types_expr(visible) + f' and ({RCU_CS})')}")
        out.append("")
        if rcu_iter and not sleepable:
            out += [f"[[kfunc.{name}.resolve]]", f"when = {q(OUTSIDE_RCU_CS)}", 'select = "reject"',
                    f"message = {q('expected an RCU CS when using the iterator (outside in_rcu_cs() the new iterator is untrusted, and it must be destroyed)')}",
                    f"source = {q(f'{RCU_PROTECTED_SRC} {tag}')}", "",
                    f"[[kfunc.{name}.resolve]]", 'when = "true"', 'select = "call"',
                    f"source = {q(f'{RCU_PROTECTED_SRC} {tag}')}", ""]
        if sleepable:
            for when, why in (("not view.sleepable", "program must be sleepable to call sleepable kfunc"),
                              ("view.in_spin_lock", "function calls are not allowed while holding a lock (do_check)"),
                              ("view.in_irq_off", "sleepable kfunc inside a bpf_local_irq_save region (no such region before 6.14)"),
                              ("view.in_rcu", "kernel func is sleepable within rcu_read_lock region"),
                              ("view.in_preempt_off", "kernel func is sleepable within non-preemptible region")):
                out += [f"[[kfunc.{name}.resolve]]", f"when = {q(when)}", 'select = "reject"',
                        f"message = {q(why)}", f"source = {q(f'{VERIFIER_SRC} (KF_SLEEPABLE) {tag}')}", ""]
            if not _verifier_read(inv):
                out += [f"[[kfunc.{name}.resolve]]", "when = \"view.subprog == 'async_cb'\"", 'select = "reject"',
                        f"message = {q('program must be sleepable to call sleepable kfunc (an async callback is not sleepable)')}",
                        f"source = {q(ASYNC_FIX_SRC)}", "confirmed = false", ""]
            out += [f"[[kfunc.{name}.resolve]]", 'when = "true"', 'select = "call"',
                    f"source = {q(f'{VERIFIER_SRC} {tag}')}", ""]
        out.append(f"[[kfunc.{name}.impl]]")
        out.append('name = "call"')
        at = d if d else k
        src = f"{at['file']}:{at['line']}: {name} {tag}"
        out.append(f"source = {q(src)}")
        if sleepable:
            out.append('requires = [{ label = "the kfunc may sleep (KF_SLEEPABLE)", expr = "state.may_sleep" }]')
        out.append("")
    return "\n".join(out)


def write_model(inv: dict, out_dir) -> list[str]:
    """Write the model files and inventory.json into ``out_dir``; the paths written."""
    from pathlib import Path
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generate(inv).items():
        (out / name).write_text(text, encoding="utf-8")
        written.append(str(out / name))
    (out / "inventory.json").write_text(json.dumps(inv, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    written.append(str(out / "inventory.json"))
    return written
