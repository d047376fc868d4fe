/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every backend shares: the ring buffer, the drop counters, the map of
 * connects in flight, the filters (rodata knobs set before load) and the code
 * that turns a struct sock into an nt_event. Each backend's .bpf.c includes
 * this once; the backends differ only in where they learn of a connect and of
 * an accept.
 */
#ifndef NETTRACE_COMMON_BPF_H
#define NETTRACE_COMMON_BPF_H

#include "nettrace_event.h"

#define NT_IPPROTO_TCP 6
#define NT_SOCK_STREAM 1
#define NT_S_IFMT 00170000
#define NT_S_IFSOCK 0140000
/* include/net/tcp_states.h */
#define NT_TCP_ESTABLISHED 1
#define NT_TCP_SYN_SENT 2
#define NT_TCP_SYN_RECV 3
#define NT_TCP_FIN_WAIT1 4
#define NT_TCP_FIN_WAIT2 5
#define NT_TCP_CLOSE 7
#define NT_TCP_CLOSE_WAIT 8
#define NT_TCP_LAST_ACK 9
#define NT_TCP_CLOSING 11
/* include/uapi/asm-generic/errno*.h */
#define NT_EPIPE 32
#define NT_ECONNRESET 104
/* Slots of the drop counter array (a power of two: see nt_count_drop). */
#define NT_MAX_CPUS 1024

/* Filters and settings, fixed at load time (struct nt_config). */
const volatile struct nt_config nt_cfg = {
	.direction = NT_DIR_BOTH,
	.wakeup_bytes = 1 << 20,
	.owners_max = 65536,
};

/* Every event, in order, for user space. Size set by user space before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

/* Events dropped because the ring buffer was full, per CPU and reason. In
 * .bss, which user space reads through the skeleton's mmap without a bpf()
 * call, so the counts stay readable after nettrace drops its privileges. */
__u64 drops[NT_MAX_CPUS][NT_DROP_MAX];

/* Connects in flight, keyed by struct sock address. LRU so that sockets whose
 * outcome we never see (a hook missed, an exotic path) age out instead of
 * filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct nt_identity);
} connecting SEC(".maps");

/*
 * At most nt_cfg.owners_max owners at once, counted exactly: nt_owner_live is
 * inserted minus deleted at close, and an insert that finds it at capacity
 * keeps nothing and counts one eviction (NT_DROP_OWNER_EVICTED, reported like
 * lost events). Refusing the newest rather than letting the LRU push out the
 * oldest is what makes the count exact: an LRU map evicts silently, and the
 * common LRU even evicts before it is full (it hands free nodes to per-CPU
 * lists in batches). The map is still an LRU, with spare nodes beyond
 * owners_max (set by user space before load), so that entries whose close we
 * never saw (a hook run the kernel skipped) cannot fill it: they age out
 * once the spare nodes are used.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct nt_owner);
} owners SEC(".maps");

/* Owners in the map (entries whose close was missed stay counted). */
__s64 nt_owner_live;
/* Closes still to be reported as NT_OWNER_EVICTED: one per eviction, spent
 * by closes that find no owner once an owner was evicted. */
__s64 nt_evicted_unreported;

/*
 * Who the current process is beyond its pid: its start time and its parent.
 * Both are read from the thread group leader, so every thread of a process
 * gives the same pair. start_boottime (CLOCK_BOOTTIME ns, Linux 5.5+; named
 * real_start_time before) is what /proc/PID/stat's starttime is made from,
 * so user space can check that /proc/PID is still the process the kernel
 * saw; start_time would be CLOCK_MONOTONIC, which stops during suspend.
 * real_parent, not parent: a ptracer is not the parent. Read through
 * bpf_get_current_task() and CO-RE reads, which every backend and 5.10 allow.
 */
static __always_inline void nt_fill_process(__u64 *start_ns, __u32 *ppid)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);

	*start_ns = BPF_CORE_READ(leader, start_boottime);
	*ppid = BPF_CORE_READ(leader, real_parent, tgid);
}

