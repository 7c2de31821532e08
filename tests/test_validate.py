"""Strict validation of model files (docs/spec-format.md): each bad input gives one SpecError that
names the file, the line, the key path and a hint; valid input gives the right objects."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from polykfunc.errors import SpecError
from polykfunc.model import load_model
from polykfunc.model.spec import Source

CORE = Path(__file__).resolve().parent.parent / "model" / "bundled" / "common" / "core.toml"
CORE_SHOWN = str(CORE)  # outside the working directory: shown in full

BASE = """\
[context.c1]
source = "k.c: c1 (v1)"
facts = ["state.exec == 'task'"]

[kfunc.f]
source = "k.c: f (v1)"

[[kfunc.f.impl]]
name = "only"
requires = ["state.locked_rq == arg.cpu"]
"""

TWO_IMPLS = BASE + """
[[kfunc.f.impl]]
name = "two"
"""

BUG = """
[[known_bug]]
id = "b"
title = "t"
property = "safety"
kfunc = "f"
source = "k.c: f (v1)"
"""


@pytest.fixture(autouse=True)
def _cwd(tmp_path, monkeypatch):
    """Run in tmp_path, so model files are shown as short relative paths (m1/body.toml)."""
    monkeypatch.chdir(tmp_path)


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """The 1-based line of the ``nth`` line of ``text`` that contains ``needle``."""
    hits = [i for i, ln in enumerate(textwrap.dedent(text).splitlines(), start=1) if needle in ln]
    assert len(hits) >= nth, f"{needle!r} not in the text"
    return hits[nth - 1]


def fails(folder: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_model(folder)
    err = info.value
    assert str(err) == err.render()
    assert isinstance(err, ValueError)
    return err


def body_error(write_model, body: str, core: bool = True) -> tuple[SpecError, str]:
    folder = write_model(body, core=core)
    return fails(folder), f"{folder.name}/body.toml"


# --------------------------------------------------------------------------- exact renderings

def test_unknown_key_with_close_match_exact(write_model):
    body = BASE.replace('source = "k.c: f (v1)"', 'source = "k.c: f (v1)"\nallw = "true"')
    err, f = body_error(write_model, body)
    assert err.render() == (
        f"{f}:7: error: at kfunc.f.allw: unknown key 'allw' in kfunc f\n"
        "  hint: did you mean 'allow'?")


def test_unknown_key_without_close_match_lists_allowed_keys_exact(write_model):
    err, f = body_error(write_model, BASE + "\n[context.c1.extra]\nfoo = 1\n")
    assert err.render() == (
        f"{f}:12: error: at context.c1.extra: unknown key 'extra' in context c1\n"
        "  hint: allowed keys: case, confirmed, doc, facts, source, view")


def test_enum_typo_in_requires_exact(write_model):
    body = BASE.replace('"state.locked_rq == arg.cpu"', '''"state.exec == 'tsk'"''')
    err, f = body_error(write_model, body)
    assert err.render() == (
        f"{f}:10: error: at kfunc.f.impl[0].requires[0]: 'tsk' is not a value of state.exec\n"
        "  state.exec == 'tsk'\n"
        "                ^^^^^\n"
        "  hint: did you mean 'task'?")


def test_expression_that_does_not_parse_exact(write_model):
    body = BASE.replace('"state.locked_rq == arg.cpu"', '"state.rcu and and state.irqs_off"')
    err, f = body_error(write_model, body)
    assert err.render() == (
        f"{f}:10: error: at kfunc.f.impl[0].requires[0]: does not parse: invalid syntax\n"
        "  state.rcu and and state.irqs_off\n"
        "                ^\n"
        "  hint: expressions use Python syntax: and, or, not, ==, in [...], implies(a, b)")


def test_state_in_resolve_rule_exact(write_model):
    body = TWO_IMPLS + """
