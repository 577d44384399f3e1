// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * Stack sampling for `dflow profile`, aggregated in the kernel so that the
 * userspace cost does not grow with the sample rate.
 *
 * On-CPU: a software cpu-clock perf event on every CPU (no hardware PMU is
 * needed) counts samples by (pid, tid when per-thread, user stack, kernel
 * stack). Needs perf_event programs (4.9+) and stack trace maps.
 *
 * Off-CPU: sched_switch records when and where a target thread went off the
 * CPU and, when it comes back, adds the blocked time to its stacks. Uses
 * tp_btf (5.5+ with BTF); the sched:sched_switch tracepoint program is the
 * fallback with the same result.
 *
 * Stacks are unwound with frame pointers by the kernel; a binary without
 * them yields short stacks, which userspace reports as truncated.
 */
#include "common.bpf.h"

const volatile __u32 dflow_per_thread = 0;
const volatile __u32 dflow_kernel_stacks = 1;
const volatile __u64 dflow_min_block_ns = 1000;

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, DFLOW_STACK_DEPTH * sizeof(__u64));
} dflow_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct dflow_stack_key);
	__type(value, struct dflow_stack_value);
} dflow_oncpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct dflow_stack_key);
	__type(value, struct dflow_stack_value);
} dflow_offcpu SEC(".maps");

/* Where and when a thread went off the CPU. */
struct blocked {
	__u64 ts_ns;
	__u32 pid;
	__s32 user_stack_id;
	__s32 kernel_stack_id;
	__u32 _pad;
};
_Static_assert(sizeof(struct blocked) == 24, "blocked layout");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct blocked);
} dflow_blocked SEC(".maps");

/* Processes announced on dflow_new_pids. LRU: a long profile of a busy
 * host forgets the oldest, which are then announced again (harmless). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} dflow_known_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} dflow_new_pids SEC(".maps");

/* Once per process: tell userspace, which reads its /proc entries at once
 * (the aggregated counts are only read every second or so, by when a
 * short-lived process may be gone). */
static __always_inline void announce(__u32 tgid)
{
	__u8 one = 1;
	__u64 comm[2];
	struct dflow_new_pid *e;

	if (bpf_map_lookup_elem(&dflow_known_pids, &tgid))
		return;
	bpf_map_update_elem(&dflow_known_pids, &tgid, &one, BPF_ANY);
	e = dflow_reserve(&dflow_new_pids, struct dflow_new_pid);
	if (!e)
		return;
	e->pid = tgid;
	/* The process's name (its leader's), which `--comm` matches. */
	dflow_task_comm(bpf_get_current_task_btf(), comm);
	__builtin_memcpy(e->comm, comm, sizeof(e->comm));
	dflow_submit(e);
}

static __always_inline void add(void *map, struct dflow_stack_key *key, __u64 ns)
{
	struct dflow_stack_value *v = bpf_map_lookup_elem(map, key);

	if (!v) {
		struct dflow_stack_value zero = {};

		/* EEXIST: another CPU created it meanwhile; use that one. */
		bpf_map_update_elem(map, key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(map, key);
		if (!v) {
			dflow_count(DFLOW_CTR_LOST); /* the map is full */
			return;
		}
	}
	__sync_fetch_and_add(&v->count, 1);
	if (ns)
		__sync_fetch_and_add(&v->total_ns, ns);
}

static __always_inline __s32 kernel_stack(void *ctx)
{
	return dflow_kernel_stacks ? bpf_get_stackid(ctx, &dflow_stacks, 0) : DFLOW_NO_STACK;
}

SEC("perf_event")
int dflow_on_cpu(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct dflow_stack_key key = {};

	if (tgid == 0 || !dflow_task_wanted(tgid)) /* 0: the idle task */
		return 0;
	announce(tgid);
	key.pid = tgid;
	key.tid = dflow_per_thread ? (__u32)id : 0;
	key.user_stack_id = bpf_get_stackid(ctx, &dflow_stacks, BPF_F_USER_STACK);
	key.kernel_stack_id = kernel_stack(ctx);
	add(&dflow_oncpu, &key, 0);
	return 0;
}

/* The task going off the CPU is the current one: its stacks are here. */
static __always_inline void switch_out(void *ctx, __u32 tgid, __u32 tid, __u64 now)
{
	struct blocked b = {};

	if (tgid == 0 || !dflow_task_wanted(tgid))
		return;
	announce(tgid);
	b.ts_ns = now;
	b.pid = tgid;
	b.user_stack_id = bpf_get_stackid(ctx, &dflow_stacks, BPF_F_USER_STACK);
	b.kernel_stack_id = kernel_stack(ctx);
	bpf_map_update_elem(&dflow_blocked, &tid, &b, BPF_ANY);
}

static __always_inline void switch_in(__u32 tid, __u64 now)
{
	struct dflow_stack_key key = {};
	struct blocked *b = bpf_map_lookup_elem(&dflow_blocked, &tid);
	__u64 delta;

	if (!b)
		return;
	delta = now - b->ts_ns;
	key.pid = b->pid;
	key.tid = dflow_per_thread ? tid : 0;
	key.user_stack_id = b->user_stack_id;
	key.kernel_stack_id = b->kernel_stack_id;
	bpf_map_delete_elem(&dflow_blocked, &tid);
	if (delta >= dflow_min_block_ns)
		add(&dflow_offcpu, &key, delta);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(dflow_off_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns();

	switch_out(ctx, BPF_CORE_READ(prev, tgid), BPF_CORE_READ(prev, pid), now);
	switch_in(BPF_CORE_READ(next, pid), now);
	return 0;
}

SEC("tracepoint/sched/sched_switch")
int dflow_off_tp(struct trace_event_raw_sched_switch *ctx)
{
	__u64 now = bpf_ktime_get_ns();

	/* At this tracepoint the current task is still prev. */
	switch_out(ctx, bpf_get_current_pid_tgid() >> 32, ctx->prev_pid, now);
	switch_in(ctx->next_pid, now);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
