/* Misuse through a synchronous callback: the bpf_loop callback runs inside ops.enqueue and
 * inserts the task once per iteration; the second insert of one enqueue is refused
 * ("already direct-dispatched"). */
#include "scx_min.h"

struct loop_ctx { struct task_struct *p; u64 enq_flags; };

static int insert_cb(u32 i, void *data)
{
	struct loop_ctx *lc = data;

	scx_insert(lc->p, SHARED_DSQ, SCX_SLICE_DFL, lc->enq_flags);
	return 0;
}

OP(sync_enqueue)
{
	struct loop_ctx lc = { .p = ARG(0, struct task_struct *), .enq_flags = ctx[1] };

	bpf_loop(2, insert_cb, &lc, 0);
	return 0;
}

SEC(".struct_ops.link")
struct sched_ext_ops sync_ops = { .enqueue = (void *)sync_enqueue, .name = "bad_sync" };
