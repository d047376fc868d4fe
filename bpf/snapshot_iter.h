/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One record of the snapshot iterator (snapshot_iter.bpf.c): a TCP socket
 * in ESTABLISHED or LISTEN state found in a process's descriptor table.
 * Shared by the BPF program and user space (src/snapshot/snapshot_iter.cpp,
 * which pins the layout with static_asserts). Fixed-width fields, explicit
 * padding; the record size is its version.
 */
#ifndef NETTRACE_SNAPSHOT_ITER_H
#define NETTRACE_SNAPSHOT_ITER_H

#define NT_SNAP_COMM_LEN 16

struct nt_snap_rec {
	__u64 inode;	 /* sockfs inode ("socket:[N]") */
	__u64 cookie;	 /* socket cookie, 0 = none made yet */
	__u64 cgroup_id; /* the task's cgroup v2 id */
	__u32 pid;	 /* thread group id */
	__u32 fd;
	__u32 uid;	 /* the task's real uid */
	__u32 netns;	 /* the socket's network namespace inode */
	__u8 laddr[16];	 /* network order; IPv4 in the first 4 bytes */
	__u8 raddr[16];
	__u16 lport;	 /* host order */
	__u16 rport;
	__u16 family;	 /* AF_INET or AF_INET6 */
	__u8 state;	 /* TCP_ESTABLISHED or TCP_LISTEN */
	__u8 pad;
	char comm[NT_SNAP_COMM_LEN];
	__u64 start_ns;	 /* the process's start, as nt_event.start_ns */
	__u32 ppid;	 /* its parent's tgid, as nt_event.ppid */
	__u32 pad2;
};

#endif
