// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * Socket reads and writes of the target processes, with the first bytes of
 * their payloads: what `dflow trace` parses into L7 calls.
 *
 * Needs: BTF and tp_btf (5.5+), the sock:sock_send_length and
 * sock:sock_recv_length tracepoints (6.3+), sock:inet_sock_set_state
 * (4.16+), bpf_task_pt_regs (5.15+), x86-64 syscall numbers. No kprobes:
 * the development machines have none.
 *
 * Why not the syscall tracepoints: attaching anything to
 * syscalls:sys_enter_* puts every syscall of every process on the kernel's
 * slow path; an empty program on them costs nginx 5-12% of its
 * throughput before dflow does any work. The sock tracepoints fire only
 * when a socket moves data, after it has: sock_send_length at the end of
 * sock_sendmsg, sock_recv_length at the end of sock_recvmsg, in the
 * context of the thread that made the syscall. That syscall's arguments
 * are in the thread's saved user registers (bpf_task_pt_regs): the fd and
 * the user buffer, iovec array or msghdr, from which up to `dflow_snaplen`
 * bytes of what really moved (the tracepoint's return value says how much)
 * are copied into one event.
 *
 * What this costs in precision, each handled downstream:
 * - One time per event, at the end of the syscall's work: a call's start
 *   is when its first write returned, not when it was entered.
 * - An unconnected UDP socket's sender is written to the caller's sockaddr
 *   after the tracepoint: received datagrams carry no remote address, and
 *   the pipeline takes it from the reply.
 * - sendmmsg/recvmmsg fire once per message; the message is found by
 *   counting per thread (see `mmsg_index`).
 * - accept() has no tracepoint in the acceptor's context: a server's
 *   connection starts with its first data. connect() and close() are seen
 *   from the TCP state changes they make.
 */
#include "common.bpf.h"
#include <bpf/bpf_endian.h>

#define AF_INET  2
#define AF_INET6 10
#define MSG_PEEK 2
#define PF_KTHREAD 0x00200000

/* x86-64 syscall numbers. */
#define NR_READ       0
#define NR_WRITE      1
#define NR_CLOSE      3
#define NR_READV      19
#define NR_WRITEV     20
#define NR_SENDFILE   40
#define NR_CONNECT    42
#define NR_SENDTO     44
#define NR_RECVFROM   45
#define NR_SENDMSG    46
#define NR_RECVMSG    47
#define NR_SHUTDOWN   48
#define NR_EXIT       60
#define NR_EXIT_GROUP 231
#define NR_SPLICE     275
#define NR_RECVMMSG   299
#define NR_SENDMMSG   307

/* iovecs copied per message: a bound for the verifier. Payload past them
 * is counted in `bytes`, not copied. */
#define MAX_IOV 4

const volatile __u32 dflow_snaplen = 1024;
/* dflow's own pid: its sockets are never traced. */
const volatile __u32 dflow_self = 0;

/* The event being built: header and two snaplens of room, so that a copy of
 * up to a snaplen at any offset below one is provably in bounds. */
struct scratch {
	struct dflow_data_event e;
	__u8 payload[2 * DFLOW_MAX_SNAPLEN];
};

/* One per CPU, indexed by CPU number: a per-CPU array's values are limited
 * to 32 KiB. Userspace sets max_entries to the number of possible CPUs.
 * Tracepoints run their programs with preemption off, so a CPU's slot has
 * one user at a time. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} dflow_tr_scratch SEC(".maps");

/* sendmmsg/recvmmsg: the message vector a thread is in, and the index of
 * its next message. */
struct mmsg_cursor {
	__u64 vec;
	__u32 next;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct mmsg_cursor);
} dflow_tr_mmsg SEC(".maps");

/* Where the next message of a connection's direction begins, when the
 * parser skips a body to get there (see struct dflow_hint_key). Written by
 * userspace, removed here when used, found behind, or the socket closes;
 * LRU, so hints of connections whose close went unseen age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct dflow_hint_key);
	__type(value, __u32);
} dflow_tr_hints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	/* 2 MiB: drained every 5 ms, that is room for 5 ms of ~2k events of
	 * a 1 KiB snaplen each (nginx at 100k requests/s fills a sixth of
	 * it); the consumer maps it twice, and it counts in dflow's RSS. */
	__uint(max_entries, 2 << 20);
} dflow_tr_events SEC(".maps");