[[kfunc.f.resolve]]
when = "state.cpu == 1"
select = "only"
"""
    err, f = body_error(write_model, body)
    assert err.render() == (
        f"{f}:16: error: at kfunc.f.resolve[0].when: 'state.cpu' reads state, which this place may not read\n"
        "  state.cpu == 1\n"
        "  ^^^^^^^^^\n"
        "  hint: here only view may be read")


def test_unknown_implementation_in_rule_exact(write_model):
    body = TWO_IMPLS + """
[[kfunc.f.select]]
when = "true"
select = "tow"
"""
    err, f = body_error(write_model, body)
    assert err.render() == (
        f"{f}:17: error: at kfunc.f.select[0].select: 'tow' is not an implementation of f\n"
        "  hint: did you mean 'two'?")


def test_duplicate_key_across_two_included_files_names_both(write_model):
    folder = write_model(BASE)
    (folder / "model.toml").write_text(
        '[model]\nname = "t@1"\nkernel = "k"\ninclude = ["a.toml", "b.toml"]\n')
    (folder / "a.toml").write_text(BASE)
    (folder / "b.toml").write_text('# second file\n\n[kfunc.f]\nsource = "k.c: f again (v1)"\n')
    err = fails(folder)
    assert err.render() == (
        f"{folder.name}/b.toml:4: error: at kfunc.f.source: 'source' is already defined in {folder.name}/a.toml:6\n"
        "  hint: a key may be defined once across all of a model's files")


# --------------------------------------------------------------------------- key facts

def check(err: SpecError, file: str, line: int, path: str, message: str, hint: str | None = None):
    assert err.where.file == file, err.render()
    assert err.where.line == line, err.render()
    assert err.where.path == path, err.render()
    assert message in err.message, err.render()
    if hint is not None:
        assert err.hint is not None and hint in err.hint, err.render()
    rendered = err.render()
    assert rendered.startswith(f"{file}:{line}: error: at {path}: ")
    assert "Traceback" not in rendered


def test_wrong_type(write_model):
    body = BASE.replace('source = "k.c: c1 (v1)"', "source = 3")
    err, f = body_error(write_model, body)
    check(err, f, 2, "context.c1.source", "'source' must be a string, not a number")


def test_wrong_type_of_fact(write_model):
    body = BASE.replace('"state.locked_rq == arg.cpu"', "1")
    err, f = body_error(write_model, body)
    check(err, f, 10, "kfunc.f.impl[0].requires[0]",
          "a fact must be an expression string or a table, not a number", 'write "state.locked_rq == -1"')


def test_missing_required_key(write_model):
    body = BASE.replace('name = "only"', 'doc = "no name"')
    err, f = body_error(write_model, body)
    check(err, f, 8, "kfunc.f.impl[0]", "an implementation of f lacks the required key 'name'", "add name = ...")


def test_missing_required_key_in_manifest(write_model):
    folder = write_model(BASE)
    (folder / "model.toml").write_text('[model]\nname = "t@1"\ninclude = ["body.toml"]\n')
    err = fails(folder)
    check(err, f"{folder.name}/model.toml", 1, "model", "[model] lacks the required key 'kernel'",
          "add kernel = ...")


def test_unknown_kfunc_set(write_model):
    body = BASE + '\n[kfunc_set.enqueue_dispatch]\nsource = "k.c: s (v1)"\n'
    body = body.replace('source = "k.c: f (v1)"', 'source = "k.c: f (v1)"\nsets = ["enqueue_dispatc"]')
    err, f = body_error(write_model, body)
    check(err, f, 7, "kfunc.f.sets", "kfunc f names unknown kfunc set 'enqueue_dispatc'",
          "did you mean 'enqueue_dispatch'?")


def test_unknown_kfunc_set_without_close_match(write_model):
    body = BASE.replace('source = "k.c: f (v1)"', 'source = "k.c: f (v1)"\nsets = ["nope"]')
    err, f = body_error(write_model, body)
    check(err, f, 7, "kfunc.f.sets", "unknown kfunc set 'nope'", "declare it as [kfunc_set.NAME]")


def test_unknown_implementation_in_known_bug(write_model):
    body = BASE + BUG.replace('kfunc = "f"', 'kfunc = "f"\nimpl = "onyl"')
    err, f = body_error(write_model, body)
    check(err, f, line_of(body, 'impl = "onyl"'), "known_bug[0].impl",
          "'onyl' is not an implementation of f", "did you mean 'only'?")


def test_unknown_context_in_known_bug(write_model):
    body = BASE + BUG.replace('kfunc = "f"', 'kfunc = "f"\ncontext = "c11"')
    err, f = body_error(write_model, body)
    check(err, f, line_of(body, 'context = "c11"'), "known_bug[0].context",
          "known bug 'b' names unknown context 'c11'", "did you mean 'c1'?")


def test_unknown_kfunc_in_known_bug(write_model):
    body = BASE + BUG.replace('kfunc = "f"', 'kfunc = "ff"')
    err, f = body_error(write_model, body)
    check(err, f, line_of(body, 'kfunc = "ff"'), "known_bug[0].kfunc",
          "known bug 'b' names unknown kfunc 'ff'", "did you mean 'f'?")


def test_unknown_property_in_known_bug(write_model):
    body = BASE + BUG.replace('"safety"', '"saftey"')
    err, f = body_error(write_model, body)
    check(err, f, line_of(body, "saftey"), "known_bug[0].property", "unknown property 'saftey'",
          "did you mean 'safety'?")


def test_unknown_lock_kind(write_model):
    body = BASE.replace('requires = ["state.locked_rq == arg.cpu"]', 'takes = ["rq_lock(arg.cpu)"]')
    err, f = body_error(write_model, body)
    check(err, f, 10, "kfunc.f.impl[0].takes[0]", "unknown lock kind 'rq_lock'", "did you mean")


def test_known_lock_kind_with_argument_is_valid(write_model):
    body = BASE.replace('requires = ["state.locked_rq == arg.cpu"]', 'takes = ["rq(arg.cpu)", "pi_lock"]')
    m = load_model(write_model(body))
    takes = m.kfunc("f").impl("only").takes
    assert [(t.kind, str(t.arg) if t.arg else None) for t in takes] == [("rq", "arg.cpu"), ("pi_lock", None)]


def test_tracked_in_requires(write_model):
    body = '[vars.tracked.kf_mask]\ntype = "flags"\nvalues = ["A"]\n\n' + BASE.replace(
        '"state.locked_rq == arg.cpu"', '"tracked.kf_mask.A"')
    err, f = body_error(write_model, body)
    check(err, f, line_of(body, "tracked.kf_mask.A"), "kfunc.f.impl[0].requires[0]",
          "'tracked.kf_mask.A' reads tracked, which this place may not read", "here only arg, state may be read")
    assert err.excerpt == "tracked.kf_mask.A\n^^^^^^^^^^^^^^^^^"


def test_tracked_in_contract(write_model):
    body = '[vars.tracked.t]\ntype = "bool"\n\n' + BASE.replace(
        'source = "k.c: f (v1)"', 'source = "k.c: f (v1)"\nallow = "tracked.t"')
    err, f = body_error(write_model, body)
    check(err, f, line_of(body, "allow ="), "kfunc.f.allow", "'tracked.t' reads tracked",
          "here only arg, state, view may be read")


def test_state_in_context_view(write_model):
    body = BASE.replace('facts = ["state.exec == \'task\'"]', 'view = ["view.sleepable", "state.rcu"]')
    err, f = body_error(write_model, body)
    check(err, f, 3, "context.c1.view[1]", "'state.rcu' reads state", "here only view may be read")


def test_state_in_filter_rule(write_model):
    body = BASE + """
