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
	NT_EV_CLOSE = 4,   /* a reported connection reached TCP_CLOSE (struct nt_close_event) */
	NT_EV_OPEN = 5,    /* a reported connection still open at exit (struct nt_close_event,
			    * written by the open-connections iterator, never the ring buffer) */
};

/* Who ended a connection (nt_close_event.closed_by). */
enum nt_closed_by {
	NT_CLOSED_UNKNOWN = 0,
	NT_CLOSED_LOCAL = 1,       /* this side sent its FIN first */
	NT_CLOSED_PEER = 2,        /* the peer's FIN came first */
	NT_CLOSED_LOCAL_RESET = 3, /* this side aborted (SO_LINGER 0, unread data) */
	NT_CLOSED_PEER_RESET = 4,  /* the peer sent a reset */
	NT_CLOSED_ERROR = 5,       /* the kernel gave up (timeout, abort): error holds errno */
};

/* Why a close carries no owner (nt_close_event.owner). */
enum nt_owner_state {
	NT_OWNER_KNOWN = 0,
	NT_OWNER_EVICTED = 1, /* the owner map was full and its entry was evicted */
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
	NT_DROP_OWNER_EVICTED = 1, /* an owner entry pushed out of the full owners map */
	NT_DROP_MAX = 2,
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
	/* Set: keep owners and emit NT_EV_CLOSE events (JSON output, --close,
	 * --serve). Clear: no owner map work at all, the cost of the hooks
	 * before closes existed. */
	__u32 emit_close;
	/* The owners map's max_entries, as set before load (eviction count). */
	__u32 owners_max;
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
	__u32 ppid;      /* the parent's tgid (real_parent: not a ptracer) */
	__u64 ts_ns;     /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	__u64 cgroup_id; /* cgroup v2 id of the task */
	__u8 laddr[NT_ADDR_LEN]; /* IPv4 in the first 4 bytes, network order */
	__u8 raddr[NT_ADDR_LEN];
	char comm[NT_COMM_LEN];
	/* The process's start (the thread group leader's start_boottime:
	 * CLOCK_BOOTTIME ns, what /proc/PID/stat's starttime counts in ticks).
	 * (pid, start_ns) names one process for the life of the host. */
	__u64 start_ns;
};

/*
 * NT_EV_CLOSE and NT_EV_OPEN: the connection (the owner as it was at
 * connect/accept time in the nt_event part, ts_ns the close time or, for
 * open, the time of the dump) and how it went. Bytes are payload bytes
 * (the SYN and FIN sequence numbers the kernel's counters include are taken
 * off). `error` holds the socket's errno when closed_by is an error or reset.
 */
struct nt_close_event {
	struct nt_event e;
	__u64 bytes_sent;      /* payload the peer acknowledged (tcp_sock.bytes_acked) */
	__u64 bytes_received;
	__u64 duration_ns;     /* from the connect/accept record to the close */
	__u32 retransmits;     /* tcp_sock.total_retrans */
	__u32 srtt_us;         /* smoothed RTT, microseconds */
	__u32 last_pid;        /* the process that closed it, 0 if none in process context */
	__u16 closed_by;       /* enum nt_closed_by */
	__u16 owner;           /* enum nt_owner_state */
	__u16 side;            /* NT_EV_CONNECT or NT_EV_ACCEPT; 0 when the owner is unknown */
	__u16 pad0[3];
	char last_comm[NT_COMM_LEN];
};

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
	__u32 ppid;     /* as nt_event.ppid */
	__u64 start_ns; /* as nt_event.start_ns */
};

/*
 * The owner of every connection nettrace reported, keyed by struct sock
 * address, from its connect/accept record to TCP_CLOSE: the task running at
 * close time is often a softirq or another process. The map `owners`
 * (bpf/common.bpf.h); read at exit by the open-connections iterator
 * (bpf/open_iter.bpf.c) or by user space (src/tracer/open_dump.cpp).
 */
struct nt_owner {
	struct nt_identity id; /* as at connect/accept time */
	__u64 start_ns;        /* ts_ns of the connect/accept record */
	__u32 last_pid;        /* who closed it, in process context (FIN_WAIT1,
				* LAST_ACK or an abort); 0 until then */
	__u16 side;            /* NT_EV_CONNECT or NT_EV_ACCEPT */
	__u16 family;          /* the socket's, and its ports: a stale entry whose */
	__u16 lport;           /* address now holds another socket is told apart */
	__u16 rport;
	char last_comm[NT_COMM_LEN];
	/* The rest of the connection, for the open-connections dump when user
	 * space reads this map itself (src/tracer/open_dump.cpp). */
	__u32 netns;
	__u8 laddr[NT_ADDR_LEN];
	__u8 raddr[NT_ADDR_LEN];
};

#endif /* NETTRACE_EVENT_H */