static __always_inline bool inet_family(__u16 family)
{
	return family == AF_INET || family == AF_INET6;
}

/* Fills the addresses, ports and identity of `sk` into `e`. `sk` is a
 * tracepoint argument the verifier knows by its BTF type, so its fields are
 * read by direct (fault-safe) loads: a bpf_probe_read_kernel per field, as
 * BPF_CORE_READ does, cost ~0.2 µs per event. */
static __always_inline void fill_socket(struct dflow_data_event *e, const struct sock *sk)
{
	const struct sock_common *c = &sk->__sk_common;
	__u32 *la = (__u32 *)e->laddr, *ra = (__u32 *)e->raddr;

	e->sock = (__u64)sk;
	e->family = c->skc_family;
	e->transport = sk->sk_protocol;
	e->lport = c->skc_num;
	e->rport = bpf_ntohs(c->skc_dport);
	if (e->family == AF_INET) {
		la[0] = c->skc_rcv_saddr;
		ra[0] = c->skc_daddr;
	} else {
		for (int i = 0; i < 4; i++) {
			la[i] = c->skc_v6_rcv_saddr.in6_u.u6_addr32[i];
			ra[i] = c->skc_v6_daddr.in6_u.u6_addr32[i];
		}
	}
}

/* An unconnected UDP socket's peer, from the sockaddr a send names. */
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
 * `iov`, `iovcnt` long, from its byte `skip` on, into the payload; returns
 * the bytes copied. The array is read in one call: a read per iovec cost
 * ~0.1 µs more per writev of nginx's two. */
static __always_inline __u32 copy_iov(struct scratch *s, __u64 iov, __u64 iovcnt, __u64 skip,
				      __u64 want)
{
	struct iovec v[MAX_IOV] = {};
	__u64 off = 0;
	__u32 count = iovcnt < MAX_IOV ? iovcnt : MAX_IOV;

	if (!count || bpf_probe_read_user(v, count * sizeof(v[0]), (void *)iov))
		return 0;
	for (int i = 0; i < MAX_IOV; i++) {
		__u64 n, len = v[i].iov_len;
		__u8 *base = v[i].iov_base;

		if (i >= count || off >= want)
			break;
		if (skip >= len) {
			skip -= len;
			continue;
		}
		base += skip;
		len -= skip;
		skip = 0;
		n = len < want - off ? len : want - off;
		if (off >= DFLOW_MAX_SNAPLEN || n > DFLOW_MAX_SNAPLEN)
			break;
		if (bpf_probe_read_user(&s->payload[off], n, base))
			break;
		off += n;
	}
	return off;
}

/* Where in a TCP syscall of `len` bytes, its first at sequence number
 * `seq`, to begin the capture: at the hint userspace left for this
 * direction when the syscall moves that byte (the hint is then used up),
 * else at 0. Only a syscall longer than a snaplen has bytes the capture
 * would miss. */
static __always_inline __u32 hinted_offset(const struct sock *sk, __u8 direction, __u32 seq,
					   __u64 len)
{
	struct dflow_hint_key key = { .sock = (__u64)sk, .direction = direction };
	__u32 *next, at;

	if (len <= snaplen())
		return 0;
	next = bpf_map_lookup_elem(&dflow_tr_hints, &key);
	if (!next)
		return 0;
	at = *next - seq;
	if (at < len) {
		bpf_map_delete_elem(&dflow_tr_hints, &key);
		return at;
	}
	/* Behind this syscall (the difference wrapped): stale. Ahead: a
	 * later syscall's. */
	if (at >= 1u << 31)
		bpf_map_delete_elem(&dflow_tr_hints, &key);
	return 0;
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

/* The task an event is about, read from its task_struct once per event:
 * a helper call costs more than a load here (the kernel's return thunks),
 * and the pid, the comm and the registers all come from the one task. */
struct who {
	struct task_struct *task;
	__u64 comm[2];
	__u32 pid; /* tgid */
	__u32 tid;
};

/* Whether the current task is dflow's target: not dflow, not a kernel
 * thread (whose saved registers hold no syscall: NFS, kernel TLS), and
 * selected by the filters. Fills `w` as far as it got. */
static __always_inline bool target(struct who *w)
{
	struct task_struct *task = bpf_get_current_task_btf();

	w->task = task;
	w->pid = task->tgid;
	w->tid = task->pid;
	if (w->pid == dflow_self || (task->flags & PF_KTHREAD))
		return false;
	dflow_task_comm(task, w->comm);
	return dflow_wanted(w->pid, w->comm);
}

/* The scratch event of this CPU, its header cleared and the task's
 * identity and the time filled in. */
static __always_inline struct scratch *scratch(const struct who *w)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct scratch *s = bpf_map_lookup_elem(&dflow_tr_scratch, &cpu);
	__u64 *comm;

	if (!s)
		return NULL;
	__builtin_memset(&s->e, 0, sizeof(s->e));
	s->e.pid = w->pid;
	s->e.tid = w->tid;
	comm = (__u64 *)s->e.comm;
	comm[0] = w->comm[0];
	comm[1] = w->comm[1];
	s->e.enter_ns = s->e.exit_ns = bpf_ktime_get_ns();
	return s;
}

