// SPDX-License-Identifier: GPL-2.0
__bpf_kfunc_start_defs();

/**
 * mini_task_acquire - a kfunc with flags
 */
__bpf_kfunc struct task_struct *mini_task_acquire(struct task_struct *p)
{
	return p;
}

__bpf_kfunc void mini_task_release(struct task_struct *p)
{
}

__bpf_kfunc int mini_copy(void *dst, u32 dst__sz, const void *src__nullable)
{
	return 0;
}

__bpf_kfunc void mini_rcu_read_lock(void)
{
}

__bpf_kfunc_end_defs();

BTF_KFUNCS_START(generic_btf_ids)
BTF_ID_FLAGS(func, mini_task_acquire, KF_ACQUIRE | KF_RCU | KF_RET_NULL)
BTF_ID_FLAGS(func, mini_task_release, KF_RELEASE)
#ifdef CONFIG_MINI_COPY
BTF_ID_FLAGS(func, mini_copy, KF_SLEEPABLE)
#endif
BTF_KFUNCS_END(generic_btf_ids)

static const struct btf_kfunc_id_set generic_kfunc_set = {
	.owner = THIS_MODULE,
	.set   = &generic_btf_ids,
};

BTF_KFUNCS_START(common_btf_ids)
BTF_ID_FLAGS(func, mini_rcu_read_lock)
BTF_KFUNCS_END(common_btf_ids)

static const struct btf_kfunc_id_set common_kfunc_set = {
	.owner = THIS_MODULE,
	.set   = &common_btf_ids,
};

static int __init kfunc_init(void)
{
	int ret;

	ret = register_btf_kfunc_id_set(BPF_PROG_TYPE_TRACING, &generic_kfunc_set);
	ret = ret ?: register_btf_kfunc_id_set(BPF_PROG_TYPE_SCHED_CLS, &generic_kfunc_set);
	return ret ?: register_btf_kfunc_id_set(BPF_PROG_TYPE_UNSPEC, &common_kfunc_set);
}