static __always_inline void nt_current_identity(struct nt_identity *id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	id->pid = pid_tgid >> 32;
	id->tid = (__u32)pid_tgid;
	id->uid = (__u32)bpf_get_current_uid_gid();
	id->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(id->comm, sizeof(id->comm));
	id->state = NT_TCP_SYN_SENT;
	nt_fill_process(&id->start_ns, &id->ppid);
}

/*
 * The current task's open-file table: its fd array and how many slots it has.
 * bpf_get_current_task_btf() (Linux 5.11+) gives a BTF-typed task whose hops
 * are plain loads; before it (5.10) bpf_get_current_task() gives a plain
 * integer and each hop is a CO-RE bpf_probe_read_kernel(). The test is a
 * CO-RE relocation that libbpf resolves to a constant at load: a kernel
 * without the helper removes the branch that calls it as dead code before
 * it resolves helper calls, so one object loads on both.
 */
static __always_inline bool nt_current_fdtable(struct file ***fds, unsigned int *max_fds)
{
	struct fdtable *fdt;

	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)) {
		struct task_struct *task = bpf_get_current_task_btf();

		fdt = task->files->fdt;
		*fds = fdt->fd;
		*max_fds = fdt->max_fds;
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		fdt = BPF_CORE_READ(task, files, fdt);
		*fds = BPF_CORE_READ(fdt, fd);
		*max_fds = BPF_CORE_READ(fdt, max_fds);
	}
	return *fds != NULL;
}

/* The task filters: applied where the identity is captured. */
static __always_inline bool nt_identity_wanted(const struct nt_identity *id)
{
	if (nt_cfg.pid && id->pid != nt_cfg.pid)
		return false;
	if (nt_cfg.filter_uid && id->uid != nt_cfg.uid)
		return false;
	if (nt_cfg.cgroup_id && id->cgroup_id != nt_cfg.cgroup_id)
		return false;
	if (nt_cfg.filter_comm) {
		for (int i = 0; i < NT_COMM_LEN; i++) {
			if (id->comm[i] != nt_cfg.comm[i])
				return false;
			if (!nt_cfg.comm[i])
				break;
		}
	}
	return true;
}

/*
 * How a struct sock is read. tp_btf and fentry programs receive BTF-typed
 * pointers, which the verifier lets us dereference with plain loads (a load
 * with an exception-table fixup, about a nanosecond). A kprobe argument, or a
 * pointer we fetched ourselves with bpf_probe_read_kernel(), is a plain
 * integer to the verifier and costs a helper call per field (20-30 ns each:
 * measured with kernel.bpf_stats_enabled, the reads were most of the time our
 * hooks took). Every caller passes a literal NT_BTF or NT_RAW, so after
 * inlining one arm is folded away and the verifier never sees the other.
 */
#define NT_BTF true
#define NT_RAW false
#define NT_SK(btf, sk, field) ((btf) ? (sk)->field : BPF_CORE_READ(sk, field))

static __always_inline bool nt_family_ok(__u16 family)
{
	return family == NT_AF_INET || family == NT_AF_INET6;
}

static __always_inline bool nt_is_tcp(bool btf, struct sock *sk)
{
	if (!nt_family_ok(NT_SK(btf, sk, __sk_common.skc_family)))
		return false;
	return NT_SK(btf, sk, sk_protocol) == NT_IPPROTO_TCP &&
	       NT_SK(btf, sk, sk_type) == NT_SOCK_STREAM;
}

/*
 * For raw pointers: a private copy of struct sock_common, the head of every
 * struct sock, which holds every field an event needs but the namespace
 * inode. One bpf_probe_read_kernel() instead of seven. Its size comes from
 * the running kernel through CO-RE (bpf_core_type_size), and the field
 * offsets in the copy are relocated like any CO-RE access; the buffer is
 * larger than any sock_common so far (136 bytes in 6.18).
 */
struct nt_skc_copy {
	union {
		struct sock_common skc;
		char bytes[256];
	};
};

static __always_inline bool nt_copy_skc(struct sock *sk, struct nt_skc_copy *c)
{
	__u32 size = bpf_core_type_size(struct sock_common);

	if (size > sizeof(c->bytes))
		size = sizeof(c->bytes);
	return bpf_probe_read_kernel(c, size, sk) == 0;
}

