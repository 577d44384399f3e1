// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * System call entries of the target processes, one event each.
 *
 * Needs: the raw_syscalls:sys_enter tracepoint (every kernel dflow supports,
 * 4.7+) and BPF ring buffers (5.8+). `dflow doctor` uses it to prove that
 * events reach userspace end to end; the L7 capture builds on the same path.
 */
#include "common.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} dflow_sys_events SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int dflow_sys_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct dflow_syscall_event *e;

	if (!dflow_task_wanted(tgid))
		return 0;
	e = dflow_reserve(&dflow_sys_events, struct dflow_syscall_event);
	if (!e)
		return 0;
	e->ts_ns = bpf_ktime_get_ns();
	e->nr = ctx->id;
	e->pid = tgid;
	e->tid = (__u32)id;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	dflow_submit(e);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
