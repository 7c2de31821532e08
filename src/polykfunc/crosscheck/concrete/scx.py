"""sched_ext objects shared by the concrete resolvers: tasks, the per-CPU and per-task records
kfuncs read, and the error path.

A kfunc body that calls ``scx_ops_error()``/``scx_error()`` and returns is a *refused* call:
the scheduler is ejected and nothing is done. Here that is :class:`ScxError`, raised by
:func:`scx_error` and turned into :data:`~polykfunc.crosscheck.concrete.REFUSED` by
:func:`run_body`.

The objects are built from a model's vocabulary (the bundled sched_ext models share it, see
model/bundled/CONVENTIONS.md): ``arg.task`` names which task the program passes
(``op_task`` is the task the running operation is about, ``op_task2`` its second subject,
``other`` any other task, ``none`` NULL) and ``arg.task_cpu`` that task's CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from . import REFUSED, REJECTED
from .bpf import VERIFIER_B9C5, KfuncRegistry, VerifierReject, VerifierRules, check_kfunc_call, prog_from_view


class ScxError(Exception):
    """scx_ops_error() / scx_error(): the kfunc reports an error and returns."""


def scx_error(message: str) -> None:
    raise ScxError(message)


@dataclass(frozen=True)
class Task:
    """A task_struct, identified by the role the model gives it, with task_cpu(p)."""

    role: str
    cpu: int


@dataclass(frozen=True)
class _ErrPtr:
    errno: int

    def __repr__(self) -> str:
        return f"ERR_PTR({self.errno})"


ESRCH = 3
#: the marker mark_direct_dispatch() leaves in direct_dispatch_task after a direct dispatch
ERR_PTR_ESRCH = _ErrPtr(-ESRCH)


def IS_ERR(p) -> bool:
    return isinstance(p, _ErrPtr)


def task_arg(arg: Mapping[str, object]) -> Task | None:
    """The task pointer the program passes (None for NULL)."""
    role = arg.get("task", "none")
    if role == "none":
        return None
    return Task(str(role), int(arg.get("task_cpu", 0)))  # type: ignore[arg-type]


def subject_tasks(tracked: Mapping[str, object], arg: Mapping[str, object]) -> list[Task | None]:
    """current->scx.kf_tasks[]: what SCX_CALL_OP_TASK / _2TASKS recorded.

    The recorded tasks are the operation's subjects; when the program passes one of them, it
    is the same pointer (with the same CPU) the kernel recorded.
    """
    kf = tracked.get("kf_tasks", "none")
    p = task_arg(arg)
    cpu = p.cpu if p is not None else 0

    def subject(role: str) -> Task:
        return p if p is not None and p.role == role else Task(role, cpu)

    if kf == "op_task":
        return [subject("op_task"), None]
    if kf == "both":
        return [subject("op_task"), subject("op_task2")]
    return [None, None]


def direct_dispatch_task(tracked: Mapping[str, object], arg: Mapping[str, object]):
    """The per-CPU direct_dispatch_task: NULL, the task being selected/enqueued, or the
    ERR_PTR(-ESRCH) spoil marker."""
    d = tracked.get("ddsp", "none")
    if d == "spoiled":
        return ERR_PTR_ESRCH
    if d == "op_task":
        p = task_arg(arg)
        return p if p is not None and p.role == "op_task" else Task("op_task", 0)
    return None


Body = Callable[..., str]


def run_call(registry: KfuncRegistry, kfunc: str, view: Mapping[str, object], body: Callable[[], str],
             takes_task: bool, arg: Mapping[str, object], rules: VerifierRules = VERIFIER_B9C5) -> tuple[str, str]:
    """Load time, then run time: the verifier's checks on the call site (as ``rules`` has
    them), then the kfunc body.

    A task argument the program passes as NULL (``arg.task == 'none'``) is one the verifier
    sees as NULL or maybe-NULL: its register tracking is sound, so a NULL cannot reach a
    kfunc through a register it typed non-NULL.

    Returns ``(outcome, why)``: the implementation the body reaches, REJECTED or REFUSED, and
    the verifier's or the kfunc's message (or ``"ok"``).
    """
    prog = prog_from_view(view, rules)
    try:
        null = ("p",) if takes_task and task_arg(arg) is None else ()
        check_kfunc_call(registry, kfunc, prog, null)
    except VerifierReject as e:
        return REJECTED, f"verifier: {e}"
    try:
        return body(), "ok"
    except ScxError as e:
        return REFUSED, f"scx_error: {e}"