/* Family, ports and addresses, from sk itself (BTF) or from a copy. */
static __always_inline void nt_fill_from_skc(const struct sock_common *skc, struct nt_event *e)
{
	e->family = skc->skc_family;
	e->lport = skc->skc_num;
	e->rport = bpf_ntohs(skc->skc_dport);
	if (e->family == NT_AF_INET) {
		__u32 saddr = skc->skc_rcv_saddr;
		__u32 daddr = skc->skc_daddr;
		__builtin_memcpy(e->laddr, &saddr, 4);
		__builtin_memcpy(e->raddr, &daddr, 4);
		return;
	}
	/* Word by word: each load stays inside one u6_addr32[] element, which
	 * is what the verifier checks a BTF access against. */
	for (int i = 0; i < 4; i++) {
		__u32 l = skc->skc_v6_rcv_saddr.in6_u.u6_addr32[i];
		__u32 r = skc->skc_v6_daddr.in6_u.u6_addr32[i];
		__builtin_memcpy(&e->laddr[4 * i], &l, 4);
		__builtin_memcpy(&e->raddr[4 * i], &r, 4);
	}
}

/* Fills the socket half of an event (family, 4-tuple, network namespace).
 * False when sk is not a TCP socket, so the paths that may see any socket
 * (accept) need no check of their own. */
static __always_inline bool nt_read_tcp_sock(bool btf, struct sock *sk, struct nt_event *e)
{
	if (btf) {
		if (!nt_is_tcp(NT_BTF, sk))
			return false;
		nt_fill_from_skc(&sk->__sk_common, e);
		e->netns = sk->__sk_common.skc_net.net->ns.inum;
		return true;
	}
	struct nt_skc_copy c;
	/* Accesses go through a struct sock_common pointer so that their
	 * CO-RE relocations are rooted at a kernel type, not at our union. */
	const struct sock_common *skc = &c.skc;

	if (!sk || !nt_copy_skc(sk, &c) || !nt_family_ok(skc->skc_family))
		return false;
	if (BPF_CORE_READ(sk, sk_protocol) != NT_IPPROTO_TCP ||
	    BPF_CORE_READ(sk, sk_type) != NT_SOCK_STREAM)
		return false;
	nt_fill_from_skc(skc, e);
	e->netns = BPF_CORE_READ(skc->skc_net.net, ns.inum);
	return true;
}

/*
 * The family user space prints. An AF_INET6 socket whose local address is
 * IPv4-mapped (::ffff:a.b.c.d: a dual-stack server's IPv4 client, or an AF_INET6
 * client of ::ffff:127.0.0.1) is printed as IPv4 (nt::unmap_v4,
 * src/trace/record.h, is the definition; this is its kernel-side twin, for
 * the -4/-6 filter only), so the filter counts it as IPv4 too.
 */
static __always_inline __u16 nt_shown_family(const struct nt_event *e)
{
	__u32 w[3];

	if (e->family != NT_AF_INET6)
		return e->family;
	__builtin_memcpy(w, e->laddr, sizeof(w));
	if (w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff))
		return NT_AF_INET;
	return NT_AF_INET6;
}

/* The port filter: any of nt_cfg.ports, local or remote. nt_cfg.nports is a
 * constant to the verifier (frozen rodata), and the loop is bounded anyway. */
static __always_inline bool nt_port_wanted(__u16 lport, __u16 rport)
{
	if (!nt_cfg.nports)
		return true;
	for (int i = 0; i < NT_MAX_PORTS; i++) {
		if (i >= nt_cfg.nports)
			break;
		if (nt_cfg.ports[i] == lport || nt_cfg.ports[i] == rport)
			return true;
	}
	return false;
}

