"""The committed BPF test objects (tests/bpf/*.bpf.o) match their sources.

Without clang only the bookkeeping is checked (every source has both objects, every object a
source). With clang every program is rebuilt and the facts check-prog reads from each object
(call sites, kfuncs, lines, reaching contexts, site facts) must equal those of the committed
one; the bytes may differ between clang versions, the facts must not.
"""

from __future__ import annotations

import pytest

import optional_tools
from bpf_build import BPF_DIR, build_all, clang_version, object_facts, object_name, sources


def test_every_source_has_both_committed_objects_and_every_object_a_source():
    names = sources()
    assert "good" in names and len(names) >= 8
    expected = {object_name(n, old) for n in names for old in (False, True)}
    present = {p.name for p in BPF_DIR.glob("*.bpf.o")}
    assert not expected - present, f"missing (run `make bpf-objects` and commit): {sorted(expected - present)}"
    assert not present - expected, f"objects without a source (delete them): {sorted(present - expected)}"


def test_the_facts_differ_when_a_source_changes(tmp_path):
    """The comparison below can fail: another program's facts are not good.bpf.o's."""
    assert object_facts(BPF_DIR / "good.bpf.o") != object_facts(BPF_DIR / "good-old.bpf.o")
    assert object_facts(BPF_DIR / "good.bpf.o") == object_facts(BPF_DIR / "good.bpf.o")


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    clang = optional_tools.require("clang")
    out = tmp_path_factory.mktemp("bpf-rebuilt")
    build_all(clang, out)
    return out, clang_version(clang)


@pytest.mark.parametrize("name", sources())
@pytest.mark.parametrize("old", [False, True], ids=["new", "old"])
def test_a_rebuilt_object_gives_check_prog_the_same_facts(rebuilt, name, old):
    out, version = rebuilt
    obj = object_name(name, old)
    committed, fresh = object_facts(BPF_DIR / obj), object_facts(out / obj)
    assert fresh == committed, (f"{obj} is stale: {name}.bpf.c now compiles (by {version}) to other call sites or "
                                "contexts; run `make bpf-objects` and commit the objects")
