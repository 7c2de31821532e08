/* Misuse through a nested op: ops.dequeue inserts the task it is dequeuing. At top level the
 * kernel refuses that (a REST op); when ops.dequeue runs nested inside ops.dispatch, the
 * DISPATCH bit of the outer op lets the insert through (v6.12: kf_mask ENQUEUE|DISPATCH has no
 * nesting boundary), and the task goes into ops.dispatch's buffer. */
#include "scx_min.h"

OP(nested_dequeue)
{
	scx_insert(ARG(0, struct task_struct *), SHARED_DSQ, SCX_SLICE_DFL, 0);
	return 0;
}

OP(nested_dispatch)
{
	scx_move_to_local(SHARED_DSQ);
	return 0;
}

SEC(".struct_ops.link")
struct sched_ext_ops nested_ops = {
	.dequeue = (void *)nested_dequeue,
	.dispatch = (void *)nested_dispatch,
	.name = "bad_nested",
};