static __always_inline void nt_count_drop(__u32 reason)
{
	/* A mask, not a compare: clang bounds-checks a copy of the register and
	 * indexes with the original, and the 6.1 verifier does not carry the
	 * bound across ("unbounded memory access"). CPUs beyond NT_MAX_CPUS share
	 * slots; the sum stays exact. */
	__u32 cpu = bpf_get_smp_processor_id() & (NT_MAX_CPUS - 1);

	if (reason >= NT_DROP_MAX)
		return;
	__sync_fetch_and_add(&drops[cpu][reason], 1);
}

/* The socket filters, on a filled event. */
static __always_inline bool nt_socket_wanted(const struct nt_event *e)
{
	if (nt_cfg.family && nt_shown_family(e) != nt_cfg.family)
		return false;
	if (!nt_port_wanted(e->lport, e->rport))
		return false;
	return !nt_cfg.netns || e->netns == nt_cfg.netns;
}

static __always_inline void nt_emit_close(bool btf, struct sock *sk, const struct nt_owner *o,
					  int oldstate, const struct nt_event *filled);

/* Remembers who owns a connection just reported, for its close. */
static __always_inline void nt_keep_owner(bool btf, struct sock *sk,
					  const struct nt_identity *id,
					  const struct nt_event *e)
{
	struct nt_owner o = {};
	__u64 key = (__u64)sk;

	/* No closes wanted: no owners either (a constant: the verifier drops
	 * the rest, and this hook costs what it did before closes existed). */
	if (!nt_cfg.emit_close)
		return;
	o.id = *id;
	o.start_ns = e->ts_ns;
	o.side = e->kind;
	o.family = e->family;
	o.lport = e->lport;
	o.rport = e->rport;
	o.netns = e->netns;
	__builtin_memcpy(o.laddr, e->laddr, NT_ADDR_LEN);
	__builtin_memcpy(o.raddr, e->raddr, NT_ADDR_LEN);
	/* An accepted socket may be closed already (a reset before accept()
	 * returned): its close has passed, so it is reported now. */
	if (NT_SK(btf, sk, __sk_common.skc_state) == NT_TCP_CLOSE) {
		nt_emit_close(btf, sk, &o, NT_TCP_CLOSE, e);
		return;
	}
	/* At capacity: this owner is not kept, and counted; its close will
	 * find no owner and be reported with pid 0 (nt_close_step). A test
	 * then an add, not one fetching add: atomics that return the old value
	 * need 5.12, and 5.10 is supported. Two CPUs racing past the test at
	 * capacity both insert: the map's spare nodes take them (nothing is
	 * evicted, so the count stays exact). */
	if (nt_owner_live >= (__s64)nt_cfg.owners_max) {
		__sync_fetch_and_add(&nt_evicted_unreported, 1);
		nt_count_drop(NT_DROP_OWNER_EVICTED);
		return;
	}
	if (bpf_map_update_elem(&owners, &key, &o, BPF_NOEXIST))
		/* The same socket again (a reused address whose close we
		 * missed): the new owner replaces the stale one, one entry. */
		bpf_map_update_elem(&owners, &key, &o, BPF_ANY);
	else
		__sync_fetch_and_add(&nt_owner_live, 1);
}

/* Builds the event, applies the socket filters, and hands it to user space.
 * Filters run before the ring buffer is touched, so the drop counts only
 * count events the user asked for. */
static __always_inline void nt_emit(bool btf, struct sock *sk, const struct nt_identity *id,
				    __u16 kind, __s32 error)
{
	struct nt_event e = {};

	if (nt_cfg.direction == NT_DIR_CONNECTS && kind == NT_EV_ACCEPT)
		return;
	if (nt_cfg.direction == NT_DIR_ACCEPTS && kind != NT_EV_ACCEPT)
		return;
	if (!nt_read_tcp_sock(btf, sk, &e))
		return;
	if (kind == NT_EV_FAILED && !e.lport)
		/* A failed connect releases its port (tcp_set_state(TCP_CLOSE) ->
		 * inet_put_port() zeroes skc_num) before the tracepoint fires;
		 * inet_sport still holds the port the kernel chose at connect. 0
		 * only when the connect failed before a port was chosen. */
		e.lport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	if (!nt_socket_wanted(&e))
		return;
	e.kind = kind;
	e.error = error;
	e.pid = id->pid;
	e.tid = id->tid;
	e.uid = id->uid;
	e.ts_ns = bpf_ktime_get_ns();
	e.cgroup_id = id->cgroup_id;
	e.ppid = id->ppid;
	e.start_ns = id->start_ns;
	__builtin_memcpy(e.comm, id->comm, NT_COMM_LEN);

	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= nt_cfg.wakeup_bytes ?
			      BPF_RB_FORCE_WAKEUP :
			      BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&events, &e, sizeof(e), flags)) {
		nt_count_drop(NT_DROP_RINGBUF_FULL);
		return;
	}
	if (kind != NT_EV_FAILED)
		nt_keep_owner(btf, sk, id, &e);
}