/* The task's registers as its syscall entered: the syscall number and
 * arguments. */
static __always_inline struct pt_regs *syscall_regs(const struct who *w)
{
	return (struct pt_regs *)bpf_task_pt_regs(w->task);
}

/*
 * Which message of the vector at `vec` a sendmmsg/recvmmsg is at: the
 * tracepoint fires once per message, in order. A thread's count restarts
 * with another vector, or after the vector's `vlen` messages. A recvmmsg
 * that returned early and is called again on the same vector continues the
 * count (the kernel leaves nothing that tells the two calls apart); the
 * README's limits say so.
 */
static __always_inline __u32 mmsg_index(const struct who *w, __u64 vec, __u64 vlen)
{
	__u64 id = (__u64)w->pid << 32 | w->tid;
	struct mmsg_cursor *c = bpf_map_lookup_elem(&dflow_tr_mmsg, &id);
	struct mmsg_cursor fresh = { .vec = vec, .next = 1 };
	__u32 i;

	if (!c || c->vec != vec || c->next >= vlen) {
		bpf_map_update_elem(&dflow_tr_mmsg, &id, &fresh, BPF_ANY);
		return 0;
	}
	i = c->next;
	c->next = i + 1;
	return i;
}

/* One sendmsg/recvmsg (or one message of their mmsg forms): the peer of a
 * send, and the payload from its iovecs. */
static __always_inline __u32 copy_msghdr(struct scratch *s, __u64 umsg, bool egress, __u64 skip,
					 __u64 want)
{
	struct user_msghdr msg = {};

	if (bpf_probe_read_user(&msg, sizeof(msg), (void *)umsg))
		return 0;
	if (egress)
		fill_peer(&s->e, (__u64)msg.msg_name);
	return copy_iov(s, (__u64)msg.msg_iov, msg.msg_iovlen, skip, want);
}

