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
#define NT_TCP_CLOSE 7
/* Slots of the drop counter array (a power of two: see nt_count_drop). */
#define NT_MAX_CPUS 1024

/* Filters and settings, fixed at load time (struct nt_config). */
const volatile struct nt_config nt_cfg = {
	.direction = NT_DIR_BOTH,
	.wakeup_bytes = 1 << 20,
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

/* Who started a connect: captured in the connecting task, used when the
 * connect's outcome is known (often in softirq, on another task's stack). */
struct nt_identity {
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	char comm[NT_COMM_LEN];
	/* connecting map only: the state the connect was last seen in,
	 * NT_TCP_SYN_SENT or (simultaneous open) NT_TCP_SYN_RECV. */
	__u32 state;
};

/* Connects in flight, keyed by struct sock address. LRU so that sockets whose
 * outcome we never see (a hook missed, an exotic path) age out instead of
 * filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct nt_identity);
} connecting SEC(".maps");

static __always_inline void nt_current_identity(struct nt_identity *id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	id->pid = pid_tgid >> 32;
	id->tid = (__u32)pid_tgid;
	id->uid = (__u32)bpf_get_current_uid_gid();
	id->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(id->comm, sizeof(id->comm));
	id->state = NT_TCP_SYN_SENT;
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
	if (nt_cfg.family && nt_shown_family(&e) != nt_cfg.family)
		return;
	if (!nt_port_wanted(e.lport, e.rport))
		return;
	if (nt_cfg.netns && e.netns != nt_cfg.netns)
		return;
	e.kind = kind;
	e.error = error;
	e.pid = id->pid;
	e.tid = id->tid;
	e.uid = id->uid;
	e.ts_ns = bpf_ktime_get_ns();
	e.cgroup_id = id->cgroup_id;
	__builtin_memcpy(e.comm, id->comm, NT_COMM_LEN);

	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= nt_cfg.wakeup_bytes ?
			      BPF_RB_FORCE_WAKEUP :
			      BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&events, &e, sizeof(e), flags))
		nt_count_drop(NT_DROP_RINGBUF_FULL);
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

/*
 * Every backend's state hook (tp_btf/inet_sock_set_state, fentry and kprobe on
 * tcp_set_state) calls this with the old and the new state, so that following
 * one more transition is a change here, once for the three backends.
 * `any_proto`: the hook also sees sockets that are not TCP (the tracepoint
 * fires for every inet protocol; tcp_set_state() only for TCP), so sk is
 * checked, after the cheap state test since most transitions end here.
 * Where a connect starts differs by backend (tracepoint: CLOSE -> SYN_SENT in
 * its own program; kprobe and fentry: where tcp_v4/v6_connect() return).
 */
static __always_inline void nt_on_state_change(bool btf, bool any_proto, struct sock *sk,
					       int oldstate, int newstate)
{
	if (!nt_connect_may_end(oldstate))
		return;
	if (any_proto && !nt_is_tcp(btf, sk))
		return;
	nt_connect_outcome(btf, sk, oldstate, newstate);
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
