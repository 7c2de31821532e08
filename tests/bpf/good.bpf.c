/* A scheduler the kernel accepts and runs correctly: every path kind, used right.
 * polykfunc check-prog must report no error for it. */
#include "scx_min.h"

/* static subprogram: verified inline, in each caller's state */
static __noinline void insert_shared(struct task_struct *p, u64 enq_flags)
{
	scx_insert(p, SHARED_DSQ, SCX_SLICE_DFL, enq_flags);
}

/* global subprogram: verified once, from its prototype */
__noinline int kick_self(int unused)
{
	scx_bpf_kick_cpu(bpf_get_smp_processor_id(), 0);
	return 0;
}

/* synchronous callback: runs inside bpf_loop, in ops.dispatch's context */
static int count_cb(u32 i, void *data)
{
	*(s32 *)data += scx_bpf_dsq_nr_queued(SHARED_DSQ);
	return 0;
}

/* asynchronous callback: a bpf_timer, later, in softirq */
static int timer_fn(void *map, int *key, struct bpf_timer *timer)
{
	scx_bpf_kick_cpu(0, 0);
	bpf_timer_start(timer, 1000000, 0);
	return 0;
}

OP(good_enqueue)
{
	insert_shared(ARG(0, struct task_struct *), ctx[1]);
	return 0;
}

OP(good_dispatch)
{
	s32 n = 0;

	bpf_loop(4, count_cb, &n, 0);
	if (n)
		scx_move_to_local(SHARED_DSQ);
	kick_self(0);
	return 0;
}

/* re-enqueues this CPU's tasks: ops.enqueue then runs nested inside ops.cpu_release */
OP(good_cpu_release)
{
	scx_bpf_reenqueue_local();
	return 0;
}

OP_SLEEPABLE(good_init)
{
	u32 key = 0;
	struct timer_elem *e;
	s32 ret = scx_bpf_create_dsq(SHARED_DSQ, -1);

	if (ret)
		return ret;
	e = bpf_map_lookup_elem(&timers, &key);
	if (!e)
		return -1;
	bpf_timer_init(&e->timer, &timers, 1);
	bpf_timer_set_callback(&e->timer, timer_fn);
	bpf_timer_start(&e->timer, 1000000, 0);
	return 0;
}

SEC(".struct_ops.link")
struct sched_ext_ops good_ops = {
	.enqueue = (void *)good_enqueue,
	.dispatch = (void *)good_dispatch,
	.cpu_release = (void *)good_cpu_release,
	.init = (void *)good_init,
	.name = "good",
};
