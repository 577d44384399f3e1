// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * Socket syscalls of the target processes, with the first bytes of their
 * payloads: what `dflow trace` parses into L7 calls.
 *
 * Needs: the syscalls:sys_enter_* / sys_exit_* tracepoints
 * (CONFIG_FTRACE_SYSCALLS, every distribution kernel), BTF for CO-RE reads
 * of the task's file table and the socket (5.8+ with ring buffers), x86-64
 * syscall numbers. No kprobes: the development machines have none.
 *
 * One entry program and one exit program serve every syscall, telling them
 * apart by number. At entry: is the fd an IPv4/IPv6 TCP or UDP socket of a
 * target process on a wanted port? If so the arguments, the entry time and
 * the TCP sequence number are kept per thread until the exit, which copies
 * up to `dflow_snaplen` bytes of what really moved (the return value says
 * how much) into one event. Non-socket fds cost a few reads of kernel
 * memory and nothing else.
 */
#include "common.bpf.h"
#include <bpf/bpf_endian.h>

#define AF_INET  2
#define AF_INET6 10
#define S_IFMT   00170000
#define S_IFSOCK 0140000
#define EINPROGRESS 115

/* x86-64 syscall numbers. */
#define NR_READ      0
#define NR_WRITE     1
#define NR_CLOSE     3
#define NR_READV     19
#define NR_WRITEV    20
#define NR_CONNECT   42
#define NR_ACCEPT    43
#define NR_SENDTO    44
#define NR_RECVFROM  45
#define NR_SENDMSG   46
#define NR_RECVMSG   47
#define NR_ACCEPT4   288
#define NR_RECVMMSG  299
#define NR_SENDMMSG  307

/* iovecs copied per message, and messages per sendmmsg/recvmmsg: bounds
 * for the verifier. Payload past them is counted in `bytes`, not copied. */
#define MAX_IOV  4
#define MAX_MMSG 4

const volatile __u32 dflow_snaplen = 1024;
/* dflow's own pid: its sockets are never traced. */
const volatile __u32 dflow_self = 0;

/* The context of every syscalls:sys_enter_* and sys_exit_* tracepoint
 * (their format files: the syscall number, then 8-byte arguments). */
struct sys_enter_ctx {
	__u64 common;
	__s32 nr;
	__u32 _pad;
	__u64 args[6];
};

struct sys_exit_ctx {
	__u64 common;
	__s32 nr;
	__u32 _pad;
	__s64 ret;
};

/* A syscall of a target thread between entry and exit. */
struct active {
	__u64 enter_ns;
	__u64 sock;
	__u64 ptr;  /* buffer, iovec array, msghdr or mmsghdr array (user memory) */
	__u64 addr; /* recvfrom/sendto: the sockaddr (user memory) */
	__u32 fd;
	__u32 count; /* iovcnt or vlen */
	__u32 seq;
	__s32 nr;
};

/* Keyed by pid_tgid. LRU: a thread killed inside a syscall never exits it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct active);
} dflow_tr_active SEC(".maps");

/* The event being built: header and two snaplens of room, so that a copy of
 * up to a snaplen at any offset below one is provably in bounds. */
struct scratch {
	struct dflow_data_event e;
	__u8 payload[2 * DFLOW_MAX_SNAPLEN];
};

/* One per CPU, indexed by CPU number: a per-CPU array's values are limited
 * to 32 KiB. Userspace sets max_entries to the number of possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} dflow_tr_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	/* 4 MiB: drained every millisecond, that is room for a burst of ~20k
	 * events of a 1 KiB snaplen; the consumer maps it twice, and it counts
	 * in dflow's RSS. */
	__uint(max_entries, 4 << 20);
} dflow_tr_events SEC(".maps");

/* The struct sock behind `fd` of the current task, when it is an IPv4 or
 * IPv6 socket; NULL otherwise. */
static __always_inline struct sock *fd_sock(__u32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;
	struct socket *socket;
	struct sock *sk;
	__u16 family;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	socket = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(socket, sk);
	if (!sk)
		return NULL;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	return sk;
}

static __always_inline __u8 sk_transport(struct sock *sk)
{
	__u16 proto = BPF_CORE_READ(sk, sk_protocol);

	return proto == IPPROTO_TCP || proto == IPPROTO_UDP ? proto : 0;
}

static __always_inline bool is_ingress(__s32 nr)
{
	return nr == NR_READ || nr == NR_READV || nr == NR_RECVFROM ||
	       nr == NR_RECVMSG || nr == NR_RECVMMSG;
}

/* Fills the addresses, ports and identity of `sk` into `e`. */
static __always_inline void fill_socket(struct dflow_data_event *e, struct sock *sk)
{
	e->sock = (__u64)sk;
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->transport = sk_transport(sk);
	e->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	/* The destination's type gives the size read. */
	if (e->family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)e->laddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)e->raddr, sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO((struct in6_addr *)e->laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO((struct in6_addr *)e->raddr, sk, __sk_common.skc_v6_daddr);
	}
}

