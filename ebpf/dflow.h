/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Every struct that crosses from the kernel into dflow's userspace.
 *
 * Each one has a #[repr(C)] twin in src/probe/wire.rs with the same size
 * assert; change both together. Fields are ordered largest first and padded
 * by hand so the layout is the same for clang's BPF target and for Rust.
 */
#ifndef DFLOW_H
#define DFLOW_H

#define DFLOW_COMM_LEN 16

/* Bits of the `dflow_filter` .rodata constant: which filter maps are active. */
#define DFLOW_FILTER_PIDS  (1u << 0)
#define DFLOW_FILTER_COMMS (1u << 1)
#define DFLOW_FILTER_PORTS (1u << 2)

/* Slots of each object's `dflow_counters` per-CPU array. */
#define DFLOW_CTR_LOST 0     /* events dropped because the ring buffer was full */
#define DFLOW_CTR_MAX  4

/* Index of each probe in doctor.bpf.c's `dflow_dr_hits` array. */
#define DFLOW_DR_TRACEPOINT 0
#define DFLOW_DR_TP_BTF     1
#define DFLOW_DR_RAW_TP     2
#define DFLOW_DR_KPROBE     3
#define DFLOW_DR_FENTRY     4
#define DFLOW_DR_UPROBE     5
#define DFLOW_DR_PERF_EVENT 6
#define DFLOW_DR_MAX        7

/* One system call entry of a filtered task (syscalls.bpf.c). */
struct dflow_syscall_event {
	__u64 ts_ns;   /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__s64 nr;      /* system call number */
	__u32 pid;     /* tgid */
	__u32 tid;
	char comm[DFLOW_COMM_LEN];
};
_Static_assert(sizeof(struct dflow_syscall_event) == 40, "dflow_syscall_event layout");

/* Stack ids below 0 are the kernel's error: -EFAULT means the task has no
 * stack of that kind (a kernel thread's user stack); others mean the stack
 * could not be kept (map full, collision). DFLOW_NO_STACK: not asked for. */
#define DFLOW_NO_STACK (-1000)
#define DFLOW_STACK_DEPTH 127

/* profile.bpf.c aggregates samples in the kernel by this key. */
struct dflow_stack_key {
	__u32 pid;
	__u32 tid;            /* 0 unless per-thread */
	__s32 user_stack_id;
	__s32 kernel_stack_id;
};
_Static_assert(sizeof(struct dflow_stack_key) == 16, "dflow_stack_key layout");

struct dflow_stack_value {
	__u64 count;          /* samples (on-CPU) or blocking episodes (off-CPU) */
	__u64 total_ns;       /* blocked time (off-CPU); 0 on-CPU */
};
_Static_assert(sizeof(struct dflow_stack_value) == 16, "dflow_stack_value layout");

/* profile.bpf.c: a process sampled for the first time, so userspace can
 * snapshot its mappings and name while it is alive. */
struct dflow_new_pid {
	__u32 pid;
	char comm[DFLOW_COMM_LEN]; /* of its process (the group leader's) */
};
_Static_assert(sizeof(struct dflow_new_pid) == 20, "dflow_new_pid layout");

/* trace.bpf.c: what an event of `struct dflow_data_event` is. */
#define DFLOW_DATA    0 /* payload moved by a read/write-family syscall */
#define DFLOW_CONNECT 1 /* connect() sent a SYN: the process is the client */
#define DFLOW_CLOSE   3 /* the last close() of a TCP socket, a shutdown() that
                           * ends it both ways, or its process's exit */

/* `fd` of a close at a process's exit: not known. */
#define DFLOW_NO_FD 0xffffffff

#define DFLOW_EGRESS  0 /* written or sent by the process */
#define DFLOW_INGRESS 1 /* read or received by the process */

/* The largest --snaplen: payload bytes copied per syscall (per message of
 * sendmmsg/recvmmsg). */
#define DFLOW_MAX_SNAPLEN 16384

/* trace.bpf.c: one socket syscall of a target process, followed by
 * `captured` bytes of its payload (DFLOW_DATA only). */
struct dflow_data_event {
	__u64 enter_ns;      /* bpf_ktime_get_ns() when the data had moved (the */
	__u64 exit_ns;       /* sock tracepoints give one time: both are it) */
	__u64 sock;          /* the struct sock's address: the connection's identity */
	__u64 bytes;         /* bytes the syscall moved (of this message, for mmsg) */
	__u32 pid;           /* tgid */
	__u32 tid;
	__u32 fd;
	__u32 seq;           /* TCP: sequence number of the first byte (write_seq or copied_seq before it) */
	__u32 captured;      /* payload bytes after this header */
	__u32 offset;        /* where in the syscall's bytes they begin: 0, or
	                      * where a hint (dflow_hint_key) said */
	__u16 family;        /* AF_INET or AF_INET6 */
	__u16 lport;         /* host byte order */
	__u16 rport;         /* host byte order */
	__u8 kind;           /* DFLOW_DATA, DFLOW_CONNECT, ... */
	__u8 direction;      /* DFLOW_EGRESS or DFLOW_INGRESS */
	__u8 transport;      /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 _pad[7];
	__u8 laddr[16];      /* IPv4: the first 4 bytes */
	__u8 raddr[16];
	char comm[DFLOW_COMM_LEN];
};
_Static_assert(sizeof(struct dflow_data_event) == 120, "dflow_data_event layout");

/* Key of trace.bpf.c's `dflow_tr_hints`: one direction of a TCP socket.
 * The value is a __u32 TCP sequence number where userspace's parser knows
 * the next message begins (after a body it skips): a syscall that moves
 * that byte past the first snaplen is captured from it on, so a response
 * head deep inside a large read is seen (pipelined downloads). */
struct dflow_hint_key {
	__u64 sock;          /* the struct sock's address */
	__u32 direction;     /* DFLOW_EGRESS or DFLOW_INGRESS */
	__u32 _pad;
};
_Static_assert(sizeof(struct dflow_hint_key) == 16, "dflow_hint_key layout");

/* Key of the `dflow_comms` filter map: a task comm, NUL-padded. */
struct dflow_comm_key {
	char comm[DFLOW_COMM_LEN];
};
_Static_assert(sizeof(struct dflow_comm_key) == 16, "dflow_comm_key layout");

#endif
