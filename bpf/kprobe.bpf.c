// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * kprobe backend: for kernels with CONFIG_KPROBES but no BPF trampolines.
 * Kernel functions are not a stable interface; these have kept their
 * signatures since 4.x:
 *   tcp_v4_connect(struct sock *, struct sockaddr *, int)   net/ipv4/tcp_ipv4.c
 *   tcp_v6_connect(struct sock *, struct sockaddr *, int)   net/ipv6/tcp_ipv6.c
 *   tcp_set_state(struct sock *, int)                        net/ipv4/tcp.c
 *
 * Nothing that must be seen depends on a kretprobe. A kretprobe keeps one
 * instance per call in flight, and the kernel gives it only
 * num_possible_cpus() of them on a kernel without CONFIG_PREEMPTION (most
 * distribution kernels before 6.x; max(10, 2 * CPUs) with it), counting the
 * calls it then misses nowhere a perf-event kprobe can read. A server thread
 * blocked in accept() holds an instance for as long as it waits, so a
 * kretprobe on inet_csk_accept() saw no accept at all once as many threads
 * as CPUs were waiting; and eight threads connecting at once on one CPU lost
 * 14 of 16 connects on Debian 11's 5.10 (the kernel matrix), since a connect
 * can sleep inside tcp_v4_connect() (cond_resched() in the port search).
 * So, like the tracepoint backend:
 *   - a connect starts at tcp_set_state(CLOSE -> SYN_SENT), which runs inside
 *     tcp_v4_connect()/tcp_v6_connect() in the connecting task;
 *   - an accept is seen at the accept system calls' exit (tracepoints).
 * The connect's kretprobe is kept for what only it can see, a connect that
 * fails inside tcp_v4_connect() (routing, no free port) with its error: if
 * it misses, that one failure goes unreported.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "common.bpf.h"
#include "accept_syscalls.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The socket of each tcp_v4_connect()/tcp_v6_connect() call in progress, by
 * thread id: a kretprobe sees no arguments, and threads of one process
 * connect concurrently. An entry whose return was missed stays until that
 * thread connects again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} connect_socks SEC(".maps");

static __always_inline int nt_enter_connect(struct sock *sk)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 val = (__u64)sk;

	bpf_map_update_elem(&connect_socks, &tid, &val, BPF_ANY);
	return 0;
}

/* Whether the current thread is inside tcp_v4_connect()/tcp_v6_connect() for
 * this socket. */
static __always_inline bool nt_inside_connect(struct sock *sk)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *val = bpf_map_lookup_elem(&connect_socks, &tid);

	return val && *val == (__u64)sk;
}

static __always_inline int nt_exit_connect(int ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *val = bpf_map_lookup_elem(&connect_socks, &tid);
	struct sock *sk;

	if (!val)
		return 0;
	sk = (struct sock *)*val;
	bpf_map_delete_elem(&connect_socks, &tid);
	/* A connect that went on was started at SYN_SENT (kprobe_tcp_set_state). */
	if (ret != 0)
		nt_connect_failed_now(NT_RAW, sk, ret);
	return 0;
}

SEC("kprobe/tcp_v4_connect")
int BPF_KPROBE(kprobe_tcp_v4_connect, struct sock *sk)
{
	return nt_enter_connect(sk);
}

SEC("kretprobe/tcp_v4_connect")
int BPF_KRETPROBE(kretprobe_tcp_v4_connect, int ret)
{
	return nt_exit_connect(ret);
}

SEC("kprobe/tcp_v6_connect")
int BPF_KPROBE(kprobe_tcp_v6_connect, struct sock *sk)
{
	return nt_enter_connect(sk);
}

SEC("kretprobe/tcp_v6_connect")
int BPF_KRETPROBE(kretprobe_tcp_v6_connect, int ret)
{
	return nt_exit_connect(ret);
}

SEC("kprobe/tcp_set_state")
int BPF_KPROBE(kprobe_tcp_set_state, struct sock *sk, int state)
{
	/* At entry sk_state still holds the old state. tcp_set_state() only
	 * sees TCP sockets, and the map only holds sockets whose connect we saw
	 * start. */
	int old = BPF_CORE_READ(sk, __sk_common.skc_state);

	if (old == NT_TCP_CLOSE && state == NT_TCP_SYN_SENT) {
		nt_connect_started(sk);
		return 0;
	}
	if (old == NT_TCP_SYN_SENT && state == NT_TCP_CLOSE && nt_inside_connect(sk)) {
		/* tcp_v4_connect() failing after SYN_SENT (no free port): its
		 * return reports it, with the error, as the fentry backend does. */
		__u64 key = (__u64)sk;

		bpf_map_delete_elem(&connecting, &key);
		return 0;
	}
	nt_on_state_change(NT_RAW, false, sk, old, state);
	return 0;
}
