// SPDX-License-Identifier: GPL-2.0
__bpf_kfunc int mini_xdp_meta(const struct xdp_md *ctx, u64 *timestamp)
{
	return 0;
}

BTF_SET8_START(xdp_metadata_kfunc_ids)
BTF_ID_FLAGS(func, mini_xdp_meta, KF_TRUSTED_ARGS)
BTF_SET8_END(xdp_metadata_kfunc_ids)

static int xdp_mini_filter(const struct bpf_prog *prog, u32 kfunc_id)
{
	return 0;
}

static const struct btf_kfunc_id_set xdp_metadata_kfunc_set = {
	.owner = THIS_MODULE,
	.set = &xdp_metadata_kfunc_ids,
	.filter = xdp_mini_filter,
};

static int __init xdp_metadata_init(void)
{
	return register_btf_kfunc_id_set(BPF_PROG_TYPE_XDP, &xdp_metadata_kfunc_set);
}