/* A connect has started in the current task: remember who, keyed by socket. */
static __always_inline void nt_connect_started(struct sock *sk)
{
	struct nt_identity id;
	__u64 key = (__u64)sk;

	nt_current_identity(&id);
	if (!nt_identity_wanted(&id))
		return;
	bpf_map_update_elem(&connecting, &key, &id, BPF_ANY);
}

/* Whether a state change may end a connect in flight: the callers test this
 * first, since most state changes are other transitions. */
static __always_inline bool nt_connect_may_end(int oldstate)
{
	return oldstate == NT_TCP_SYN_SENT || oldstate == NT_TCP_SYN_RECV;
}

/*
 * The state machine's verdict on a connect in flight. Runs wherever the
 * kernel changes the state: often softirq, so the identity comes from the map,
 * never from the current task.
 *
 * Usually SYN_SENT -> ESTABLISHED (connected) or SYN_SENT -> CLOSE (refused,
 * timed out, abandoned). A simultaneous open, of which a self-connect (a
 * socket bound to port P connecting to its own address and P) is the common
 * case, goes SYN_SENT -> SYN_RECV -> ESTABLISHED: it is still this task's
 * outgoing connect, with no accept anywhere. Every accepted socket also goes
 * SYN_RECV -> ESTABLISHED, so an entry only counts from SYN_RECV if we saw it
 * get there: a stale entry (an outcome the kernel skipped) whose socket
 * memory now holds an accepted socket must not turn into a connect.
 */
static __always_inline void nt_connect_outcome(bool btf, struct sock *sk, int oldstate,
					       int newstate)
{
	__u64 key = (__u64)sk;
	struct nt_identity *id;

	if (!nt_connect_may_end(oldstate))
		return;
	id = bpf_map_lookup_elem(&connecting, &key);
	if (!id)
		return;
	if (id->state != oldstate) {
		bpf_map_delete_elem(&connecting, &key);
		return;
	}
	if (newstate == NT_TCP_SYN_RECV) {
		id->state = NT_TCP_SYN_RECV;
		return;
	}
	if (newstate == NT_TCP_ESTABLISHED)
		nt_emit(btf, sk, id, NT_EV_CONNECT, 0);
	else
		/* CLOSE, or FIN_WAIT1 when closed in SYN_RECV. tcp_reset() and
		 * tcp_write_err() set sk_err before tcp_done() moves the socket
		 * to CLOSE; 0 when the connect was abandoned. */
		nt_emit(btf, sk, id, NT_EV_FAILED, NT_SK(btf, sk, sk_err));
	bpf_map_delete_elem(&connecting, &key);
}


/* States a reported connection passes through after ESTABLISHED. */
static __always_inline bool nt_was_established(int state)
{
	return state == NT_TCP_ESTABLISHED || state == NT_TCP_FIN_WAIT1 ||
	       state == NT_TCP_FIN_WAIT2 || state == NT_TCP_CLOSE_WAIT ||
	       state == NT_TCP_LAST_ACK || state == NT_TCP_CLOSING;
}

/* The transitions the close branch follows: the first local close (FIN_WAIT1
 * after close()/shutdown(), LAST_ACK after close() once the peer's FIN came),
 * both in the closing task, and the end. Every other transition returns at
 * this test. */
static __always_inline bool nt_close_related(int newstate)
{
	return newstate == NT_TCP_CLOSE || newstate == NT_TCP_FIN_WAIT1 ||
	       newstate == NT_TCP_LAST_ACK;
}