[[filter]]
name = "flt"
source = "k.c: flt (v1)"
applies = "state.rcu"
"""
    err, f = body_error(write_model, body)
    check(err, f, line_of(body, "applies"), "filter[0].applies", "'state.rcu' reads state",
          "here only view may be read")


def test_rule_without_any_source(write_model):
    body = BASE + """
[[filter]]
name = "flt"

[[filter.rule]]
when = "view.sleepable"
verdict = "deny"
"""
    err, f = body_error(write_model, body)
    check(err, f, line_of(body, "[[filter]]"), "filter[0]", "filter flt names no kernel source",
          'add source = "file: function (version)"')


@pytest.mark.parametrize("what,body,path,message", [
    ("context", BASE.replace('source = "k.c: c1 (v1)"\n', ""), "context.c1", "context c1 names no kernel source"),
    ("kfunc", BASE.replace('source = "k.c: f (v1)"\n', ""), "kfunc.f", "kfunc f names no kernel source"),
    ("axiom", BASE + '\n[[axiom]]\nname = "a1"\nexpr = "true"\n', "axiom[0]", "axiom a1 names no kernel source"),
    ("known bug", BASE + BUG.replace('source = "k.c: f (v1)"\n', ""), "known_bug[0]",
     "known bug b names no kernel source"),
    ("kfunc set", BASE + '\n[kfunc_set.s]\nallow = "true"\n', "kfunc_set.s", "kfunc set s names no kernel source"),
])
def test_every_table_needs_a_source(write_model, what, body, path, message):
    err, f = body_error(write_model, body)
    header = {"context": "[context.c1]", "kfunc": "[kfunc.f]", "axiom": "[[axiom]]",
              "known bug": "[[known_bug]]", "kfunc set": "[kfunc_set.s]"}[what]
    check(err, f, line_of(body, header), path, message, "every rule must cite the kernel")


def test_empty_source(write_model):
    err, f = body_error(write_model, BASE.replace('"k.c: c1 (v1)"', '"  "'))
    check(err, f, 2, "context.c1.source", "'source' is empty", 'write source = "file: function (version)"')


def test_include_of_a_missing_file(write_model):
    folder = write_model(BASE)
    (folder / "model.toml").write_text(
        '[model]\nname = "t@1"\nkernel = "k"\ninclude = ["body.toml", "sub/missing.toml"]\n')
    err = fails(folder)
    check(err, f"{folder.name}/model.toml", 4, "model.include",
          f"included file {folder.name}/sub/missing.toml does not exist",
          "include paths are relative to the file that includes them")


def test_include_cycle_names_the_chain(write_model):
    folder = write_model(BASE)
    (folder / "model.toml").write_text('[model]\nname = "t@1"\nkernel = "k"\ninclude = ["a.toml"]\n')
    (folder / "a.toml").write_text('[model]\ninclude = ["b.toml"]\n')
    (folder / "b.toml").write_text('[model]\ninclude = ["a.toml"]\n')
    err = fails(folder)
    n = folder.name
    assert err.where.file == f"{n}/b.toml"
    assert err.message == f"include cycle: {n}/model.toml -> {n}/a.toml -> {n}/b.toml -> {n}/a.toml"
    assert err.hint == "remove one of the includes"


def test_a_file_included_twice_is_read_once(write_model):
    folder = write_model(BASE)
    (folder / "model.toml").write_text(
        f'[model]\nname = "t@1"\nkernel = "k"\ninclude = ["{os.path.relpath(CORE, folder)}", "a.toml", "body.toml"]\n')
    (folder / "a.toml").write_text('[model]\ninclude = ["body.toml"]\n')
    m = load_model(folder)
    assert [p.name for p in m.files] == ["model.toml", "core.toml", "a.toml", "body.toml"]


def test_invalid_toml_names_the_line(write_model):
    body = BASE + "\n[kfunc.g]\nsource = = 1\n"
    err, f = body_error(write_model, body)
    assert err.where.file == f
    assert err.where.line == line_of(body, "source = = 1")
    assert err.message.startswith("not valid TOML: ")
    assert "check quotes, brackets" in err.hint
    assert err.render().startswith(f"{f}:{err.where.line}: error")


def test_invalid_toml_in_manifest(write_model):
    folder = write_model(BASE)
    (folder / "model.toml").write_text('[model]\nname = "t@1\n')
    err = fails(folder)
    assert (err.where.file, err.where.line) == (f"{folder.name}/model.toml", 2)


def test_int_var_without_range(write_model):
    body = BASE + '\n[vars.state.n]\ntype = "int"\ndoc = "n"\n'
    err, f = body_error(write_model, body)
    check(err, f, line_of(body, "[vars.state.n]"), "vars.state.n.range",
          "int variable state.n needs range = [lo, hi] with lo <= hi", "range = [-1, 3]")


def test_int_var_with_empty_range(write_model):
    body = BASE + '\n[vars.state.n]\ntype = "int"\nrange = [3, 1]\n'
    err, f = body_error(write_model, body)
    check(err, f, line_of(body, "range = [3, 1]"), "vars.state.n.range", "needs range = [lo, hi]")


def test_unknown_variable_type(write_model):
    body = BASE + '\n[vars.state.n]\ntype = "boool"\n'
    err, f = body_error(write_model, body)
    check(err, f, line_of(body, "boool"), "vars.state.n.type", "unknown type 'boool' for state.n",
          "did you mean 'bool'?")


def test_range_on_enum(write_model):
    body = BASE + '\n[vars.state.n]\ntype = "enum"\nvalues = ["a"]\nrange = [0, 1]\n'
    err, f = body_error(write_model, body)
    check(err, f, line_of(body, "range = [0, 1]"), "vars.state.n.range",
          "'range' does not apply to enum variable state.n")


def test_duplicate_enum_value(write_model):
    body = BASE + '\n[vars.state.n]\ntype = "enum"\nvalues = ["a", "b", "a"]\n'
    err, f = body_error(write_model, body)
    check(err, f, line_of(body, "values ="), "vars.state.n.values", "value 'a' is listed twice")


def test_both_resolve_and_select_without_in_force(write_model):
    body = TWO_IMPLS + """
