// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The snapshot's fast path: one pass over every task's descriptor table
 * (iter/task_file, 5.8+) that writes a record per TCP socket in ESTABLISHED
 * or LISTEN state, with the holding task's identity, into the iterator's
 * seq_file, which user space read()s. Across every network namespace, no
 * setns(), no /proc walk. bpf_sock_from_file() needs 5.11; where this
 * does not load, user space falls back to sock_diag + /proc
 * (src/snapshot/snapshot.cpp).
 *
 * The kernel skips threads that share their leader's descriptor table, so a
 * process's descriptors come once, in fd order, processes in pid order.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "snapshot_iter.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define NT_AF_INET 2
#define NT_AF_INET6 10
#define NT_IPPROTO_TCP 6
#define NT_SOCK_STREAM 1
#define NT_TCP_ESTABLISHED 1
#define NT_TCP_LISTEN 10

SEC("iter/task_file")
int snapshot_task_file(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct nt_snap_rec r = {};
	struct socket *sock;
	struct sock *sk;
	__u16 family;
	__u8 state;

	if (!task || !file)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = sock->sk;
	if (!sk)
		return 0;
	family = sk->__sk_common.skc_family;
	if (family != NT_AF_INET && family != NT_AF_INET6)
		return 0;
	if (sk->sk_protocol != NT_IPPROTO_TCP || sk->sk_type != NT_SOCK_STREAM)
		return 0;
	state = sk->__sk_common.skc_state;
	if (state != NT_TCP_ESTABLISHED && state != NT_TCP_LISTEN)
		return 0;

	r.family = family;
	r.state = state;
	r.lport = sk->__sk_common.skc_num;
	r.rport = __builtin_bswap16(sk->__sk_common.skc_dport);
	if (family == NT_AF_INET) {
		__u32 l = sk->__sk_common.skc_rcv_saddr;
		__u32 d = sk->__sk_common.skc_daddr;

		__builtin_memcpy(r.laddr, &l, 4);
		__builtin_memcpy(r.raddr, &d, 4);
	} else {
		/* Word by word: each load stays inside one u6_addr32[] element. */
		for (int i = 0; i < 4; i++) {
			__u32 l = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[i];
			__u32 d = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[i];

			__builtin_memcpy(&r.laddr[4 * i], &l, 4);
			__builtin_memcpy(&r.raddr[4 * i], &d, 4);
		}
	}
	r.netns = sk->__sk_common.skc_net.net->ns.inum;
	/* The cookie as it is: bpf_get_socket_cookie() would make one where
	 * none was asked for yet, but the verifier takes no pointer walked
	 * from a file (untrusted) there. 0 then; the inode still identifies
	 * the socket. */
	r.cookie = sk->__sk_common.skc_cookie.counter;
	r.inode = BPF_CORE_READ(file, f_inode, i_ino);
	r.pid = task->tgid;
	r.fd = ctx->fd;
	r.uid = BPF_CORE_READ(task, cred, uid.val);
	r.cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	bpf_probe_read_kernel_str(r.comm, sizeof(r.comm), task->comm);
	/* As nt_fill_process (common.bpf.h): the leader's, so threads agree. */
	r.start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	r.ppid = BPF_CORE_READ(task, group_leader, real_parent, tgid);
	bpf_seq_write(seq, &r, sizeof(r));
	return 0;
}