/* An unconnected UDP socket's peer comes from the syscall's sockaddr. */
static __always_inline void fill_peer(struct dflow_data_event *e, __u64 uaddr)
{
	__u16 family = 0;

	if (!uaddr || e->rport)
		return;
	bpf_probe_read_user(&family, sizeof(family), (void *)uaddr);
	if (family == AF_INET) {
		struct sockaddr_in sin = {};

		bpf_probe_read_user(&sin, sizeof(sin), (void *)uaddr);
		e->rport = bpf_ntohs(sin.sin_port);
		__builtin_memcpy(e->raddr, &sin.sin_addr, 4);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 sin6 = {};

		bpf_probe_read_user(&sin6, sizeof(sin6), (void *)uaddr);
		e->rport = bpf_ntohs(sin6.sin6_port);
		__builtin_memcpy(e->raddr, &sin6.sin6_addr, 16);
	}
}

static __always_inline __u32 snaplen(void)
{
	return dflow_snaplen < DFLOW_MAX_SNAPLEN ? dflow_snaplen : DFLOW_MAX_SNAPLEN;
}

/* Copies up to `want` bytes (at most a snaplen) of the iovec array at
 * `iov`, `iovcnt` long, into the payload; returns the bytes copied. */
static __always_inline __u32 copy_iov(struct scratch *s, __u64 iov, __u64 iovcnt, __u64 want)
{
	__u64 off = 0;

	for (int i = 0; i < MAX_IOV; i++) {
		struct iovec v = {};
		__u64 n;

		if (i >= iovcnt || off >= want)
			break;
		if (bpf_probe_read_user(&v, sizeof(v), (void *)(iov + i * sizeof(v))))
			break;
		n = v.iov_len < want - off ? v.iov_len : want - off;
		if (off >= DFLOW_MAX_SNAPLEN || n > DFLOW_MAX_SNAPLEN)
			break;
		if (bpf_probe_read_user(&s->payload[off], n, v.iov_base))
			break;
		off += n;
	}
	return off;
}

/* Sends the header and `captured` payload bytes; counts a loss when the
 * ring is full. */
static __always_inline void emit(struct scratch *s, __u32 captured)
{
	if (captured > DFLOW_MAX_SNAPLEN)
		captured = DFLOW_MAX_SNAPLEN;
	s->e.captured = captured;
	if (bpf_ringbuf_output(&dflow_tr_events, s, sizeof(s->e) + captured, BPF_RB_NO_WAKEUP))
		dflow_count(DFLOW_CTR_LOST);
}

/* A connection event: the socket behind `fd`, no payload. */
static __always_inline void emit_lifecycle(struct scratch *s, __u8 kind, __u32 fd,
					   struct sock *sk)
{
	fill_socket(&s->e, sk);
	if (!s->e.transport || !dflow_port_wanted(s->e.lport, s->e.rport))
		return;
	s->e.kind = kind;
	s->e.fd = fd;
	emit(s, 0);
}

/* The scratch event of this CPU, its header cleared and the task's
 * identity filled in. */
static __always_inline struct scratch *scratch(__u64 id)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct scratch *s = bpf_map_lookup_elem(&dflow_tr_scratch, &cpu);

	if (!s)
		return NULL;
	__builtin_memset(&s->e, 0, sizeof(s->e));
	s->e.pid = id >> 32;
	s->e.tid = (__u32)id;
	bpf_get_current_comm(&s->e.comm, sizeof(s->e.comm));
	return s;
}

static __always_inline void emit_close(__u32 fd, struct sock *sk)
{
	struct scratch *s = scratch(bpf_get_current_pid_tgid());

	if (!s)
		return;
	s->e.enter_ns = s->e.exit_ns = bpf_ktime_get_ns();
	emit_lifecycle(s, DFLOW_CLOSE, fd, sk);
}

/*
 * Keeps an entry of a target thread on a socket until the exit. The kernel
 * refuses to attach a program that reads past a tracepoint's record, so the
 * three entry programs below read only the arguments their syscalls have.
 */
static __always_inline int enter(__s32 nr, __u32 fd, __u64 ptr, __u64 count, __u64 addr)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct active a = {};
	struct sock *sk;
	__u8 transport;

	if (tgid == dflow_self || !dflow_task_wanted(tgid))
		return 0;
	a.nr = nr;
	a.fd = fd;
	if (nr == NR_ACCEPT || nr == NR_ACCEPT4) {
		/* The socket is the one accept returns. */
		a.enter_ns = bpf_ktime_get_ns();
		bpf_map_update_elem(&dflow_tr_active, &id, &a, BPF_ANY);
		return 0;
	}
	sk = fd_sock(fd);
	if (!sk)
		return 0;
	transport = sk_transport(sk);
	if (!transport)
		return 0;
	if (nr == NR_CLOSE) {
		/* At the exit the socket is gone: report it now. */
		emit_close(fd, sk);
		return 0;
	}
	a.sock = (__u64)sk;
	a.ptr = ptr;
	a.count = count;
	a.addr = addr;
	if (transport == IPPROTO_TCP) {
		struct tcp_sock *tp = (struct tcp_sock *)sk;

		a.seq = is_ingress(nr) ? BPF_CORE_READ(tp, copied_seq)
				       : BPF_CORE_READ(tp, write_seq);
	}
	a.enter_ns = bpf_ktime_get_ns();
	bpf_map_update_elem(&dflow_tr_active, &id, &a, BPF_ANY);
	return 0;
}

