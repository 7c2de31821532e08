"""The oracle only loads and inspects: its one bpf() wrapper refuses every other command.

These tests need no kernel: the wrapper must refuse before it reaches the system call.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from polykfunc.oracle import syscall as S

ORACLE = Path(S.__file__).parent

# enum bpf_cmd values the oracle must never issue (include/uapi/linux/bpf.h)
FORBIDDEN = {"BPF_MAP_UPDATE_ELEM": 2, "BPF_OBJ_PIN": 6, "BPF_OBJ_GET": 7, "BPF_PROG_ATTACH": 8,
             "BPF_PROG_DETACH": 9, "BPF_PROG_TEST_RUN": 10, "BPF_RAW_TRACEPOINT_OPEN": 17,
             "BPF_LINK_CREATE": 28, "BPF_LINK_UPDATE": 29, "BPF_ENABLE_STATS": 32,
             "BPF_ITER_CREATE": 33, "BPF_PROG_BIND_MAP": 35, "BPF_TOKEN_CREATE": 36}


@pytest.fixture
def no_kernel(monkeypatch):
    def boom():
        raise AssertionError("the wrapper reached the system call")
    monkeypatch.setattr(S, "_syscall", boom)


def test_allowed_commands_are_exactly_load_create_inspect():
    assert S.ALLOWED_COMMANDS == {S.BPF_PROG_LOAD, S.BPF_BTF_LOAD, S.BPF_MAP_CREATE, S.BPF_OBJ_GET_INFO_BY_FD}
    assert (S.BPF_MAP_CREATE, S.BPF_PROG_LOAD, S.BPF_OBJ_GET_INFO_BY_FD, S.BPF_BTF_LOAD) == (0, 5, 15, 18)


@pytest.mark.parametrize("name", sorted(FORBIDDEN))
def test_wrapper_refuses_named_commands(no_kernel, name):
    with pytest.raises(S.UnsafeBpfCommand, match="refusing bpf"):
        S.sys_bpf(FORBIDDEN[name], S._attr(128, []))


def test_wrapper_refuses_every_other_command(no_kernel):
    for cmd in range(-1, 256):
        if cmd in S.ALLOWED_COMMANDS:
            continue
        with pytest.raises(S.UnsafeBpfCommand):
            S.sys_bpf(cmd, S._attr(128, []))


def test_never_struct_ops(no_kernel):
    with pytest.raises(S.UnsafeBpfCommand, match="struct_ops"):
        with S.load_program(S.ProgLoad(prog_type=S.BPF_PROG_TYPE_STRUCT_OPS, insns=S._TRIVIAL)):
            pass
    with pytest.raises(S.UnsafeBpfCommand, match="struct_ops"):
        with S.create_map(S.BPF_MAP_TYPE_STRUCT_OPS, 4, 8, 1):
            pass


def test_the_wrapper_is_the_only_door():
    """No other oracle module makes a system call, and every bpf() call names an allowed command."""
    for f in sorted(ORACLE.glob("*.py")):
        text = f.read_text()
        if f.name != "syscall.py":
            assert "ctypes" not in text and "_syscall" not in text and "libc" not in text, f.name
            assert "sys_bpf" not in text, f"{f.name} calls sys_bpf directly"
            continue
        calls = re.findall(r"sys_bpf\((\w+)", text)
        assert calls and set(calls) <= {"cmd", "BPF_PROG_LOAD", "BPF_BTF_LOAD", "BPF_MAP_CREATE",
                                        "BPF_OBJ_GET_INFO_BY_FD"}, calls
        assert text.count("fn(") == 1  # the one system call, inside sys_bpf
