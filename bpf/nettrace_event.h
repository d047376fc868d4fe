/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one event record shared by the BPF programs (bpf/ *.bpf.c) and user space
 * (src/tracer/). Fixed-width fields, explicit padding, kind first. The C++ side
 * pins this layout with static_assert (src/tracer/event_decode.cpp), so any
 * change here that moves a field breaks the build rather than the decoding.
 *
 * Families in this header (the event and nt_config.family) are the
 * kernel's AF_* values; user space speaks of 4 and 6 and converts in one place
 * (nt::ip_family_of_af / nt::af_of_ip_family, src/tracer/event_decode.h).
 */
#ifndef NETTRACE_EVENT_H
#define NETTRACE_EVENT_H

#define NT_COMM_LEN 16
#define NT_ADDR_LEN 16
/* The kernel's address families (include/linux/socket.h). */
#define NT_AF_INET 2
#define NT_AF_INET6 10
/* At most this many ports in the port filter (nt_config.ports, nettrace --port). */
#define NT_MAX_PORTS 16

/* Event kinds: the first field of every record in the ring buffer. */
enum nt_event_kind {
	NT_EV_CONNECT = 1, /* outgoing connection established (this host connected out) */
	NT_EV_ACCEPT = 2,  /* incoming connection accepted (a peer connected in) */
	NT_EV_FAILED = 3,  /* outgoing connect that never reached ESTABLISHED */
};

/* Which ends the direction filter (nt_config.direction) keeps. */
enum nt_direction {
	NT_DIR_BOTH = 0,     /* no filter */
	NT_DIR_CONNECTS = 1, /* connects and failed connects only (--direction out) */
	NT_DIR_ACCEPTS = 2,  /* accepts only (--direction in) */
};

/* Drop counters, indexed in the per-CPU `drops` array map. */
enum nt_drop_reason {
	NT_DROP_RINGBUF_FULL = 0, /* bpf_ringbuf_reserve() failed */
	NT_DROP_MAX = 1,
};

/*
 * What the BPF programs are told at load time: the filters (zero means "no
 * filter" for each) and the wakeup threshold. One struct in .rodata (nt_cfg,
 * bpf/common.bpf.h), filled by user space from the filter table
 * (src/tracer/filters.cpp) and copied in whole before load, so that a new
 * filter is a field here, its test in common.bpf.h and a row in that table.
 * Frozen at load: the verifier sees every field as a constant and drops the
 * tests of filters that are off.
 */
struct nt_config {
	__u32 pid;
	__u32 filter_uid;  /* set: only uid */
	__u32 uid;
	__u32 filter_comm; /* set: only comm */
	char comm[NT_COMM_LEN];
	__u16 ports[NT_MAX_PORTS]; /* any of the first nports, local or remote */
	__u32 nports;
	__u16 family;      /* NT_AF_INET or NT_AF_INET6, as printed: see nt_shown_family */
	__u16 pad0;
	__u32 direction;   /* enum nt_direction */
	__u32 netns;
	__u64 cgroup_id;
	/* Wake the reader only once this much is waiting: user space drains on a
	 * timer anyway, so a wakeup per event would only cost context switches. */
	__u64 wakeup_bytes;
};

struct nt_event {
	__u16 kind;      /* enum nt_event_kind */
	__u16 family;    /* the socket's: NT_AF_INET or NT_AF_INET6 (an AF_INET6
			  * socket may carry IPv4-mapped addresses) */
	__u16 lport;     /* local port, host byte order; for NT_EV_FAILED the
			  * port the connect had been given, 0 if none yet */
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
