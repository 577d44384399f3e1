// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * One tiny program per program type, for `dflow doctor`: each counts the hits
 * of dflow's own process, so the doctor can prove that a type loads,
 * attaches and fires here, not merely that the syscall exists.
 *
 * Needs: nothing beyond what each type itself needs; a type that fails is
 * reported with the kernel's error and the features that rely on it fall
 * back or are marked unavailable.
 */
#include "common.bpf.h"

/* The tgid of the doctor, set before load. */
const volatile __u32 dflow_dr_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DFLOW_DR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} dflow_dr_hits SEC(".maps");

static __always_inline int hit(__u32 slot)
{
	__u64 *v;

	if ((bpf_get_current_pid_tgid() >> 32) != dflow_dr_tgid)
		return 0;
	v = bpf_map_lookup_elem(&dflow_dr_hits, &slot);
	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int dflow_dr_tp(void *ctx)
{
	return hit(DFLOW_DR_TRACEPOINT);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(dflow_dr_tp_btf)
{
	return hit(DFLOW_DR_TP_BTF);
}

SEC("raw_tracepoint/sys_enter")
int dflow_dr_raw_tp(void *ctx)
{
	return hit(DFLOW_DR_RAW_TP);
}

SEC("kprobe/__x64_sys_getppid")
int dflow_dr_kprobe(void *ctx)
{
	return hit(DFLOW_DR_KPROBE);
}

SEC("fentry/__x64_sys_getppid")
int BPF_PROG(dflow_dr_fentry)
{
	return hit(DFLOW_DR_FENTRY);
}

SEC("uprobe")
int dflow_dr_uprobe(void *ctx)
{
	return hit(DFLOW_DR_UPROBE);
}

SEC("perf_event")
int dflow_dr_perf(void *ctx)
{
	return hit(DFLOW_DR_PERF_EVENT);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
