// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * kprobe backend: for kernels with CONFIG_KPROBES but no BPF trampolines.
 * Kernel functions are not a stable interface; these have kept their
 * signatures since 4.x:
 *   tcp_v4_connect(struct sock *, struct sockaddr *, int)   net/ipv4/tcp_ipv4.c
 *   tcp_v6_connect(struct sock *, struct sockaddr *, int)   net/ipv6/tcp_ipv6.c
 *   tcp_set_state(struct sock *, int)                        net/ipv4/tcp.c
 *   inet_csk_accept(...) -> struct sock *  (arguments changed in 6.10; only
 *   the return value is read, so both forms work)
 *
 * The connect's return is where the identity is captured: the socket is
 * locked by the caller (inet_stream_connect), so the SYN-ACK or RST is
 * processed at release_sock(), after this return, and tcp_set_state() then
 * reports the outcome with the identity already in the map.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The socket of each connect in progress, by thread id: a kretprobe sees no
 * arguments, and threads of one process connect concurrently. */
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

static __always_inline int nt_exit_connect(int ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *val = bpf_map_lookup_elem(&connect_socks, &tid);
	struct sock *sk;

	if (!val)
		return 0;
	sk = (struct sock *)*val;
	bpf_map_delete_elem(&connect_socks, &tid);
	if (ret == 0)
		nt_connect_started(sk);
	else
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
	nt_on_state_change(NT_RAW, false, sk, BPF_CORE_READ(sk, __sk_common.skc_state), state);
	return 0;
}

SEC("kretprobe/inet_csk_accept")
int BPF_KRETPROBE(kretprobe_inet_csk_accept, struct sock *newsk)
{
	nt_accepted(NT_RAW, newsk);
	return 0;
}
