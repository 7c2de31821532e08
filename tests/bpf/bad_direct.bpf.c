/* Misuse in the program body: ops.enqueue consumes from a DSQ, which only ops.dispatch may. */
#include "scx_min.h"

OP(direct_enqueue)
{
	scx_insert(ARG(0, struct task_struct *), SHARED_DSQ, SCX_SLICE_DFL, ctx[1]);
	scx_move_to_local(SHARED_DSQ);
	return 0;
}

SEC(".struct_ops.link")
struct sched_ext_ops direct_ops = { .enqueue = (void *)direct_enqueue, .name = "bad_direct" };
