/* Misuse through a global subprogram: ops.init (sleepable) creates a DSQ inside
 * bpf_rcu_read_lock(). Through the static twin the verifier sees the RCU region and rejects
 * the program; the global one is verified from its prototype alone, so nothing tells it that
 * its caller holds RCU, and scx_bpf_create_dsq() (which allocates with GFP_KERNEL) sleeps in
 * an RCU read-side section. */
#include "scx_min.h"

__noinline int make_dsq_global(u64 id)
{
	return scx_bpf_create_dsq(id, -1);
}

static __noinline int make_dsq_static(u64 id)
{
	return scx_bpf_create_dsq(id, -1);
}

OP_SLEEPABLE(global_init)
{
	s32 ret;

	bpf_rcu_read_lock();
	ret = make_dsq_global(1);
	ret |= make_dsq_static(2);
	bpf_rcu_read_unlock();
	return ret;
}

SEC(".struct_ops.link")
struct sched_ext_ops global_ops = { .init = (void *)global_init, .name = "bad_global" };
