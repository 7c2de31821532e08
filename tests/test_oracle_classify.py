"""The oracle's log classifier, pinned to real verifier logs of Linux 6.18.44 (tests/oracle_logs).

Each file's first line records the probe, the probed call's instruction and the errno; the
file name says the class the log must get. No kernel is needed: the logs are data.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from polykfunc.oracle import classify as C

LOGS = Path(__file__).parent / "oracle_logs"
HEADER = re.compile(r"^# probe: (?P<probe>.*); call_insn=(?P<call>\d+) errno=(?P<errno>\d+) loaded=(?P<loaded>[01])")


def _cases():
    for f in sorted(LOGS.glob("*.log")):
        head, _, log = f.read_text().partition("\n")
        m = HEADER.match(head)
        assert m, f"{f.name}: bad header"
        expected = max((c for c in C.MEANING if f.stem.startswith(c)), key=len)
        yield pytest.param(expected, int(m["loaded"]), int(m["errno"]), log, int(m["call"]), id=f.stem)


@pytest.mark.parametrize("expected, loaded, err, log, call", list(_cases()))
def test_real_log_gets_its_class(expected, loaded, err, log, call):
    assert C.classify(bool(loaded), err, log, call).outcome == expected


def test_every_class_has_a_real_log():
    covered = {max((c for c in C.MEANING if f.stem.startswith(c)), key=len) for f in LOGS.glob("*.log")}
    # rejected_other is by definition the answer with no log at all (tested below)
    assert covered == set(C.MEANING) - {C.REJECTED_OTHER}


def test_decisive_lines_are_the_kernels():
    log = (LOGS / "not_allowed.log").read_text().partition("\n")[2]
    v = C.classify(False, 13, log, 11)
    assert v.line == "calling kernel function bpf_set_dentry_xattr is not allowed" and v.insn == 11
    log = (LOGS / "sleepable_in_region_rcu.log").read_text().partition("\n")[2]
    assert C.classify(False, 13, log, 12).line.endswith("is sleepable within rcu_read_lock region")


def test_a_registration_message_elsewhere_than_the_call_is_not_the_kfuncs():
    # the region kfunc (insn 1) is refused: the probed kfunc at 5 was never reached
    log = "0: R1=ctx() R10=fp0\n1: (85) call bpf_rcu_read_lock#1\ncalling kernel function bpf_rcu_read_lock is not allowed\n"
    v = C.classify(False, 13, log, 5)
    assert v.outcome == C.SETUP_REJECTED and v.insn == 1


def test_empty_log_without_eperm_is_rejected_other():
    assert C.classify(False, 22, "", 3).outcome == C.REJECTED_OTHER
    assert C.classify(False, 1, "", 3).outcome == C.NOT_OBSERVABLE


def test_admitted_classes():
    assert C.Verdict(C.ARGS_REJECTED).admitted and C.Verdict(C.ACCEPTED).admitted
    assert not C.Verdict(C.NOT_ALLOWED).admitted and not C.Verdict(C.NOT_OBSERVABLE).admitted
