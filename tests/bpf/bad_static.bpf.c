/* Misuse through a static subprogram: fine from ops.enqueue, misuse from ops.tick
 * (a REST op may not insert tasks). */
#include "scx_min.h"

static __noinline void insert_task(struct task_struct *p)
{
	scx_insert(p, SHARED_DSQ, SCX_SLICE_DFL, 0);
}

OP(static_enqueue)
{
	insert_task(ARG(0, struct task_struct *));
	return 0;
}

OP(static_tick)
{
	insert_task(ARG(0, struct task_struct *));
	return 0;
}

SEC(".struct_ops.link")
struct sched_ext_ops static_ops = {
	.enqueue = (void *)static_enqueue,
	.tick = (void *)static_tick,
	.name = "bad_static",
};
