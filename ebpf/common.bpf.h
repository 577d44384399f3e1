/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * What every dflow program shares: the target filters (pids, comms, ports),
 * the per-CPU counters of what could not be delivered, and ring buffer
 * submission without a wake-up per event.
 *
 * Userspace (src/probe/loader.rs) sets `dflow_filter` in .rodata before load,
 * so the verifier prunes the filters that are off, and fills the maps.
 */
#ifndef DFLOW_COMMON_BPF_H
#define DFLOW_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "dflow.h"

#define DFLOW_MAX_FILTER_ENTRIES 1024

const volatile __u32 dflow_filter = 0;

/* Up to DFLOW_COMM_LIST comms of the filter, set in .rodata at load and
 * compared in place (two 8-byte words each): a hash lookup per event cost
 * ~30 ns on every socket event of every process. Zero: the comms are in
 * the `dflow_comms` map. */
#define DFLOW_COMM_LIST 8
const volatile __u32 dflow_comm_count = 0;
const volatile __u64 dflow_comm_list[DFLOW_COMM_LIST][2] = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DFLOW_MAX_FILTER_ENTRIES);
	__type(key, __u32);
	__type(value, __u8);
} dflow_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DFLOW_MAX_FILTER_ENTRIES);
	__type(key, struct dflow_comm_key);
	__type(value, __u8);
} dflow_comms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DFLOW_MAX_FILTER_ENTRIES);
	__type(key, __u16);
	__type(value, __u8);
} dflow_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DFLOW_CTR_MAX);
	__type(key, __u32);
	__type(value, __u64);
} dflow_counters SEC(".maps");

static __always_inline void dflow_count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&dflow_counters, &slot);

	if (v)
		*v += 1; /* per-CPU slot: no other writer */
}

/* The comm of a task's process (its thread group leader's) as two words,
 * by direct loads from the task_structs: bpf_get_current_comm copies it a
 * byte at a time, and cost as much as the rest of a filtered event. The
 * process's name, not the thread's: `--comm dig` must match dig, whose I/O
 * threads are named `isc-net-0000`, and the output names the process. A
 * rename racing with the read may mix old and new bytes, as a read of
 * /proc/PID/comm may. */
static __always_inline void dflow_task_comm(const struct task_struct *task, __u64 w[2])
{
	const __u64 *comm = (const __u64 *)task->group_leader->comm;

	w[0] = comm[0];
	w[1] = comm[1];
}

/* Whether the comm in `w` is one of those in `dflow_comm_list`. */
static __always_inline bool dflow_comm_listed(const __u64 w[2])
{
	for (int i = 0; i < DFLOW_COMM_LIST; i++) {
		if (i >= dflow_comm_count)
			break;
		if (dflow_comm_list[i][0] == w[0] && dflow_comm_list[i][1] == w[1])
			return true;
	}
	return false;
}

/*
 * Whether a task of process `tgid` with the comm in `comm` is a target.
 * Pids and comms select processes and combine as a union (`-p 42 --comm
 * nginx` traces both); with neither set, every process is a target.
 */
static __always_inline bool dflow_wanted(__u32 tgid, const __u64 comm[2])
{
	bool by_pid = dflow_filter & DFLOW_FILTER_PIDS;
	bool by_comm = dflow_filter & DFLOW_FILTER_COMMS;

	if (!by_pid && !by_comm)
		return true;
	if (by_pid && bpf_map_lookup_elem(&dflow_pids, &tgid))
		return true;
	if (by_comm) {
		if (dflow_comm_count == 0)
			return bpf_map_lookup_elem(&dflow_comms, comm);
		return dflow_comm_listed(comm);
	}
	return false;
}

/* Whether the current task, of process `tgid`, is a target. */
static __always_inline bool dflow_task_wanted(__u32 tgid)
{
	__u64 w[2] = {};

	if (dflow_filter & DFLOW_FILTER_COMMS)
		dflow_task_comm(bpf_get_current_task_btf(), w);
	return dflow_wanted(tgid, w);
}

/* Whether a local or remote port is a target (host byte order). */
static __always_inline bool dflow_port_wanted(__u16 local, __u16 remote)
{
	if (!(dflow_filter & DFLOW_FILTER_PORTS))
		return true;
	return bpf_map_lookup_elem(&dflow_ports, &local) ||
	       bpf_map_lookup_elem(&dflow_ports, &remote);
}

/*
 * Reserve room for one event in `rb`, counting a loss when it is full.
 * Events are submitted with BPF_RB_NO_WAKEUP: userspace drains on a ~1 ms
 * timer, since a wake-up per event caps delivery at ~0.23M events/s.
 */
#define dflow_reserve(rb, type)                                     \
	({                                                          \
		type *__e = bpf_ringbuf_reserve(rb, sizeof(type), 0);   \
		if (!__e)                                           \
			dflow_count(DFLOW_CTR_LOST);                  \
		__e;                                                \
	})

#define dflow_submit(e) bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP)

#endif
