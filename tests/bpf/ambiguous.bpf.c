/* A correct scheduler whose one scx_bpf_dsq_move() call site needs two implementations: the
 * static helper runs inside ops.dispatch (this CPU's rq is held: switch locks), inside ops.init
 * and inside a bpf_timer callback of the dispatch program (no rq held: lock the source rq).
 * The kernel chooses at run time; no load-time choice could serve the instruction. */
#include "scx_min.h"

struct bpf_iter_scx_dsq { u64 __opaque[6]; } __attribute__((aligned(8)));
extern int bpf_iter_scx_dsq_new(struct bpf_iter_scx_dsq *it, u64 dsq_id, u64 flags) __ksym;
extern struct task_struct *bpf_iter_scx_dsq_next(struct bpf_iter_scx_dsq *it) __ksym;
extern void bpf_iter_scx_dsq_destroy(struct bpf_iter_scx_dsq *it) __ksym;
extern bool scx_bpf_dsq_move(struct bpf_iter_scx_dsq *it__iter, struct task_struct *p, u64 dsq_id,
			     u64 enq_flags) __ksym;

static __noinline void move_first(u64 dsq_id)
{
	struct bpf_iter_scx_dsq it;
	struct task_struct *p;

	bpf_iter_scx_dsq_new(&it, dsq_id, 0);
	p = bpf_iter_scx_dsq_next(&it);
	if (p)
		scx_bpf_dsq_move(&it, p, SCX_DSQ_LOCAL, 0);
	bpf_iter_scx_dsq_destroy(&it);
}

static int later(void *map, int *key, struct bpf_timer *timer)
{
	move_first(SHARED_DSQ);
	return 0;
}

OP(amb_dispatch)
{
	u32 key = 0;
	struct timer_elem *e = bpf_map_lookup_elem(&timers, &key);

	move_first(SHARED_DSQ);
	if (e)
		bpf_timer_set_callback(&e->timer, later);
	return 0;
}

OP_SLEEPABLE(amb_init)
{
	s32 ret = scx_bpf_create_dsq(SHARED_DSQ, -1);

	/* the dsq iterator is KF_RCU_PROTECTED: sleepable code needs an RCU section */
	bpf_rcu_read_lock();
	if (!ret)
		move_first(SHARED_DSQ);
	bpf_rcu_read_unlock();
	return ret;
}

SEC(".struct_ops.link")
struct sched_ext_ops amb_ops = { .dispatch = (void *)amb_dispatch, .init = (void *)amb_init, .name = "ambiguous" };