/*
 * Who ended it, from the last state before CLOSE and the socket's error.
 * tcp_reset() sets sk_err (ECONNRESET; EPIPE in CLOSE_WAIT) before tcp_done()
 * moves the socket to CLOSE, and tcp_write_err()/tcp_abort() set theirs
 * (ETIMEDOUT, ECONNABORTED) the same way; a local abort (SO_LINGER 0, close()
 * with unread data) sets CLOSE straight from ESTABLISHED or CLOSE_WAIT with
 * sk_err still 0 (tcp_disconnect() sets ECONNRESET only after the state).
 * Without error, the path says who sent the first FIN: FIN_WAIT1, FIN_WAIT2
 * and CLOSING are ours first, LAST_ACK the peer's. One hook, the state one
 * every backend has, so no reset tracepoint is needed (tcp_receive_reset
 * only exists since 4.20 and is not in every backend's reach).
 */
static __always_inline __u16 nt_closed_by(int oldstate, int err)
{
	if (err == NT_ECONNRESET || err == NT_EPIPE)
		return NT_CLOSED_PEER_RESET;
	if (err)
		return NT_CLOSED_ERROR;
	switch (oldstate) {
	case NT_TCP_FIN_WAIT1:
	case NT_TCP_FIN_WAIT2:
	case NT_TCP_CLOSING:
		return NT_CLOSED_LOCAL;
	case NT_TCP_LAST_ACK:
		return NT_CLOSED_PEER;
	case NT_TCP_ESTABLISHED:
	case NT_TCP_CLOSE_WAIT:
		return NT_CLOSED_LOCAL_RESET;
	}
	return NT_CLOSED_UNKNOWN;
}

/*
 * The counters of a connection, in payload bytes, each byte once. Sent is
 * tcp_sock.bytes_acked, what the peer acknowledged (as tcplife counts it), not
 * tcp_sock.bytes_sent (4.19+): that one counts every retransmission again, so
 * a connection that lost one segment of a 1 MiB write reported 1 MiB plus
 * that segment. bytes_acked counts acknowledged sequence space, which
 * includes our SYN (connects: an accepted socket's starts after it) and our
 * FIN once acknowledged: both are taken off. Data still unacknowledged when
 * the connection is reset is not counted: the peer never confirmed it.
 * bytes_received includes the peer's FIN once received, which tcp_fin() marks
 * with SOCK_DONE. `state`: the state before CLOSE, or the current one for an
 * open dump.
 */
static __always_inline void nt_fill_counters(bool btf, struct sock *sk, struct nt_close_event *c,
					     int state, int err)
{
	struct tcp_sock *tp;
	__u64 flags;

	if (btf) {
		tp = bpf_skc_to_tcp_sock(sk);
		if (!tp)
			return;
		c->bytes_received = tp->bytes_received;
		c->retransmits = tp->total_retrans;
		c->srtt_us = tp->srtt_us >> 3;
		flags = sk->__sk_common.skc_flags;
		c->bytes_sent = tp->bytes_acked;
	} else {
		tp = (struct tcp_sock *)sk;
		c->bytes_received = BPF_CORE_READ(tp, bytes_received);
		c->retransmits = BPF_CORE_READ(tp, total_retrans);
		c->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
		flags = BPF_CORE_READ(sk, __sk_common.skc_flags);
		c->bytes_sent = BPF_CORE_READ(tp, bytes_acked);
	}
	if (flags & (1ULL << bpf_core_enum_value(enum sock_flags, SOCK_DONE)))
		c->bytes_received -= c->bytes_received ? 1 : 0;
	if (c->e.kind == NT_EV_CONNECT || c->side == NT_EV_CONNECT)
		c->bytes_sent -= c->bytes_sent ? 1 : 0;
	if (!err && (state == NT_TCP_FIN_WAIT2 || state == NT_TCP_CLOSING ||
		     state == NT_TCP_LAST_ACK))
		c->bytes_sent -= c->bytes_sent ? 1 : 0;
}

