// SPDX-License-Identifier: GPL-2.0
BTF_SET_START(special_kfunc_set)
BTF_ID(func, bpf_obj_new_impl)
BTF_SET_END(special_kfunc_set)

BTF_ID_LIST(special_kfunc_list)
BTF_ID(func, bpf_obj_new_impl)
BTF_ID_UNUSED
BTF_ID(func, bpf_dynptr_from_skb)

static bool can_be_sleepable(struct bpf_prog *prog)
{
	if (prog->type == BPF_PROG_TYPE_TRACING)
		return true;
	return prog->type == BPF_PROG_TYPE_LSM ||
	       prog->type == BPF_PROG_TYPE_STRUCT_OPS;
}

static int specialize_kfunc(struct bpf_verifier_env *env, u32 func_id)
{
	if (func_id == special_kfunc_list[KF_bpf_dynptr_from_skb])
		return 1;
	return 0;
}
