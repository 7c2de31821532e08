// SPDX-License-Identifier: GPL-2.0
/* malformed macros: the importer must say where and keep going */
BTF_KFUNCS_START(broken_ids)
BTF_ID_FLAGS(func)
BTF_ID_FLAGS(func, bad_ok_kfunc, KF_RCU | 42)
BTF_ID_FLAGS(func, bad_unclosed, KF_RCU
BTF_KFUNCS_END(other_ids)

BTF_ID_FLAGS(func, orphan_kfunc)

static int __init broken_init(void)
{
	return register_btf_kfunc_id_set(some_type(), &broken_set);
}
