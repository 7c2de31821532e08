"""What the verifier said to a probe, as an outcome class: table-driven, from the log.

Each :class:`Rule` names an outcome class, the log message that identifies it (a regular
expression over the verifier's error line) and where the error must sit relative to the probed
call instruction (``at_call``: exactly there; ``any``: anywhere). Rules are tried in order;
a log that matches none is classified by the place of its error alone: before the probed call
or before verification started (the probe's context or position is not available here),
at it (the call passed registration and failed on its arguments), or elsewhere after the
call was verified (the call was accepted; something later was not: the log shows the call
instruction itself, ``N: (85) call ...``).

Messages are the ones ``kernel/bpf/verifier.c`` prints (Linux 6.18); tests/test_oracle_classify.py
pins every class to a real log line of that kernel.
"""

from __future__ import annotations

import errno as errno_mod
import re
from dataclasses import dataclass

# outcome classes
ACCEPTED = "accepted"
NOT_OBSERVABLE = "not_observable"
NOT_ALLOWED = "not_allowed"
NEEDS_SLEEPABLE = "needs_sleepable"
SLEEPABLE_IN_REGION = "sleepable_in_region"
GLOBAL_SLEEPS_IN_REGION = "global_sleeps_in_region"
NEEDS_RCU = "needs_rcu"
ARGS_REJECTED = "args_rejected"
REJECTED_AFTER_CALL = "rejected_after_call"
SETUP_REJECTED = "setup_rejected"
REJECTED_OTHER = "rejected_other"

#: class -> what it means, for tables and docs (in the order a report lists them)
MEANING = {
    ACCEPTED: "loaded: the verifier accepted the program",
    NOT_OBSERVABLE: "refused before verification (EPERM, empty log): this kernel does not let this program type load",
    NOT_ALLOWED: "calling kernel function ... is not allowed: not registered for this program, or a filter denied it",
    NEEDS_SLEEPABLE: "program must be sleepable to call this sleepable kfunc",
    SLEEPABLE_IN_REGION: "sleepable kfunc called inside an RCU / non-preemptible / IRQ-disabled region",
    GLOBAL_SLEEPS_IN_REGION: "a global subprogram that may sleep is called in a non-sleepable context",
    NEEDS_RCU: "the kfunc needs an RCU critical section",
    ARGS_REJECTED: "passed registration and the context checks before them, then failed on its arguments",
    REJECTED_AFTER_CALL: "the call was accepted; an instruction after it was not (reference leak, open region)",
    SETUP_REJECTED: "the probe failed before reaching the call (its program context, region or callback is not available here)",
    REJECTED_OTHER: "rejected with an empty log",
}

#: classes in which the call itself passed the verifier's allow and context checks
ADMITTED = frozenset({ACCEPTED, ARGS_REJECTED, REJECTED_AFTER_CALL})
#: classes that say nothing about the kfunc (the program or the position never got to it)
NO_ANSWER = frozenset({NOT_OBSERVABLE, SETUP_REJECTED, REJECTED_OTHER})


@dataclass(frozen=True)
class Rule:
    outcome: str
    pattern: re.Pattern[str]
    where: str            # "at_call" or "any"


def _r(outcome: str, regex: str, where: str = "at_call") -> Rule:
    return Rule(outcome, re.compile(regex), where)


#: the classification table (first match wins)
RULES: tuple[Rule, ...] = (
    _r(NOT_ALLOWED, r"^calling kernel function (\S+) is not allowed"),
    _r(NEEDS_SLEEPABLE, r"^program must be sleepable to call sleepable kfunc (\S+)"),
    _r(SLEEPABLE_IN_REGION, r"^kernel func (\S+) is sleepable within (.+)"),
    _r(GLOBAL_SLEEPS_IN_REGION, r"^global functions that may sleep are not allowed in non-sleepable context", "any"),
    _r(NEEDS_RCU, r"^kernel func (\S+) requires RCU critical section protection"),
)

_INSN_LINE = re.compile(r"^(\d+): (?:\(|R\d|frame)")
_TAIL = re.compile(r"^(processed \d+ insns|verification time|stack depth|arg#\d+ reference type\('UNKNOWN)")


@dataclass(frozen=True)
class Verdict:
    """The kernel's answer to one probe: the outcome class, the log line that decided it, and
    the instruction the error was reported at (None for a load or an error with no place)."""

    outcome: str
    line: str = ""
    insn: int | None = None

    @property
    def admitted(self) -> bool:
        return self.outcome in ADMITTED


def error_place(log: str) -> tuple[str, int | None]:
    """The verifier's error line (the first message after the last instruction line) and the
    index of that last instruction; ("", None) when the log holds neither."""
    lines = [ln.rstrip() for ln in log.splitlines() if ln.strip()]
    last_insn = None
    last_at = -1
    for i, ln in enumerate(lines):
        m = _INSN_LINE.match(ln)
        if m:
            last_insn, last_at = int(m.group(1)), i
    msg = ""
    for ln in lines[last_at + 1:]:
        if not _TAIL.match(ln):
            msg = ln
            break
    if not msg:  # an error printed before any instruction (BTF, func_info)
        msg = next((ln for ln in lines if not _TAIL.match(ln) and not _INSN_LINE.match(ln)), "")
    return msg, last_insn


def classify(loaded: bool, err: int, log: str, call_insn: int) -> Verdict:
    """The outcome class of a probe whose call is instruction ``call_insn`` (see module doc)."""
    if loaded:
        return Verdict(ACCEPTED)
    if err == errno_mod.EPERM and not log.strip():
        return Verdict(NOT_OBSERVABLE, "EPERM before verification (empty log)")
    msg, at = error_place(log)
    text = "\n".join(log.splitlines())
    for rule in RULES:
        m = None
        for ln in text.splitlines():
            m = rule.pattern.search(ln.strip())
            if m:
                break
        if m is None:
            continue
        if rule.where == "any" or at == call_insn:
            return Verdict(rule.outcome, m.group(0), at)
    if at == call_insn:
        return Verdict(ARGS_REJECTED, msg, at)
    if re.search(rf"^{call_insn}: \(85\) call ", log, re.M):
        return Verdict(REJECTED_AFTER_CALL, msg, at)
    if msg:
        return Verdict(SETUP_REJECTED, msg, at)
    return Verdict(REJECTED_OTHER, f"errno {errno_mod.errorcode.get(err, err)}", at)
