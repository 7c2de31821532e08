"""Argument provenance: where a kfunc argument's value comes from, and what that says.

The dataflow (:mod:`~polykfunc.programs.dataflow`) gives each argument an abstract value; here
it becomes facts in the models' vocabulary:

| value | fact |
|---|---|
| ``NULL`` task | ``arg.task == 'none'`` |
| the op's task parameter ``ctx[i]`` | ``arg.task == 'op_task'`` (``'op_task2'`` for the second) |
| ``scx_bpf_task_cpu(ctx[i])`` of the op's task | ``arg.cpu == state.op_task_cpu`` |
| ``bpf_get_smp_processor_id()`` | ``arg.cpu == state.cpu`` |
| anything else (a map value, arithmetic, ...) | nothing: the argument is unconstrained |

When a finding depends on an argument that stays unconstrained, :func:`candidates` offers the
values that would make the call safe, so that the check can report a *condition* ("safe if
cpu is the CPU whose rq is held") instead of a refusal the program may never make.
"""

from __future__ import annotations

from .dataflow import Const, CtxArg, Ret
from .modelfacts import Stated

#: helper ids (include/uapi/linux/bpf.h: __BPF_FUNC_MAPPER)
GET_SMP_PROCESSOR_ID = "8"
#: kfuncs that return the CPU of their task argument (kernel/sched/ext.c: scx_bpf_task_cpu)
TASK_CPU_KFUNCS = frozenset({"scx_bpf_task_cpu"})

#: values that would make a call safe, per argument role: (fact, what it means)
CANDIDATES = {
    "cpu": (("arg.cpu == state.locked_rq", "cpu is the CPU whose rq is held"),
            ("arg.cpu == state.cpu", "cpu is this CPU")),
    "task": (("arg.task == 'op_task'", "the task is the one the op operates on"),),
}


def argument_facts(args, roles, member_tasks: tuple[int, ...], in_op: bool, trusted: bool) -> list[Stated]:
    """Facts about the kfunc's arguments (see the module table).

    ``args`` are the resolved r1..r5, ``roles`` each parameter's role ("task", "cpu" or None),
    ``member_tasks`` the struct_ops member's task parameters, ``in_op`` whether the call runs
    inside the op (not in an async callback), ``trusted`` whether the verifier passes only
    non-NULL tasks.
    """
    out = []
    for i, role in enumerate(roles[:5]):
        v = args[i]
        if role == "task":
            if isinstance(v, Const) and v.value == 0:
                out.append(Stated("arg.task == 'none'", f"argument {i + 1} is NULL"))
            elif trusted:
                out.append(Stated("arg.task != 'none'", "the verifier passes a trusted or RCU task argument only "
                                  "when it is not NULL (check_kfunc_args)"))
            n = _op_task(v, member_tasks, in_op)
            if n is not None:
                subject, flag = ("op_task", "state.has_op_task") if n == 0 else ("op_task2", "state.has_op_task2")
                why = f"argument {i + 1} is the op's task parameter ctx[{v.index}]"
                out.append(Stated(f"implies({flag}, arg.task == '{subject}')", why))
                out.append(Stated(f"implies(not {flag}, arg.task == 'other')", why))
        elif role == "cpu":
            if isinstance(v, Ret) and v.kind == "helper" and v.name == GET_SMP_PROCESSOR_ID:
                out.append(Stated("arg.cpu == state.cpu", f"argument {i + 1} is bpf_get_smp_processor_id()"))
            elif isinstance(v, Ret) and v.kind == "kfunc" and v.name in TASK_CPU_KFUNCS \
                    and _op_task(v.arg1, member_tasks, in_op) == 0:
                out.append(Stated("implies(state.has_op_task, arg.cpu == state.op_task_cpu)",
                                  f"argument {i + 1} is {v.name}() of the op's task parameter ctx[{v.arg1.index}]"))
    return out


def _op_task(v, member_tasks: tuple[int, ...], in_op: bool) -> int | None:
    """0 or 1 when ``v`` is the op's first or second task parameter, else None."""
    if in_op and isinstance(v, CtxArg) and v.index in member_tasks:
        return member_tasks.index(v.index)
    return None


def candidates(sc, roles, stated: list[Stated]) -> list[tuple[str, str]]:
    """The values (fact, meaning) to try for each argument the facts leave unconstrained."""
    said = " ".join(f.text for f in stated)
    out = []
    for role in dict.fromkeys(r for r in roles[:5] if r):
        var = f"arg.{role}"
        if f"{var} ==" in said:
            continue
        out += list(CANDIDATES.get(role, ()))
    return out
