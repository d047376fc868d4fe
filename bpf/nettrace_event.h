/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one event record shared by the BPF programs (bpf/ *.bpf.c) and user space
 * (src/tracer/). Fixed-width fields, explicit padding, kind first. The C++ side
 * pins this layout with static_assert (src/tracer/event_layout.cpp), so any
 * change here that moves a field breaks the build rather than the decoding.
 */
#ifndef NETTRACE_EVENT_H
#define NETTRACE_EVENT_H

#define NT_COMM_LEN 16
#define NT_ADDR_LEN 16

/* Event kinds: the first field of every record in the ring buffer. */
enum nt_event_kind {
	NT_EV_CONNECT = 1, /* outgoing connection established (this host connected out) */
	NT_EV_ACCEPT = 2,  /* incoming connection accepted (a peer connected in) */
	NT_EV_FAILED = 3,  /* outgoing connect that never reached ESTABLISHED */
};

/* Drop counters, indexed in the per-CPU `drops` array map. */
enum nt_drop_reason {
	NT_DROP_RINGBUF_FULL = 0, /* bpf_ringbuf_reserve() failed */
	NT_DROP_MAX = 1,
};

struct nt_event {
	__u16 kind;      /* enum nt_event_kind */
	__u16 family;    /* AF_INET (2) or AF_INET6 (10) */
	__u16 lport;     /* local port, host byte order */
	__u16 rport;     /* remote port, host byte order */
	__s32 error;     /* NT_EV_FAILED: positive errno if known, else 0 */
	__u32 pid;       /* process id (tgid) */
	__u32 tid;       /* thread id */
	__u32 uid;
	__u32 netns;     /* network namespace inode number */
	__u32 pad0;
	__u64 ts_ns;     /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	__u64 cgroup_id; /* cgroup v2 id of the task */
	__u8 laddr[NT_ADDR_LEN]; /* IPv4 in the first 4 bytes, network order */
	__u8 raddr[NT_ADDR_LEN];
	char comm[NT_COMM_LEN];
};

#endif /* NETTRACE_EVENT_H */
