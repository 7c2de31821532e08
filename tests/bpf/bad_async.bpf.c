/* Misuse through an asynchronous callback: ops.dispatch arms a bpf_timer whose callback
 * consumes from a DSQ. The verifier checks the callback as part of the dispatch program, but
 * it runs later in softirq, outside any ops.dispatch. */
#include "scx_min.h"

static int consume_later(void *map, int *key, struct bpf_timer *timer)
{
	scx_move_to_local(SHARED_DSQ);
	return 0;
}

OP(async_dispatch)
{
	u32 key = 0;
	struct timer_elem *e = bpf_map_lookup_elem(&timers, &key);

	scx_move_to_local(SHARED_DSQ);
	if (!e)
		return 0;
	bpf_timer_init(&e->timer, &timers, 1);
	bpf_timer_set_callback(&e->timer, consume_later);
	bpf_timer_start(&e->timer, 1000, 0);
	return 0;
}

SEC(".struct_ops.link")
struct sched_ext_ops async_ops = { .dispatch = (void *)async_dispatch, .name = "bad_async" };