[[kfunc.f.resolve]]
when = "true"
select = "only"

[[kfunc.f.select]]
when = "true"
select = "two"
"""
    err, f = body_error(write_model, body)
    check(err, f, 5, "kfunc.f", "kfunc f has both a resolver and a selector; say which one is in force",
          'add in_force = "resolver"')


def test_in_force_must_name_a_mechanism(write_model):
    body = TWO_IMPLS.replace('source = "k.c: f (v1)"', 'source = "k.c: f (v1)"\nin_force = "both"') + """
[[kfunc.f.resolve]]
when = "true"
select = "only"

[[kfunc.f.select]]
when = "true"
select = "two"
"""
    err, f = body_error(write_model, body)
    check(err, f, 7, "kfunc.f.in_force", "say which one is in force")


def test_polymorphic_kfunc_without_rules(write_model):
    err, f = body_error(write_model, TWO_IMPLS)
    check(err, f, 5, "kfunc.f", "kfunc f has 2 implementations but no rule picks one",
          "add [[kfunc.NAME.resolve]] (load time) or [[kfunc.NAME.select]] (run time) rules")


def test_refusal_of_the_other_mechanism_is_not_an_implementation(write_model):
    body = TWO_IMPLS + '\n[[kfunc.f.select]]\nwhen = "true"\nselect = "reject"\n'
    err, f = body_error(write_model, body)
    check(err, f, line_of(body, 'select = "reject"'), "kfunc.f.select[0].select",
          "'reject' is not an implementation of f (select rules use 'error')")


def test_duplicate_implementation_name(write_model):
    body = BASE + '\n[[kfunc.f.impl]]\nname = "only"\n'
    err, f = body_error(write_model, body)
    check(err, f, line_of(body, 'name = "only"', 2), "kfunc.f.impl[1].name", "'only' is used twice")


def test_unknown_kfunc_flag(write_model):
    body = BASE.replace('source = "k.c: f (v1)"', 'source = "k.c: f (v1)"\nflags = ["SLEEPABEL"]')
    err, f = body_error(write_model, body)
    check(err, f, 7, "kfunc.f.flags", "unknown kfunc flag 'SLEEPABEL'", "did you mean 'SLEEPABLE'?")


def test_predicate_cycle(write_model):
    body = """\
