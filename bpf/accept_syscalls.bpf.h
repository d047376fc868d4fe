/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Accepts seen at the accept system calls' exit, in the accepting task: the
 * returned fd is resolved to its socket through the task's file table. For
 * the tracepoint backend (no kernel function hooks) and the kprobe backend
 * (a kretprobe on inet_csk_accept() misses accepts: bpf/kprobe.bpf.c). An
 * accept() already blocked when we attach is still seen at its exit; accepts
 * through io_uring are not. Included once by each of those backends' .bpf.c,
 * after common.bpf.h: it defines their two programs.
 */
#ifndef NETTRACE_ACCEPT_SYSCALLS_BPF_H
#define NETTRACE_ACCEPT_SYSCALLS_BPF_H

/* fd -> struct file -> struct socket -> struct sock, in the current task. */
static __always_inline struct sock *nt_sock_of_fd(long fd)
{
	struct file **fds;
	unsigned int max_fds;
	struct file *file = NULL;
	struct socket *sock;

	if (!nt_current_fdtable(&fds, &max_fds))
		return NULL;
	if (fd < 0 || fd >= max_fds)
		return NULL;
	/* fdt->fd is a pointer to pointers, which BTF does not type, so
	 * from fds[fd] on every hop is a bpf_probe_read_kernel(). */
	bpf_core_read(&file, sizeof(file), &fds[fd]);
	if (!file)
		return NULL;
	/* Another thread may have closed and reused the fd since accept
	 * returned: only a socket inode is taken. */
	if ((BPF_CORE_READ(file, f_inode, i_mode) & NT_S_IFMT) != NT_S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	return BPF_CORE_READ(sock, sk);
}

static __always_inline int nt_sys_exit_accept(long ret)
{
	if (ret < 0)
		return 0;
	nt_accepted(NT_RAW, nt_sock_of_fd(ret));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int tracepoint_sys_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return nt_sys_exit_accept(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int tracepoint_sys_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return nt_sys_exit_accept(ctx->ret);
}

#endif /* NETTRACE_ACCEPT_SYSCALLS_BPF_H */