/* Whether an owner entry belongs to this socket, not to an earlier one at the
 * same address whose close we missed. The local port is 0 once CLOSE has
 * released it (inet_put_port runs before the tracepoint), so it counts only
 * when set. */
static __always_inline bool nt_owner_matches(bool btf, struct sock *sk, const struct nt_owner *o)
{
	__u16 lport = NT_SK(btf, sk, __sk_common.skc_num);

	return o->family == NT_SK(btf, sk, __sk_common.skc_family) &&
	       o->rport == bpf_ntohs(NT_SK(btf, sk, __sk_common.skc_dport)) &&
	       (!lport || lport == o->lport);
}

/* The close event of a connection, owned (o) or not (o null: evicted). */
/* `filled`: the socket half already read (the accept that found its socket
 * closed), so that path needs no second copy of the socket on the stack. */
static __always_inline void nt_emit_close(bool btf, struct sock *sk, const struct nt_owner *o,
					  int oldstate, const struct nt_event *filled)
{
	struct nt_close_event *c;
	int err = NT_SK(btf, sk, sk_err);
	__u64 flags;

	c = bpf_ringbuf_reserve(&events, sizeof(*c), 0);
	if (!c) {
		nt_count_drop(NT_DROP_RINGBUF_FULL);
		return;
	}
	__builtin_memset(c, 0, sizeof(*c));
	if (filled)
		__builtin_memcpy(&c->e, filled, sizeof(c->e));
	else if (!nt_read_tcp_sock(btf, sk, &c->e))
		goto discard;
	if (o) {
		if (!c->e.lport)
			c->e.lport = o->lport;
		c->e.pid = o->id.pid;
		c->e.tid = o->id.tid;
		c->e.uid = o->id.uid;
		c->e.cgroup_id = o->id.cgroup_id;
		c->e.ppid = o->id.ppid;
		c->e.start_ns = o->id.start_ns;
		__builtin_memcpy(c->e.comm, o->id.comm, NT_COMM_LEN);
		c->side = o->side;
		c->last_pid = o->last_pid;
		__builtin_memcpy(c->last_comm, o->last_comm, NT_COMM_LEN);
	} else {
		if (!c->e.lport)
			c->e.lport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
		if (!nt_socket_wanted(&c->e))
			goto discard;
		/* One close reported per eviction (CPUs racing on the last
		 * one may each report one: at most one more per CPU). */
		__sync_fetch_and_add(&nt_evicted_unreported, -1);
		c->owner = NT_OWNER_EVICTED;
	}
	c->e.kind = NT_EV_CLOSE;
	c->e.error = err;
	c->e.ts_ns = bpf_ktime_get_ns();
	if (o)
		c->duration_ns = c->e.ts_ns - o->start_ns;
	c->closed_by = nt_closed_by(oldstate, err);
	nt_fill_counters(btf, sk, c, oldstate, err);
	flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= nt_cfg.wakeup_bytes ?
			BPF_RB_FORCE_WAKEUP :
			BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(c, flags);
	return;
discard:
	bpf_ringbuf_discard(c, BPF_RB_NO_WAKEUP);
}

/* The process running now, as the one that closed the connection. */
static __always_inline void nt_note_closer(struct nt_owner *o)
{
	o->last_pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(o->last_comm, sizeof(o->last_comm));
}

/*
 * The close branch: FIN_WAIT1 or LAST_ACK (a local close, in the closing
 * task: note it) or CLOSE (emit the close record, forget the owner). Only
 * sockets with an owner, that is connections nettrace reported; a socket
 * without one is reported (pid 0, NT_OWNER_EVICTED) only while evictions are
 * unaccounted for, one per eviction.
 */