[vars.state.b]
type = "bool"

[predicates]
p = "q and state.b"
q = "r"
r = "p"

""" + BASE.replace('"state.exec == \'task\'"', '"p"').replace('"state.locked_rq == arg.cpu"', '"state.b"')
    err, f = body_error(write_model, body, core=False)
    check(err, f, 5, "predicates.p", "predicates refer to each other in a cycle: p -> q -> r -> p")


def test_predicate_name_reserved(write_model):
    body = '[vars.state.b]\ntype = "bool"\n\n[predicates]\nimplies = "state.b"\n\n' + BASE.replace(
        "state.exec == 'task'", "state.b").replace("state.locked_rq == arg.cpu", "state.b")
    err, f = body_error(write_model, body, core=False)
    check(err, f, 5, "predicates.implies", "predicate name 'implies' is not usable")


def test_known_bug_declared_twice(write_model):
    body = BASE + BUG + BUG
    err, f = body_error(write_model, body)
    check(err, f, line_of(body, 'id = "b"', 2), "known_bug[1].id", "known bug 'b' is declared twice")


def test_model_without_kfuncs(write_model):
    err, f = body_error(write_model, BASE.split("[kfunc.f]")[0])
    assert err.message == "the model has no kfuncs"
    assert "[kfunc.NAME]" in err.hint


def test_missing_target():
    with pytest.raises(SpecError) as info:
        load_model("nowhere")
    assert info.value.message == "no such file or folder"


def test_folder_without_manifest(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpecError) as info:
        load_model(tmp_path / "empty")
    assert info.value.message == "the folder has no model.toml"


def test_unsupported_format(write_model):
    err = fails(write_model(BASE, manifest_extra="format = 2\n"))
    assert err.message == "format 2 is not supported"
    assert err.where.path == "model.format"


# --------------------------------------------------------------------------- bugs

def test_predicate_error_names_the_file_it_is_written_in(write_model):
    body = BASE + '\n[predicates]\np = "state.zz == 1"\n'
    err, f = body_error(write_model, body)
    assert err.message == "unknown variable 'state.zz'"
    assert (err.where.file, err.where.line) == (f, line_of(body, "p = "))


def test_filter_rule_error_names_its_own_line(write_model):
    body = BASE + """
