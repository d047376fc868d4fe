// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fentry backend: BPF trampolines (x86-64 5.5+), the cheapest hooks: a direct
 * call, no trap, arguments and return value at hand. Same kernel functions as
 * the kprobe backend (see kprobe.bpf.c for their stability and why the
 * identity is captured at the connect's return).
 *
 * inet_csk_accept changed its arguments in Linux 6.10
 *   (sk, flags, err, kern) -> (sk, struct proto_accept_arg *arg).
 * An fexit program receives the traced function's return value after its
 * arguments, on every kernel that has fexit: ctx[4] before 6.10, ctx[2]
 * since. Which side this kernel is on is a CO-RE question answered at load,
 * so one object loads on both sides. (bpf_get_func_ret() would not need the
 * question, but it only exists since 5.17.)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline int nt_connect_returned(struct sock *sk, int ret)
{
	if (ret == 0)
		nt_connect_started(sk);
	else
		nt_connect_failed_now(NT_BTF, sk, ret);
	return 0;
}

SEC("fexit/tcp_v4_connect")
int BPF_PROG(fentry_tcp_v4_connect, struct sock *sk, struct sockaddr *uaddr, int addr_len, int ret)
{
	return nt_connect_returned(sk, ret);
}

SEC("fexit/tcp_v6_connect")
int BPF_PROG(fentry_tcp_v6_connect, struct sock *sk, struct sockaddr *uaddr, int addr_len, int ret)
{
	return nt_connect_returned(sk, ret);
}

SEC("fentry/tcp_set_state")
int BPF_PROG(fentry_tcp_set_state, struct sock *sk, int state)
{
	/* The old state is still in sk; see kprobe_tcp_set_state. */
	nt_on_state_change(NT_BTF, false, sk, sk->__sk_common.skc_state, state);
	return 0;
}

/* A flavor of 6.10's argument struct: only whether the kernel has one matters
 * (libbpf ignores the ___ suffix when it looks the name up), and a vmlinux.h
 * from an older kernel need not declare it. */
struct proto_accept_arg___nt {
	int flags;
};

SEC("fexit/inet_csk_accept")
int fentry_inet_csk_accept(__u64 *ctx)
{
	/* Two constant offsets, never ctx[variable]: the verifier only allows
	 * fixed offsets into the context, and it only checks the branch that
	 * the resolved relocation leaves reachable (on 6.10+, ctx[4] would be
	 * past the return value and refused). */
	if (bpf_core_type_exists(struct proto_accept_arg___nt))
		nt_accepted(NT_RAW, (struct sock *)ctx[2]);
	else
		nt_accepted(NT_RAW, (struct sock *)ctx[4]);
	return 0;
}
