// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The connections still open when nettrace ends: an iterator over the owner
 * map of the backend that runs (its fd is reused before load), which writes
 * one struct nt_close_event (kind NT_EV_OPEN) per owner whose socket is still
 * a live connection, with its bytes so far. Iterating our own map, not the
 * kernel's TCP tables (iter/tcp), covers every network namespace: iter/tcp
 * sees only the reader's. A separate object, so that a kernel refusing
 * iterators (before 5.8) loses only this dump, never the tracing.
 *
 * The key is a struct sock address that may be stale (a close we missed): it
 * is read with bpf_probe_read_kernel (safe on any address) and kept only if
 * it is an established-or-closing TCP socket with the owner's ports.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("iter/bpf_map_elem")
int dump_open(struct bpf_iter__bpf_map_elem *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	__u64 *key = ctx->key;
	struct nt_owner *o = ctx->value;
	struct nt_close_event c = {};
	struct sock *sk;
	int state;

	if (!key || !o)
		return 0;
	sk = (struct sock *)*key;
	if (!nt_read_tcp_sock(NT_RAW, sk, &c.e))
		return 0;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (!nt_was_established(state) || !nt_owner_matches(NT_RAW, sk, o))
		return 0;
	c.e.kind = NT_EV_OPEN;
	c.e.pid = o->id.pid;
	c.e.tid = o->id.tid;
	c.e.uid = o->id.uid;
	c.e.cgroup_id = o->id.cgroup_id;
	c.e.ppid = o->id.ppid;
	c.e.start_ns = o->id.start_ns;
	__builtin_memcpy(c.e.comm, o->id.comm, NT_COMM_LEN);
	c.e.ts_ns = bpf_ktime_get_ns();
	c.side = o->side;
	c.last_pid = o->last_pid;
	__builtin_memcpy(c.last_comm, o->last_comm, NT_COMM_LEN);
	c.duration_ns = c.e.ts_ns - o->start_ns;
	nt_fill_counters(NT_RAW, sk, &c, state, 0);
	bpf_seq_write(seq, &c, sizeof(c));
	return 0;
}