static __always_inline void nt_close_step(bool btf, bool any_proto, struct sock *sk, int oldstate,
					  int newstate)
{
	__u64 key = (__u64)sk;
	struct nt_owner *o;

	if (!nt_cfg.emit_close || !nt_was_established(oldstate))
		return;
	o = bpf_map_lookup_elem(&owners, &key);
	if (o && !nt_owner_matches(btf, sk, o)) {
		if (!bpf_map_delete_elem(&owners, &key))
			__sync_fetch_and_add(&nt_owner_live, -1);
		o = NULL;
	}
	if (newstate != NT_TCP_CLOSE) {
		if (o)
			nt_note_closer(o);
		return;
	}
	if (!o) {
		if (nt_evicted_unreported <= 0)
			return;
		if (any_proto && !nt_is_tcp(btf, sk))
			return;
		nt_emit_close(btf, sk, NULL, oldstate, NULL);
		return;
	}
	/* CLOSE straight from ESTABLISHED or CLOSE_WAIT without an error is a
	 * local abort, in the aborting task. */
	if ((oldstate == NT_TCP_ESTABLISHED || oldstate == NT_TCP_CLOSE_WAIT) &&
	    !NT_SK(btf, sk, sk_err))
		nt_note_closer(o);
	nt_emit_close(btf, sk, o, oldstate, NULL);
	if (!bpf_map_delete_elem(&owners, &key))
		__sync_fetch_and_add(&nt_owner_live, -1);
}

/* A connect's outcome, if this transition may be one. */
static __always_inline void nt_on_connect_state(bool btf, bool any_proto, struct sock *sk,
						int oldstate, int newstate)
{
	if (!nt_connect_may_end(oldstate))
		return;
	if (any_proto && !nt_is_tcp(btf, sk))
		return;
	nt_connect_outcome(btf, sk, oldstate, newstate);
}

/*
 * nt_on_state_change split, for a backend that runs two programs on its hook
 * (tracepoint.bpf.c says why): the transitions that end a connection or
 * start its close (FIN_WAIT1 and LAST_ACK in the task that calls close() or
 * shutdown(), CLOSE), and connect outcomes (nt_on_connect_state). Closes
 * off: nothing, the test is a constant.
 */
static __always_inline void nt_on_close_state(bool btf, bool any_proto, struct sock *sk,
					      int oldstate, int newstate)
{
	if (nt_cfg.emit_close && nt_close_related(newstate))
		nt_close_step(btf, any_proto, sk, oldstate, newstate);
}

/*
 * Every backend's state hook (tp_btf/inet_sock_set_state, fentry and kprobe on
 * tcp_set_state) calls this with the old and the new state, so that following
 * one more transition is a change here, once for the three backends.
 * `any_proto`: the hook also sees sockets that are not TCP (the tracepoint
 * fires for every inet protocol; tcp_set_state() only for TCP), so sk is
 * checked, after the cheap state test since most transitions end here.
 * Where a connect starts differs by backend (tracepoint: CLOSE -> SYN_SENT in
 * its own program; kprobe: CLOSE -> SYN_SENT before calling this; fentry:
 * where tcp_v4/v6_connect() return).
 */
static __always_inline void nt_on_state_change(bool btf, bool any_proto, struct sock *sk,
					       int oldstate, int newstate)
{
	nt_on_close_state(btf, any_proto, sk, oldstate, newstate);
	nt_on_connect_state(btf, any_proto, sk, oldstate, newstate);
}

/* A connect that failed before it ever reached SYN_SENT (routing, port
 * exhaustion...), seen where tcp_v4_connect()/tcp_v6_connect() return: the
 * current task is the connecting one. kprobe and fentry backends only. */
static __always_inline void nt_connect_failed_now(bool btf, struct sock *sk, int err)
{
	struct nt_identity id;

	nt_current_identity(&id);
	if (!nt_identity_wanted(&id))
		return;
	nt_emit(btf, sk, &id, NT_EV_FAILED, err < 0 ? -err : err);
}

/* An accepted socket, in the accepting task. */
static __always_inline void nt_accepted(bool btf, struct sock *sk)
{
	struct nt_identity id;

	/* Whether sk is TCP at all is checked where it is read, in nt_emit:
	 * on the raw path that check shares the one copy of the socket. */
	nt_current_identity(&id);
	if (!nt_identity_wanted(&id))
		return;
	nt_emit(btf, sk, &id, NT_EV_ACCEPT, 0);
}

#endif /* NETTRACE_COMMON_BPF_H */