[[filter]]
name = "flt"
source = "k.c: flt (v1)"

[[filter.rule]]
when = "view.sleepable"
verdict = "deny"

[[filter]]
name = "flt2"
source = "k.c: flt2 (v1)"

[[filter.rule]]
when = "view.sleepable"
verdict = "allow"

[[filter.rule]]
when = "state.rcu"
verdict = "deny"
"""
    err, f = body_error(write_model, body)
    assert err.where.path == "filter[1].rule[1].when"
    assert err.where.line == line_of(body, 'when = "state.rcu"')


def test_unknown_flag_in_filter(write_model):
    body = BASE + """
[[filter]]
name = "flt"
source = "k.c: flt (v1)"

[[filter.rule]]
when = "flag.SLEEPABEL"
verdict = "deny"
"""
    err, f = body_error(write_model, body)
    assert "SLEEPABEL" in err.message and "did you mean 'SLEEPABLE'?" in (err.hint or "")


def test_render_without_key_path_has_single_colon(write_model):
    err, f = body_error(write_model, BASE + "\nsource = = 1\n")
    assert err.where.path == ""
    assert err.render().startswith(f"{f}:{err.where.line}: error: not valid TOML: ")


def test_duplicate_key_names_the_line_of_the_first_definition(write_model):
    folder = write_model(BASE)
    (folder / "model.toml").write_text(
        '[model]\nname = "t@1"\nkernel = "k"\ninclude = ["a.toml", "b.toml"]\n')
    (folder / "a.toml").write_text('[kfunc.g]\ndoc = "g"\nsource = "first"\n')
    (folder / "b.toml").write_text(BASE + '\n[kfunc.g]\nsource = "second"\n')
    err = fails(folder)
    assert f"{folder.name}/a.toml:3" in err.message


NO_HINT = [
    ("wrong type", BASE.replace('source = "k.c: c1 (v1)"', "source = 3")),
    ("unknown context, nothing close", BASE + BUG.replace('kfunc = "f"', 'kfunc = "f"\ncontext = "zzz"')),
    ("in_force without two mechanisms",
     BASE.replace('source = "k.c: f (v1)"', 'source = "k.c: f (v1)"\nin_force = "selector"')),
    ("enum without values", BASE + '\n[vars.state.n]\ntype = "enum"\nvalues = []\n'),
]


@pytest.mark.parametrize("body", [b for _, b in NO_HINT], ids=[n for n, _ in NO_HINT])
def test_every_error_has_a_hint(write_model, body):
    err, _ = body_error(write_model, body)
    assert err.hint


# --------------------------------------------------------------------------- valid models

VALID = """\
[vars.tracked.kf_mask]
type = "flags"
values = ["ENQUEUE", "DISPATCH"]