/* close(fd). */
SEC("tracepoint/syscalls/sys_enter_close")
int dflow_tr_enter1(struct sys_enter_ctx *ctx)
{
	return enter(ctx->nr, ctx->args[0], 0, 0, 0);
}

/* read, write, readv, writev, sendmsg, recvmsg, sendmmsg, recvmmsg,
 * connect, accept, accept4: (fd, pointer, count, ...). */
SEC("tracepoint/syscalls/sys_enter_read")
int dflow_tr_enter3(struct sys_enter_ctx *ctx)
{
	return enter(ctx->nr, ctx->args[0], ctx->args[1], ctx->args[2], 0);
}

/* sendto and recvfrom: (fd, buf, len, flags, addr, addrlen). */
SEC("tracepoint/syscalls/sys_enter_sendto")
int dflow_tr_enter6(struct sys_enter_ctx *ctx)
{
	return enter(ctx->nr, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[4]);
}

/* One message of a sendmmsg/recvmmsg. */
static __always_inline void emit_mmsg(struct scratch *s, struct active *a, int i)
{
	struct mmsghdr m = {};
	__u64 want;

	if (bpf_probe_read_user(&m, sizeof(m), (void *)(a->ptr + i * sizeof(m))))
		return;
	s->e.bytes = m.msg_len;
	s->e.rport = 0;
	__builtin_memset(s->e.raddr, 0, sizeof(s->e.raddr));
	fill_socket(&s->e, (struct sock *)a->sock);
	fill_peer(&s->e, (__u64)m.msg_hdr.msg_name);
	if (!dflow_port_wanted(s->e.lport, s->e.rport))
		return;
	want = m.msg_len < snaplen() ? m.msg_len : snaplen();
	emit(s, copy_iov(s, (__u64)m.msg_hdr.msg_iov, m.msg_hdr.msg_iovlen, want));
}

SEC("tracepoint/syscalls/sys_exit_read")
int dflow_tr_exit(struct sys_exit_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct active *found, a;
	struct scratch *s;
	__u64 want;
	__s64 ret = ctx->ret;
	struct sock *sk;

	found = bpf_map_lookup_elem(&dflow_tr_active, &id);
	if (!found)
		return 0;
	a = *found;
	bpf_map_delete_elem(&dflow_tr_active, &id);
	s = scratch(id);
	if (!s)
		return 0;
	s->e.enter_ns = a.enter_ns;
	s->e.exit_ns = bpf_ktime_get_ns();

	switch (a.nr) {
	case NR_ACCEPT:
	case NR_ACCEPT4:
		if (ret < 0)
			return 0;
		sk = fd_sock(ret);
		if (sk)
			emit_lifecycle(s, DFLOW_ACCEPT, ret, sk);
		return 0;
	case NR_CONNECT:
		if (ret == 0 || ret == -EINPROGRESS)
			emit_lifecycle(s, DFLOW_CONNECT, a.fd, (struct sock *)a.sock);
		return 0;
	}

	if (ret <= 0)
		return 0;
	s->e.kind = DFLOW_DATA;
	s->e.direction = is_ingress(a.nr) ? DFLOW_INGRESS : DFLOW_EGRESS;
	s->e.fd = a.fd;
	s->e.seq = a.seq;
	fill_socket(&s->e, (struct sock *)a.sock);
	if (a.nr == NR_RECVMMSG || a.nr == NR_SENDMMSG) {
		/* ret is the number of messages. */
		for (int i = 0; i < MAX_MMSG; i++) {
			if (i >= ret)
				break;
			emit_mmsg(s, &a, i);
		}
		return 0;
	}
	if (a.nr == NR_SENDTO || a.nr == NR_RECVFROM)
		fill_peer(&s->e, a.addr);
	if (!dflow_port_wanted(s->e.lport, s->e.rport))
		return 0;
	s->e.bytes = ret;
	want = ret < snaplen() ? ret : snaplen();
	switch (a.nr) {
	case NR_READ:
	case NR_WRITE:
	case NR_SENDTO:
	case NR_RECVFROM:
		if (want > DFLOW_MAX_SNAPLEN)
			return 0;
		if (bpf_probe_read_user(s->payload, want, (void *)a.ptr))
			want = 0;
		emit(s, want);
		return 0;
	case NR_READV:
	case NR_WRITEV:
		emit(s, copy_iov(s, a.ptr, a.count, want));
		return 0;
	case NR_SENDMSG:
	case NR_RECVMSG: {
		struct user_msghdr msg = {};

		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)a.ptr))
			return 0;
		fill_peer(&s->e, (__u64)msg.msg_name);
		emit(s, copy_iov(s, (__u64)msg.msg_iov, msg.msg_iovlen, want));
		return 0;
	}
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
