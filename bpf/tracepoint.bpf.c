// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tracepoint backend: stable tracepoints only, for kernels where kprobes are
 * compiled out and BPF trampolines (fentry) are refused.
 *
 * Connects: tp_btf/inet_sock_set_state (since 4.16; BTF-typed since 5.5).
 *   CLOSE -> SYN_SENT runs inside tcp_v4_connect()/tcp_v6_connect(), in the
 *   connecting task, before inet_hash_connect() picks the local port: we
 *   remember the task there. SYN_SENT -> ESTABLISHED (the port is known by
 *   then), SYN_SENT -> CLOSE (refused, timed out: the port comes from
 *   inet_sport, see nt_emit) or a simultaneous open's SYN_SENT -> SYN_RECV ->
 *   ESTABLISHED may run in softirq on any task, so the identity comes from
 *   the map.
 * Accepts: syscalls/sys_exit_accept4 and sys_exit_accept, in the accepting
 *   task: the returned fd is resolved to its socket through the task's file
 *   table. An accept() already blocked when we attach is still seen at exit.
 *   Accepts through io_uring are not.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "common.bpf.h"
#include "accept_syscalls.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Two programs on one tracepoint, on purpose. The kernel runs a tp_btf program
 * at most once per CPU at a time: a run that would nest (a softirq interrupting
 * the program on the same CPU) is skipped and only counted in the program's
 * recursion_misses. With one program, every softirq that hit while it ran in
 * the connecting task lost an outcome (measured: ~1,700 skipped runs in a
 * 100,000-connection burst): on loopback the SYN-ACK is processed from the
 * socket's backlog, in the connecting task, so the outcome program often runs
 * there, and for long (it writes the record). Split, the outcome program is
 * busy in a task only for that, and the other one only for its brief task-side
 * runs: a connect's start (CLOSE -> SYN_SENT) and, with closes on, the note of
 * who closes (FIN_WAIT1, LAST_ACK, in the task calling close()) and a close
 * made in the task (an abort).
 *
 * CLOSE went to that second program rather than a third of its own: tp_btf
 * runs every program attached to the tracepoint on every transition of every
 * inet socket (about five per connection end), so a program costs its
 * dispatch ten times per connection even when it returns at once (measured
 * with a third program: BENCHMARKS.md, "Connection lifecycle"). With closes
 * off, the close branch is a constant test that the verifier removes.
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tracepoint_inet_sock_set_state_start, struct sock *sk, int oldstate, int newstate)
{
	if (oldstate == NT_TCP_CLOSE && newstate == NT_TCP_SYN_SENT) {
		if (nt_is_tcp(NT_BTF, sk))
			nt_connect_started(sk);
		return 0;
	}
	nt_on_close_state(NT_BTF, true, sk, oldstate, newstate);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tracepoint_inet_sock_set_state, struct sock *sk, int oldstate, int newstate)
{
	nt_on_connect_state(NT_BTF, true, sk, oldstate, newstate);
	return 0;
}