[context.enqueue]
doc = "ops.enqueue()"
source = "k.c: enqueue (v1)"
view = ["view.prog_type == 'STRUCT_OPS'", "not view.sleepable"]
facts = [
  "state.exec == 'task'",
  { expr = "task_rq_held", source = "k.c: do_enqueue (v1)", label = "p's rq is locked" },
]

[[context.enqueue.case]]
name = "top level"
facts = ["state.depth == 1", "tracked.kf_mask == ['ENQUEUE']"]

[[context.enqueue.case]]
name = "nested"
source = "k.c: reenqueue (v1)"
confirmed = false
facts = ["state.depth == 2", { expr = "tracked.kf_mask == ['ENQUEUE', 'DISPATCH']", source = "k.c: mask (v1)" }]

[context.init]
source = "k.c: init (v1)"
confirmed = false
facts = "state.locked_rq == -1"

[kfunc_set.s]
source = "k.c: s (v1)"
registered = "view.prog_type == 'STRUCT_OPS'"

[kfunc.f]
sets = ["s"]
flags = ["RCU"]
source = "k.c: f (v1)"
confirmed = false

[[kfunc.f.impl]]
name = "direct"
requires = [{ label = "p is the task", expr = "arg.task == 'op_task'" }]

[[kfunc.f.impl]]
name = "buffered"
source = "k.c: buffered (v1)"
requires = ["own_rq_held"]

[[kfunc.f.select]]
when = "tracked.kf_mask.ENQUEUE"
select = "direct"

