"""A prototype resolver for the toy model (tests/models/toy), as a user would write one for a
new subsystem. ``resolve`` decides ``insert`` the way the model's selector says;
``resolve_broken`` has a typical bug: it forgets the check that refuses calls from an operation
that allows neither enqueue nor dispatch (ops.init() here), so such a call is buffered on an rq
nobody holds."""

MODEL = "toy@1"

ENQUEUE, DISPATCH = "ENQUEUE", "DISPATCH"


def resolve(kfunc, view, tracked, arg):
    if kfunc != "insert":
        return None                              # perf_set: not decided by this prototype
    if view.get("prog_type") != "STRUCT_OPS":
        return "rejected at load"                # the enqueue_dispatch set is STRUCT_OPS only
    kf_mask = tracked.get("kf_mask", frozenset())
    if not (ENQUEUE in kf_mask or DISPATCH in kf_mask):
        return "refused at run time"             # called from the wrong op
    ddsp = tracked.get("ddsp", "none")
    if ddsp == "op_task" and arg.get("task") != "op_task":
        return "refused at run time"             # direct-dispatching another task
    if ddsp != "none":
        return "direct"
    return "buffered"


def resolve_broken(kfunc, view, tracked, arg):
    if kfunc != "insert":
        return None
    if view.get("prog_type") != "STRUCT_OPS":
        return "rejected at load"
    ddsp = tracked.get("ddsp", "none")           # BUG: no kf_mask check
    if ddsp == "op_task" and arg.get("task") != "op_task":
        return "refused at run time"
    if ddsp != "none":
        return "direct"
    return "buffered"
