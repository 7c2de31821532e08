/* Minimal declarations for polykfunc's test programs: no vmlinux.h, no libbpf headers.
 * Just enough of struct sched_ext_ops, the kfuncs (as __ksym externs) and the helpers
 * (by number) for clang -O2 -g -target bpf to emit what real sched_ext schedulers emit.
 * Compile with -DSCX_OLD for the v6.12 kfunc names (scx_bpf_dispatch, scx_bpf_consume). */
#ifndef SCX_MIN_H
#define SCX_MIN_H

typedef unsigned long long u64;
typedef unsigned int u32;
typedef int s32;
typedef _Bool bool;

#define SEC(name) __attribute__((section(name), used))
#define __ksym __attribute__((section(".ksyms")))
#define __noinline __attribute__((noinline))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define NULL ((void *)0)
/* a struct_ops program: ctx[] holds the member's arguments, as BPF_PROG unpacks them */
#define SCX_OP(kind, name) SEC(kind "/" #name) s32 name(u64 *ctx)
#define OP(name) SCX_OP("struct_ops", name)
#define OP_SLEEPABLE(name) SCX_OP("struct_ops.s", name)
#define ARG(n, type) ((type)ctx[n])

struct task_struct { int pid; };
struct scx_cpu_release_args { int reason; struct task_struct *task; };
struct scx_init_task_args { bool fork; };
struct bpf_timer { u64 __opaque[2]; } __attribute__((aligned(8)));
struct bpf_wq { u64 __opaque[2]; } __attribute__((aligned(8)));

struct sched_ext_ops {
	s32 (*select_cpu)(struct task_struct *p, s32 prev_cpu, u64 wake_flags);
	void (*enqueue)(struct task_struct *p, u64 enq_flags);
	void (*dequeue)(struct task_struct *p, u64 deq_flags);
	void (*dispatch)(s32 cpu, struct task_struct *prev);
	void (*tick)(struct task_struct *p);
	void (*cpu_release)(s32 cpu, struct scx_cpu_release_args *args);
	s32 (*init_task)(struct task_struct *p, struct scx_init_task_args *args);
	s32 (*init)(void);
	void (*exit)(void *info);
	char name[128];
};

#define SHARED_DSQ 0
#define SCX_DSQ_LOCAL (1ULL << 63 | 2)
#define SCX_SLICE_DFL 20000000ULL

#ifdef SCX_OLD
extern void scx_bpf_dispatch(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym;
extern bool scx_bpf_consume(u64 dsq_id) __ksym;
#define scx_insert scx_bpf_dispatch
#define scx_move_to_local scx_bpf_consume
#else
extern void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym;
extern bool scx_bpf_dsq_move_to_local(u64 dsq_id) __ksym;
#define scx_insert scx_bpf_dsq_insert
#define scx_move_to_local scx_bpf_dsq_move_to_local
#endif
extern s32 scx_bpf_create_dsq(u64 dsq_id, s32 node) __ksym;
extern s32 scx_bpf_dsq_nr_queued(u64 dsq_id) __ksym;
extern void scx_bpf_kick_cpu(s32 cpu, u64 flags) __ksym;
extern u32 scx_bpf_reenqueue_local(void) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
extern int bpf_wq_init(struct bpf_wq *wq, void *p__map, unsigned int flags) __ksym;
extern int bpf_wq_set_callback_impl(struct bpf_wq *wq, int (*cb)(void *, int *, void *),
				    unsigned int flags, void *aux__ign) __ksym;

static u32 (*bpf_get_smp_processor_id)(void) = (void *)8;
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_timer_init)(struct bpf_timer *timer, void *map, u64 flags) = (void *)169;
static long (*bpf_timer_set_callback)(struct bpf_timer *timer, void *callback_fn) = (void *)170;
static long (*bpf_timer_start)(struct bpf_timer *timer, u64 nsecs, u64 flags) = (void *)171;
static long (*bpf_loop)(u32 nr_loops, void *callback_fn, void *callback_ctx, u64 flags) = (void *)181;

#define BPF_MAP_TYPE_ARRAY 2
struct timer_elem { struct bpf_timer timer; struct bpf_wq wq; };
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct timer_elem);
} timers SEC(".maps");

char _license[] SEC("license") = "GPL";
#endif