[[kfunc.f.select]]
when = "true"
select = "error"
message = "wrong op"
"""


def test_valid_model_objects(write_model):
    m = load_model(write_model(VALID, name="valid@1"))
    assert m.name == "valid@1" and m.subsystem == "valid" and m.kernel == "test"
    assert m.context_names == ("enqueue", "init")
    enq = m.context("enqueue")
    assert enq.doc == "ops.enqueue()"
    assert [f.text for f in enq.view] == ["view.prog_type == 'STRUCT_OPS'", "not view.sleepable"]
    # facts inherit the context's source unless they name their own
    assert [f.source for f in enq.facts] == [Source("k.c: enqueue (v1)"), Source("k.c: do_enqueue (v1)")]
    assert enq.facts[1].label == "context enqueue: p's rq is locked"
    top, nested = enq.cases
    assert (top.name, top.source) == ("top level", Source("k.c: enqueue (v1)"))
    assert [f.source for f in top.facts] == [Source("k.c: enqueue (v1)")] * 2
    # confirmed = false flows to the facts that inherit the case's source, not to those with their own
    assert nested.source == Source("k.c: reenqueue (v1)", confirmed=False)
    assert [f.source for f in nested.facts] == [Source("k.c: reenqueue (v1)", False), Source("k.c: mask (v1)", True)]
    assert str(nested.source) == "k.c: reenqueue (v1) [unconfirmed]"
    init = m.context("init")
    assert [f.source for f in init.facts] == [Source("k.c: init (v1)", False)]
    assert init.cases == ()
    # fact locations point at the line of the list
    assert enq.facts[0].where.line == line_of(VALID, "facts = [")
    assert enq.facts[0].where.path == "context.enqueue.facts[0]"


def test_valid_kfunc_objects(write_model):
    m = load_model(write_model(VALID))
    f = m.kfunc("f")
    assert f.sets == ("s",) and f.flags == ("RCU",)
    assert f.in_force == "selector" and f.resolve is None
    assert f.impl_names == ("direct", "buffered") and f.is_polymorphic
    assert f.source == Source("k.c: f (v1)", False)
    direct, buffered = f.impls
    assert direct.source == Source("k.c: f (v1)", False)          # inherited, unconfirmed
    assert direct.requires[0].label == "f/direct requires: p is the task"
    assert direct.requires[0].source == Source("k.c: f (v1)", False)
    assert buffered.source == Source("k.c: buffered (v1)", True)  # its own source
    assert buffered.requires[0].source == Source("k.c: buffered (v1)", True)
    assert [(r.select, r.message) for r in f.select] == [("direct", ""), ("error", "wrong op")]
    assert all(r.source == Source("k.c: f (v1)", False) for r in f.select)
    assert m.kfunc_set("s").registered.text == "view.prog_type == 'STRUCT_OPS'"
    assert {"rq", "pi_lock", "dsq_lock"} <= set(m.locks)
    assert {a.name for a in m.axioms} >= {"rq-lock-means-atomic"}
    assert m.var("tracked", "kf_mask").type.values == ("ENQUEUE", "DISPATCH")


def test_a_single_implementation_needs_no_rules(write_model):
    m = load_model(write_model(BASE))
    assert m.kfunc("f").in_force == "single"


def test_both_mechanisms_with_in_force(write_model):
    body = TWO_IMPLS.replace('source = "k.c: f (v1)"', 'source = "k.c: f (v1)"\nin_force = "resolver"') + """
[[kfunc.f.resolve]]
when = "view.sleepable"
select = "reject"

[[kfunc.f.resolve]]
when = "true"
select = "only"

[[kfunc.f.select]]
when = "true"
select = "two"
"""
    f = load_model(write_model(body)).kfunc("f")
    assert f.in_force == "resolver"
    assert [r.select for r in f.resolve] == ["reject", "only"]
    assert [r.select for r in f.select] == ["two"]


def test_toy_model_loads():
    toy = Path(__file__).resolve().parent / "models" / "toy"
    m = load_model(toy)
    assert m.name == "toy@1"
    assert [b.id for b in m.known_bugs] == ["perf-set-unlocked"]
    assert m.known_bugs[0].matches("safety", "perf_set", "init", "set")
    assert not m.known_bugs[0].matches("safety", "perf_set", "enqueue", "set")


def test_a_10000_deep_expression_gets_a_short_message(write_model):
    deep = "(" * 10_000 + "state.exec == 'task'" + ")" * 10_000
    body = BASE.replace('"state.exec == \'task\'"', f'"{deep}"', 1)
    err, f = body_error(write_model, body)
    check(err, f, line_of(body, "((("), "context.c1.facts[0]", "too many nested parentheses")
    assert len(err.render()) < 600 and "..." in err.excerpt, err.render()
