"""The oracle's one door into the kernel: a ``bpf(2)`` wrapper that only loads and inspects.

Every call the oracle makes to ``bpf()`` goes through :func:`sys_bpf`, and :func:`sys_bpf`
refuses (with :class:`UnsafeBpfCommand`, before any system call) every command outside
:data:`ALLOWED_COMMANDS`: ``BPF_PROG_LOAD``, ``BPF_BTF_LOAD``, ``BPF_MAP_CREATE`` and
``BPF_OBJ_GET_INFO_BY_FD``. Nothing here can attach, run, test-run, link or pin a program.
Every file descriptor a command returns is owned by a context manager that closes it when
the ``with`` block ends, whatever happens inside.

Layouts follow ``include/uapi/linux/bpf.h`` (union bpf_attr, struct bpf_prog_info).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno as errno_mod
import os
import platform
import struct
from dataclasses import dataclass
from typing import Iterator

from polykfunc.errors import PolykfuncError

# enum bpf_cmd (include/uapi/linux/bpf.h)
BPF_MAP_CREATE = 0
BPF_PROG_LOAD = 5
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_BTF_LOAD = 18

#: the only commands the oracle may issue: load, create, inspect. Never attach, run, link, pin.
ALLOWED_COMMANDS = frozenset({BPF_MAP_CREATE, BPF_PROG_LOAD, BPF_OBJ_GET_INFO_BY_FD, BPF_BTF_LOAD})

#: __NR_bpf per machine (arch/*/include/uapi/asm/unistd*.h; asm-generic for the newer ports)
_NR_BPF = {"x86_64": 321, "aarch64": 280, "arm64": 280, "riscv64": 280, "loongarch64": 280,
           "s390x": 351, "ppc64le": 361, "ppc64": 361}

BPF_F_SLEEPABLE = 1 << 4
#: program and map types the oracle never loads: struct_ops (a sched_ext scheduler is one)
BPF_PROG_TYPE_STRUCT_OPS = 27
BPF_MAP_TYPE_STRUCT_OPS = 26
LOG_SIZE = 1 << 20


class UnsafeBpfCommand(PolykfuncError, ValueError):
    """A ``bpf()`` command the oracle must never issue (anything but load, create, inspect)."""


class BpfUnavailable(PolykfuncError):
    """``bpf()`` cannot be used here (not Linux, unknown machine, no permission)."""


@dataclass(frozen=True)
class LoadAnswer:
    """What the kernel said to one load: ``fd`` (-1 when refused), ``errno`` and the log."""

    fd: int
    errno: int
    log: str

    @property
    def loaded(self) -> bool:
        return self.fd >= 0


_libc = None


def _syscall():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    return _libc.syscall


def _nr_bpf() -> int:
    machine = platform.machine()
    if platform.system() != "Linux" or machine not in _NR_BPF:
        raise BpfUnavailable(f"bpf() is not available on {platform.system()} {machine}")
    return _NR_BPF[machine]


def sys_bpf(cmd: int, attr: ctypes.Array) -> tuple[int, int]:
    """Issue ``bpf(cmd, attr, sizeof attr)`` if ``cmd`` is a load, create or inspect command.

    Returns ``(result, errno)``; result is -1 on failure. Raises :class:`UnsafeBpfCommand`
    for any other command, without calling the kernel.
    """
    if cmd not in ALLOWED_COMMANDS:
        raise UnsafeBpfCommand(f"refusing bpf() command {cmd}: the oracle only loads and inspects "
                               f"(allowed: {sorted(ALLOWED_COMMANDS)})")
    nr = _nr_bpf()
    fn = _syscall()
    ctypes.set_errno(0)
    res = fn(ctypes.c_long(nr), ctypes.c_long(cmd), ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr)))
    return int(res), (ctypes.get_errno() if res < 0 else 0)


@contextlib.contextmanager
def owned_fd(fd: int) -> Iterator[int]:
    """Close ``fd`` when the block ends (a negative fd is passed through and not closed)."""
    try:
        yield fd
    finally:
        if fd >= 0:
            os.close(fd)


def _attr(size: int, fields: list[tuple[int, str, int]]) -> ctypes.Array:
    buf = ctypes.create_string_buffer(size)
    for off, fmt, value in fields:
        struct.pack_into("<" + fmt, buf, off, value)
    return buf


def _addr(obj) -> int:
    return ctypes.addressof(obj) if obj is not None else 0


# ------------------------------------------------------------------ BPF_PROG_LOAD

_PROG_LOAD_SIZE = 152  # through fd_array_cnt


@dataclass(frozen=True)
class ProgLoad:
    """One ``BPF_PROG_LOAD`` request (a program the oracle built)."""

    prog_type: int
    insns: bytes
    expected_attach_type: int = 0
    attach_btf_id: int = 0
    sleepable: bool = False
    prog_btf_fd: int = 0
    func_info: bytes = b""          # struct bpf_func_info records (8 bytes each)
    name: str = "pkf_probe"
    license: str = "GPL"


@contextlib.contextmanager
def load_program(req: ProgLoad, log_level: int = 1) -> Iterator[LoadAnswer]:
    """Load ``req`` with the verifier log on; the program's fd is closed when the block ends.

    Only ``BPF_PROG_LOAD``: the program is never attached or run. A log that does not fit the
    buffer is retried once at level 0 so the error line is still there. A struct_ops program
    (what a sched_ext scheduler is made of) is refused with :class:`UnsafeBpfCommand`.
    """
    if req.prog_type == BPF_PROG_TYPE_STRUCT_OPS:
        raise UnsafeBpfCommand("refusing to load a struct_ops program: the oracle never loads "
                               "a struct_ops (sched_ext) program")
    insns = ctypes.create_string_buffer(req.insns, len(req.insns))
    lic = ctypes.create_string_buffer(req.license.encode() + b"\0")
    log = ctypes.create_string_buffer(LOG_SIZE if log_level else 1)
    finfo = ctypes.create_string_buffer(req.func_info, len(req.func_info)) if req.func_info else None
    name = req.name.encode()[:15]
    fields = [
        (0, "I", req.prog_type), (4, "I", len(req.insns) // 8), (8, "Q", _addr(insns)),
        (16, "Q", _addr(lic)), (24, "I", log_level), (28, "I", LOG_SIZE if log_level else 0),
        (32, "Q", _addr(log) if log_level else 0),
        (44, "I", BPF_F_SLEEPABLE if req.sleepable else 0),
        (68, "I", req.expected_attach_type), (72, "I", req.prog_btf_fd),
        (108, "I", req.attach_btf_id),
    ]
    if finfo is not None:
        fields += [(76, "I", 8), (80, "Q", _addr(finfo)), (88, "I", len(req.func_info) // 8)]
    attr = _attr(_PROG_LOAD_SIZE, fields)
    attr[48:48 + len(name)] = name
    fd, err = sys_bpf(BPF_PROG_LOAD, attr)
    if fd < 0 and err == errno_mod.ENOSPC and log_level:
        # the log overflowed: the final error line may be cut; ask again with the short log
        with load_program(req, log_level=0) as again:
            yield again
            return
    with owned_fd(fd):
        yield LoadAnswer(fd, err, log.value.decode("utf-8", "replace"))


# ------------------------------------------------------------------ BPF_BTF_LOAD

@contextlib.contextmanager
def load_btf(blob: bytes) -> Iterator[LoadAnswer]:
    """Load program BTF (for func_info and map value types); the fd is closed when the block ends."""
    data = ctypes.create_string_buffer(blob, len(blob))
    log = ctypes.create_string_buffer(1 << 16)
    attr = _attr(40, [(0, "Q", _addr(data)), (8, "Q", _addr(log)), (16, "I", len(blob)),
                      (20, "I", 1 << 16), (24, "I", 1)])
    fd, err = sys_bpf(BPF_BTF_LOAD, attr)
    with owned_fd(fd):
        yield LoadAnswer(fd, err, log.value.decode("utf-8", "replace"))


# ------------------------------------------------------------------ BPF_MAP_CREATE

BPF_MAP_TYPE_ARRAY = 2


@contextlib.contextmanager
def create_map(map_type: int, key_size: int, value_size: int, max_entries: int,
               btf_fd: int = 0, btf_key_type_id: int = 0, btf_value_type_id: int = 0,
               map_flags: int = 0) -> Iterator[LoadAnswer]:
    """Create a map (a probe's timer or lock holder); the fd is closed when the block ends.
    A struct_ops map (it would register a scheduler when updated) is refused."""
    if map_type == BPF_MAP_TYPE_STRUCT_OPS:
        raise UnsafeBpfCommand("refusing to create a struct_ops map")
    attr = _attr(72, [(0, "I", map_type), (4, "I", key_size), (8, "I", value_size),
                      (12, "I", max_entries), (16, "I", map_flags), (48, "I", btf_fd),
                      (52, "I", btf_key_type_id), (56, "I", btf_value_type_id)])
    fd, err = sys_bpf(BPF_MAP_CREATE, attr)
    with owned_fd(fd):
        yield LoadAnswer(fd, err, "")


# ------------------------------------------------------------------ BPF_OBJ_GET_INFO_BY_FD

_PROG_INFO_SIZE = 232  # struct bpf_prog_info up to attach_btf_id and beyond; zero-filled


def xlated_insns(prog_fd: int) -> bytes:
    """The loaded program's translated (post-fixup) instructions, as the kernel reports them.

    Raises :class:`BpfUnavailable` when the kernel does not give them (no permission).
    """
    def ask(xlated_len: int, buf) -> tuple[int, int, bytes]:
        info = ctypes.create_string_buffer(_PROG_INFO_SIZE)
        struct.pack_into("<I", info, 20, xlated_len)
        struct.pack_into("<Q", info, 32, _addr(buf))
        attr = _attr(16, [(0, "I", prog_fd), (4, "I", _PROG_INFO_SIZE), (8, "Q", _addr(info))])
        res, err = sys_bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
        return res, err, info.raw

    res, err, raw = ask(0, None)
    if res < 0:
        raise BpfUnavailable(f"BPF_OBJ_GET_INFO_BY_FD failed: {os.strerror(err)}")
    (length,) = struct.unpack_from("<I", raw, 20)
    if length == 0:
        raise BpfUnavailable("the kernel reports no translated instructions (bpf_dump_raw_ok is false?)")
    buf = ctypes.create_string_buffer(length)
    res, err, raw = ask(length, buf)
    if res < 0:
        raise BpfUnavailable(f"BPF_OBJ_GET_INFO_BY_FD failed: {os.strerror(err)}")
    return buf.raw[:length]


# ------------------------------------------------------------------ permission

_TRIVIAL = struct.pack("<BBhi", 0xB7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0)  # r0 = 0; exit


def permission_problem() -> str | None:
    """None when this process may load BPF programs; otherwise one line saying why not.

    Loads (and at once closes) a two-instruction socket filter.
    """
    try:
        with load_program(ProgLoad(prog_type=1, insns=_TRIVIAL), log_level=0) as ans:
            if ans.loaded:
                return None
            err = ans.errno
    except BpfUnavailable as e:
        return f"the oracle needs bpf(): {e}"
    if err in (errno_mod.EPERM, errno_mod.EACCES):
        return ("the oracle needs permission to load BPF programs (root or CAP_BPF+CAP_PERFMON): "
                f"bpf(BPF_PROG_LOAD) said {errno_mod.errorcode.get(err, err)}")
    if err == errno_mod.ENOSYS:
        return "the oracle needs bpf(), which this kernel does not provide (ENOSYS)"
    return f"the oracle cannot load a trivial BPF program here: {os.strerror(err)}"
