"""A probe as people read it: an instruction listing and the equivalent C (libbpf style)."""

from __future__ import annotations

from polykfunc.programs.insns import decode

from .contexts import ProgContext
from .inventory import Inventory, KernelKfunc
from .program import MAP_LOOKUP_ELEM, REGION_KFUNCS, TIMER_INIT, TIMER_SET_CALLBACK

_HELPERS = {MAP_LOOKUP_ELEM: "bpf_map_lookup_elem", TIMER_INIT: "bpf_timer_init",
            TIMER_SET_CALLBACK: "bpf_timer_set_callback"}
_SIZE = {0x18: "u64", 0x00: "u32", 0x08: "u16", 0x10: "u8"}

#: libbpf section names (tools/lib/bpf/libbpf.c section_defs)
SECTION = {"socket_filter": "socket", "tc": "tc", "act": "action", "cgroup_skb": "cgroup_skb/ingress",
           "lwt_in": "lwt_in", "lwt_out": "lwt_out", "lwt_xmit": "lwt_xmit", "lwt_seg6local": "lwt_seg6local",
           "sk_skb": "sk_skb/stream_verdict", "xdp": "xdp", "kprobe": "kprobe/do_nanosleep",
           "tracepoint": "tracepoint/syscalls/sys_enter_nanosleep", "raw_tp": "raw_tp/sys_enter",
           "tp_btf": "tp_btf/sched_switch", "iter": "iter/task", "iter.s": "iter.s/task", "syscall": "syscall",
           "syscall.s": "syscall", "fentry": "fentry/bpf_fentry_test1", "fentry.s": "fentry.s/bpf_fentry_test1",
           "lsm/file_open": "lsm/file_open", "lsm.s/file_open": "lsm.s/file_open",
           "lsm.s/inode_setxattr": "lsm.s/inode_setxattr", "lsm.s/inode_need_killpriv": "lsm.s/inode_need_killpriv",
           "lsm.s/path_unlink": "lsm.s/path_unlink"}


def disassemble(code: bytes, inv: Inventory) -> list[str]:
    """One line per instruction, in the verifier log's notation."""
    names = {k.btf_id: k.name for k in inv.kfuncs}
    out = []
    for i in decode(code):
        op = i.opcode
        if i.is_ld_imm64:
            what = {1: f"map_fd({i.imm})", 4: f"subprog pc{i.imm:+d}"}.get(i.src, f"{i.imm64:#x}")
            text = f"r{i.dst} = {what} ll"
        elif i.is_call:
            if i.src == 2:
                text = f"call {names.get(i.imm, f'kfunc#{i.imm}')}"
            elif i.src == 1:
                text = f"call pc{i.imm:+d}"
            else:
                text = f"call {_HELPERS.get(i.imm, f'helper#{i.imm}')}"
        elif i.is_exit:
            text = "exit"
        elif op == 0xBF:
            text = f"r{i.dst} = r{i.src}"
        elif op == 0xB7:
            text = f"r{i.dst} = {i.imm}"
        elif op == 0x07:
            text = f"r{i.dst} += {i.imm}"
        elif op & 0x07 == 0x02:   # ST
            text = f"*({_SIZE[op & 0x18]} *)(r{i.dst} {i.off:+d}) = {i.imm}"
        elif op == 0x15:
            text = f"if r{i.dst} == {i.imm} goto pc{i.off:+d}"
        else:
            text = f"op {op:#04x} r{i.dst} r{i.src} {i.off} {i.imm}"
        out.append(f"{i.idx:3d}: ({op:02x}) {text}")
    return out


def _args_c(k: KernelKfunc, ctx_arg: bool) -> str:
    out = []
    for p in k.params:
        if p.kind == "ptr_struct" and p.struct_name == "bpf_dynptr":
            out.append("&dynptr")
        elif p.kind == "ptr_struct" and p.struct_name.startswith("bpf_iter_"):
            out.append("&it")
        elif p.kind == "ptr_struct" and ctx_arg and p.struct_name in ("__sk_buff", "xdp_md", "pt_regs"):
            out.append("ctx")
        elif p.kind in ("ptr_void", "ptr_other"):
            out.append("buf")
        elif p.name.endswith(("__sz", "__szk")):
            out.append("sizeof(buf)")
        else:
            out.append("0" if p.kind == "scalar" else "NULL")
    return ", ".join(out)


def c_source(k: KernelKfunc, ctx: ProgContext, region: str, subprog: str) -> str:
    """The probe as a libbpf C program (what the instructions do, for a report)."""
    enter, leave = ("", "")
    if region != "none":
        lock, unlock = REGION_KFUNCS[region]
        enter = f"\t{lock}(&flags);\n" if region == "irq" else f"\t{lock}();\n"
        leave = f"\t{unlock}(&flags);\n" if region == "irq" else f"\t{unlock}();\n"
    locals_ = "\tstruct bpf_dynptr dynptr;\n\tchar buf[32] = {};\n"
    call = f"\t{k.name}({_args_c(k, subprog != 'timer_cb')});\n"
    sec = SECTION.get(ctx.name, ctx.name)
    head = f"/* {k.prototype}; */\n\n"
    if subprog == "main":
        flags = "\tunsigned long flags;\n" if region == "irq" else ""
        return head + f'SEC("{sec}")\nint probe(void *ctx)\n{{\n{flags}{locals_}{enter}{call}{leave}\treturn 0;\n}}\n'
    if subprog in ("static", "global"):
        attr = "static __noinline" if subprog == "static" else "__noinline"
        arg = "void *ctx" if subprog == "static" else "void *ctx __arg_ctx"
        flags = "\tunsigned long flags;\n" if region == "irq" else ""
        return (head + f"{attr} int sub({arg})\n{{\n{locals_}{call}\treturn 0;\n}}\n\n"
                f'SEC("{sec}")\nint probe(void *ctx)\n{{\n{flags}{enter}\tsub(ctx);\n{leave}\treturn 0;\n}}\n')
    return (head + "struct val { struct bpf_timer t; };\n"
            "struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int);\n"
            "\t__type(value, struct val); } timers SEC(\".maps\");\n\n"
            f"static int cb(void *map, int *key, struct val *v)\n{{\n{locals_}{call}\treturn 0;\n}}\n\n"
            f'SEC("{sec}")\nint probe(void *ctx)\n{{\n\tint key = 0;\n\tstruct val *v = bpf_map_lookup_elem(&timers, &key);\n\n'
            "\tif (v) {\n\t\tbpf_timer_init(&v->t, &timers, CLOCK_MONOTONIC);\n"
            "\t\tbpf_timer_set_callback(&v->t, cb);\n\t}\n\treturn 0;\n}\n")