/* A send or a receive of `ret` bytes on `sk` by the current thread. */
static __always_inline int data(const struct sock *sk, int ret, int flags, __u8 direction)
{
	bool egress = direction == DFLOW_EGRESS;
	struct who w;
	struct scratch *s;
	struct pt_regs *regs;
	__u32 captured = 0, offset = 0;
	__u64 len, want, nr;
	__u16 proto;

	/* A peek is read again for real; errors and EOF moved nothing. */
	if (ret <= 0 || (!egress && (flags & MSG_PEEK)))
		return 0;
	if (!target(&w))
		return 0;
	if (!inet_family(sk->__sk_common.skc_family))
		return 0;
	proto = sk->sk_protocol;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 0;
	len = (__u32)ret; /* positive: zero-extended, for the verifier */
	regs = syscall_regs(&w);
	nr = regs->orig_ax;
	s = scratch(&w);
	if (!s)
		return 0;
	s->e.kind = DFLOW_DATA;
	s->e.direction = direction;
	s->e.bytes = len;
	s->e.fd = regs->di;
	fill_socket(&s->e, sk);
	if (proto == IPPROTO_TCP) {
		struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);

		/* Both have moved past this syscall's bytes by now. */
		if (tp) {
			s->e.seq = (egress ? tp->write_seq : tp->copied_seq) - len;
			offset = hinted_offset(sk, direction, s->e.seq, len);
		}
	}
	s->e.offset = offset;
	want = len - offset < snaplen() ? len - offset : snaplen();
	switch (nr) {
	case NR_READ:
	case NR_WRITE:
	case NR_SENDTO:
	case NR_RECVFROM:
		if (nr == NR_SENDTO)
			fill_peer(&s->e, regs->r8);
		if (want <= DFLOW_MAX_SNAPLEN &&
		    !bpf_probe_read_user(s->payload, want, (void *)(regs->si + offset)))
			captured = want;
		break;
	case NR_READV:
	case NR_WRITEV:
		captured = copy_iov(s, regs->si, regs->dx, offset, want);
		break;
	case NR_SENDMSG:
	case NR_RECVMSG:
		captured = copy_msghdr(s, regs->si, egress, offset, want);
		break;
	case NR_SENDMMSG:
	case NR_RECVMMSG: {
		__u32 i = mmsg_index(&w, regs->si, regs->dx);

		captured = copy_msghdr(s, regs->si + (__u64)i * sizeof(struct mmsghdr), egress,
				       offset, want);
		break;
	}
	case NR_SENDFILE:
		/* From a file, not user memory: the bytes count, the payload
		 * is not seen. */
		break;
	case NR_SPLICE:
		s->e.fd = regs->dx; /* fd_out */
		break;
	default:
		/* io_uring, kernel-internal sockets: no user buffer to read,
		 * no fd. */
		return 0;
	}
	/* A datagram received on an unconnected socket has no known peer
	 * here: the port filter cannot judge it, userspace does. */
	if (!dflow_port_wanted(s->e.lport, s->e.rport) && s->e.rport)
		return 0;
	emit(s, captured);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(dflow_tr_send, struct sock *sk, int ret, int flags)
{
	return data(sk, ret, flags, DFLOW_EGRESS);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(dflow_tr_recv, struct sock *sk, int ret, int flags)
{
	return data(sk, ret, flags, DFLOW_INGRESS);
}

/*
 * connect() and close() of a TCP socket, from the state changes they make
 * in the caller's context: CLOSE -> SYN_SENT in connect(); -> FIN_WAIT1,
 * LAST_ACK or CLOSE (with unread data: a reset) in the last close() of the
 * socket, or at the process's exit; CLOSE_WAIT -> LAST_ACK in a shutdown()
 * after the peer's FIN, which ends the connection both ways: Node.js
 * answers a client's close so, and the client's ACK then moves the socket
 * to CLOSE in softirq, before the close(), which changes nothing and so is
 * not seen. A shutdown() of a connection still open the other way
 * (-> FIN_WAIT1) ends nothing. The same changes made in softirq context
 * for another socket are left out by the syscall number.
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(dflow_tr_state, const struct sock *sk, int oldstate, int newstate)
{
	struct scratch *s;
	struct pt_regs *regs;
	struct who w;
	__u64 nr;
	__u8 kind;

	if (newstate == TCP_SYN_SENT)
		kind = DFLOW_CONNECT;
	else if (newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK || newstate == TCP_CLOSE)
		kind = DFLOW_CLOSE;
	else
		return 0;
	if (!target(&w))
		return 0;
	if (!inet_family(sk->__sk_common.skc_family) || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	regs = syscall_regs(&w);
	nr = regs->orig_ax;
	if (kind == DFLOW_CONNECT ? nr != NR_CONNECT
				  : nr != NR_CLOSE && nr != NR_EXIT && nr != NR_EXIT_GROUP &&
					    !(nr == NR_SHUTDOWN && newstate == TCP_LAST_ACK))
		return 0;
	s = scratch(&w);
	if (!s)
		return 0;
	fill_socket(&s->e, sk);
	if (!dflow_port_wanted(s->e.lport, s->e.rport))
		return 0;
	if (kind == DFLOW_CLOSE || kind == DFLOW_CONNECT) {
		/* A connection's hints end with it: the socket's address may
		 * be the next one's. */
		struct dflow_hint_key key = { .sock = (__u64)sk, .direction = DFLOW_EGRESS };

		bpf_map_delete_elem(&dflow_tr_hints, &key);
		key.direction = DFLOW_INGRESS;
		bpf_map_delete_elem(&dflow_tr_hints, &key);
	}
	s->e.kind = kind;
	s->e.fd = nr == NR_CLOSE || nr == NR_CONNECT || nr == NR_SHUTDOWN ? regs->di : DFLOW_NO_FD;
	emit(s, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
