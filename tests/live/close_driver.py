#!/usr/bin/env python3
"""Connections with a known life, for close_test.sh: each scenario runs real
processes (named with prctl, so their comm is known), and writes what they
saw themselves (pids, names, ports, bytes, monotonic times) as one JSON line
per expected close or open record to EXPECT. close_check.py compares those
with nettrace's JSON lines.

  close_driver.py EXPECT PORTS_BASE NETNS_A NETNS_B ADDR_B RELEASE_FILE

After the closing scenarios it prints "holding" and keeps the connections of
the still-open scenario open until RELEASE_FILE exists (nettrace is stopped
in between), then closes them and exits.
"""
import ctypes
import json
import os
import socket
import struct
import sys
import time

LIBC = ctypes.CDLL(None, use_errno=True)
PR_SET_NAME = 15
CLONE_NEWNET = 0x40000000
MIB = 1 << 20
KIB10 = 10 * 1024

EXPECT = open(sys.argv[1], "w")
BASE = int(sys.argv[2])
NS_A, NS_B, ADDR_B = sys.argv[3], sys.argv[4], sys.argv[5]
RELEASE = sys.argv[6]


def name(comm):
    LIBC.prctl(PR_SET_NAME, ctypes.c_char_p(comm.encode()), 0, 0, 0)


def enter_netns(ns):
    fd = os.open("/var/run/netns/" + ns, os.O_RDONLY)
    if LIBC.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns " + ns)
    os.close(fd)


def netns_inode(pid="self"):
    return os.stat("/proc/%s/ns/net" % pid).st_ino


def recv_exactly(s, n):
    got = 0
    while got < n:
        b = s.recv(min(65536, n - got))
        if not b:
            raise RuntimeError("peer closed after %d of %d bytes" % (got, n))
        got += len(b)


def recv_eof(s):
    while s.recv(65536):
        pass


def reading_client(comm, addr, port, nbytes):
    """A client that connects, reads exactly nbytes and the server's FIN, then
    closes second; it reports its pid and local port."""
    def client():
        name(comm)
        c = socket.create_connection((addr, port))
        lp = c.getsockname()[1]
        recv_exactly(c, nbytes)
        recv_eof(c)
        c.close()
        return {"pid": os.getpid(), "local_port": lp}
    return client


def expect(**rec):
    EXPECT.write(json.dumps(rec) + "\n")
    EXPECT.flush()


def ends(s):
    la, lp = s.getsockname()[:2]
    ra, rp = s.getpeername()[:2]
    return {"local_ip": la, "local_port": lp, "remote_ip": ra, "remote_port": rp}


def child(fn, *args):
    """Runs fn in a child process; returns (pid, read end of its report pipe)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            report = fn(*args) or {}
            os.write(w, json.dumps(report).encode())
            os._exit(0)
        except BaseException as e:  # any failure: the parent sees status 1
            sys.stderr.write("close_driver child: %r\n" % (e,))
            os._exit(1)
    os.close(w)
    return pid, r


def join(pid, r):
    data = b""
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        data += b
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise RuntimeError("scenario process %d failed (status %d)" % (pid, status))
    return json.loads(data)


def listener(family, addr, port):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(8)
    return s


# --- 1 MiB out, 10 KiB back, the client closes first -------------------------
def exchange(tag, family, addr, port):
    lsn = listener(family, addr, port)

    def server():
        name("ntc-s" + tag)
        a, _ = lsn.accept()
        t_acc = time.monotonic_ns()
        recv_exactly(a, MIB)
        a.sendall(b"y" * KIB10)
        recv_eof(a)  # the client's FIN: we close second
        a.close()
        return dict(pid=os.getpid(), t_acc=t_acc, t_end=time.monotonic_ns())

    spid, sr = child(server)
    lsn.close()

    def client():
        name("ntc-c" + tag)
        t0 = time.monotonic_ns()
        c = socket.create_connection((addr, port))
        t1 = time.monotonic_ns()
        e = ends(c)
        c.sendall(b"x" * MIB)
        recv_exactly(c, KIB10)
        t2 = time.monotonic_ns()
        c.close()
        return dict(pid=os.getpid(), t0=t0, t1=t1, t2=t2, **e)

    cpid, cr = child(client)
    cli = join(cpid, cr)
    srv = join(spid, sr)
    t_end = time.monotonic_ns()
    # The client's close: at least from connect's return to close(), at most
    # from before connect() to after the server closed.
    expect(type="close", direction="out", pid=cli["pid"], comm="ntc-c" + tag,
           local_port=cli["local_port"], remote_port=port, bytes_sent=MIB,
           bytes_received=KIB10, closed_by="local", last_pid=cli["pid"],
           last_comm="ntc-c" + tag, min_ns=cli["t2"] - cli["t1"], max_ns=t_end - cli["t0"])
    expect(type="close", direction="in", pid=srv["pid"], comm="ntc-s" + tag, local_port=port,
           remote_port=cli["local_port"], bytes_sent=KIB10, bytes_received=MIB,
           closed_by="peer", last_pid=srv["pid"], last_comm="ntc-s" + tag,
           min_ns=0, max_ns=srv["t_end"] - cli["t0"])


# --- a reset: SO_LINGER 0 -----------------------------------------------------
def reset(port):
    lsn = listener(socket.AF_INET, "127.0.0.1", port)

    def server():
        name("ntc-rs")
        a, _ = lsn.accept()
        try:
            recv_eof(a)
        except ConnectionResetError:
            pass
        a.close()
        return {"pid": os.getpid()}

    spid, sr = child(server)
    lsn.close()

    def client():
        name("ntc-rc")
        c = socket.create_connection(("127.0.0.1", port))
        lp = c.getsockname()[1]
        c.sendall(b"z" * 100)
        time.sleep(0.05)  # let the server read it: no unread data on either side
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        return {"pid": os.getpid(), "local_port": lp}

    cpid, cr = child(client)
    cli = join(cpid, cr)
    srv = join(spid, sr)
    expect(type="close", direction="out", pid=cli["pid"], comm="ntc-rc",
           local_port=cli["local_port"], remote_port=port, bytes_sent=100, bytes_received=0,
           closed_by="local_reset", last_pid=cli["pid"], last_comm="ntc-rc")
    # The server's socket dies in softirq: nobody closed it in process context.
    expect(type="close", direction="in", pid=srv["pid"], comm="ntc-rs", local_port=port,
           remote_port=cli["local_port"], bytes_sent=0, bytes_received=100,
           closed_by="peer_reset", errno=104, last_pid=0, last_comm="")


# --- the server closes first --------------------------------------------------
def peer_close(port):
    lsn = listener(socket.AF_INET6, "::1", port)

    def server():
        name("ntc-ps")
        a, _ = lsn.accept()
        a.sendall(b"hello")
        a.close()
        return {"pid": os.getpid()}

    spid, sr = child(server)
    lsn.close()

    cpid, cr = child(reading_client("ntc-pc", "::1", port, 5))
    cli = join(cpid, cr)
    srv = join(spid, sr)
    expect(type="close", direction="out", pid=cli["pid"], comm="ntc-pc",
           local_port=cli["local_port"], remote_port=port, bytes_sent=0, bytes_received=5,
           closed_by="peer", last_pid=cli["pid"], last_comm="ntc-pc")
    expect(type="close", direction="in", pid=srv["pid"], comm="ntc-ps", local_port=port,
           remote_port=cli["local_port"], bytes_sent=5, bytes_received=0, closed_by="local",
           last_pid=srv["pid"], last_comm="ntc-ps")


# --- between two network namespaces -------------------------------------------
def netns(port):
    r, w = os.pipe()  # the server says when it listens

    def server():
        name("ntc-ns")
        enter_netns(NS_B)
        lsn = listener(socket.AF_INET, ADDR_B, port)
        os.write(w, b"1")
        a, _ = lsn.accept()
        recv_exactly(a, 3000)
        a.sendall(b"q" * 2000)
        recv_eof(a)
        a.close()
        return {"pid": os.getpid(), "netns": netns_inode()}

    spid, sr = child(server)
    os.read(r, 1)

    def client():
        name("ntc-nc")
        enter_netns(NS_A)
        c = socket.create_connection((ADDR_B, port))
        lp = c.getsockname()[1]
        c.sendall(b"p" * 3000)
        recv_exactly(c, 2000)
        c.close()
        return {"pid": os.getpid(), "local_port": lp, "netns": netns_inode()}

    cpid, cr = child(client)
    cli = join(cpid, cr)
    srv = join(spid, sr)
    expect(type="close", direction="out", pid=cli["pid"], comm="ntc-nc",
           local_port=cli["local_port"], remote_port=port, netns=cli["netns"],
           bytes_sent=3000, bytes_received=2000, closed_by="local", last_pid=cli["pid"],
           last_comm="ntc-nc")
    expect(type="close", direction="in", pid=srv["pid"], comm="ntc-ns", local_port=port,
           remote_port=cli["local_port"], netns=srv["netns"], bytes_sent=2000,
           bytes_received=3000, closed_by="peer", last_pid=srv["pid"], last_comm="ntc-ns")


# --- the owner exits before the close: its child holds the socket -------------
def owner_exited(port):
    lsn = listener(socket.AF_INET, "127.0.0.1", port)

    def server():
        name("ntc-os")
        a, _ = lsn.accept()
        recv_eof(a)
        a.close()
        return {"pid": os.getpid()}

    spid, sr = child(server)
    lsn.close()
    r, w = os.pipe()

    def owner():
        name("ntc-own")
        c = socket.create_connection(("127.0.0.1", port))
        heir = os.fork()
        if heir == 0:
            name("ntc-heir")
            os.close(r)
            # Wait until the owner is gone, then close.
            while os.getppid() == owner_pid:
                time.sleep(0.01)
            c.sendall(b"k" * 7)
            c.close()
            os.write(w, json.dumps({"heir": os.getpid()}).encode())
            os._exit(0)
        return {"pid": os.getpid(), "local_port": c.getsockname()[1]}

    owner_pid = None
    pid = os.fork()
    if pid == 0:
        owner_pid = os.getpid()
        rep = owner()
        os.write(w, (json.dumps(rep) + "\n").encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    data = b""
    while True:
        b = os.read(r, 4096)
        if not b:
            break
        data += b
    os.close(r)
    first, second = data.split(b"\n", 1)
    own, heir = json.loads(first), json.loads(second)
    srv = join(spid, sr)
    expect(type="close", direction="out", pid=own["pid"], comm="ntc-own",
           local_port=own["local_port"], remote_port=port, bytes_sent=7, bytes_received=0,
           closed_by="local", last_pid=heir["heir"], last_comm="ntc-heir")
    expect(type="close", direction="in", pid=srv["pid"], comm="ntc-os", local_port=port,
           remote_port=own["local_port"], bytes_sent=0, bytes_received=7, closed_by="peer",
           last_pid=srv["pid"], last_comm="ntc-os")


# --- a forking server: accept in the parent, serve and close in a child -------
def forking(port):
    lsn = listener(socket.AF_INET, "127.0.0.1", port)

    def server():
        name("ntc-lsn")
        a, _ = lsn.accept()
        r, w = os.pipe()
        worker = os.fork()
        if worker == 0:
            name("ntc-wrk")
            os.read(r, 1)  # the parent has closed its copy: ours is the last
            a.sendall(b"w" * 4321)
            a.close()  # first: the worker's FIN goes first
            os._exit(0)
        a.close()  # the parent's copy: no state change
        os.write(w, b"1")
        os.waitpid(worker, 0)
        return {"pid": os.getpid(), "worker": worker}

    spid, sr = child(server)
    lsn.close()

    cpid, cr = child(reading_client("ntc-fc", "127.0.0.1", port, 4321))
    cli = join(cpid, cr)
    srv = join(spid, sr)
    expect(type="close", direction="in", pid=srv["pid"], comm="ntc-lsn", local_port=port,
           remote_port=cli["local_port"], bytes_sent=4321, bytes_received=0, closed_by="local",
           last_pid=srv["worker"], last_comm="ntc-wrk")
    expect(type="close", direction="out", pid=cli["pid"], comm="ntc-fc",
           local_port=cli["local_port"], remote_port=port, bytes_sent=0, bytes_received=4321,
           closed_by="peer", last_pid=cli["pid"], last_comm="ntc-fc")


# --- SCM_RIGHTS: the acceptor passes the socket to another process ------------
def scm_rights(port):
    lsn = listener(socket.AF_INET, "127.0.0.1", port)
    ua, ub = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    def receiver():
        name("ntc-rcv")
        ua.close()
        _, fds, _, _ = socket.recv_fds(ub, 16, 1)
        s = socket.socket(fileno=fds[0])
        s.sendall(b"r" * 999)
        ub.recv(1)  # the acceptor has closed its copy: ours is the last
        s.close()
        return {"pid": os.getpid()}

    rpid, rr = child(receiver)

    def acceptor():
        name("ntc-acc")
        ub.close()
        a, _ = lsn.accept()
        socket.send_fds(ua, [b"x"], [a.fileno()])
        a.close()
        ua.send(b"c")
        return {"pid": os.getpid()}

    apid, ar = child(acceptor)
    lsn.close()
    ua.close()
    ub.close()

    cpid, cr = child(reading_client("ntc-sc", "127.0.0.1", port, 999))
    cli = join(cpid, cr)
    acc = join(apid, ar)
    rcv = join(rpid, rr)
    expect(type="close", direction="in", pid=acc["pid"], comm="ntc-acc", local_port=port,
           remote_port=cli["local_port"], bytes_sent=999, bytes_received=0, closed_by="local",
           last_pid=rcv["pid"], last_comm="ntc-rcv")


# --- still open when nettrace stops -------------------------------------------
def still_open(port):
    lsn = listener(socket.AF_INET, "127.0.0.1", port)
    c = socket.create_connection(("127.0.0.1", port))
    a, _ = lsn.accept()
    lsn.close()
    c.sendall(b"o" * 1111)
    recv_exactly(a, 1111)
    a.sendall(b"p" * 2222)
    recv_exactly(c, 2222)
    lp = c.getsockname()[1]
    me = os.getpid()
    expect(type="open", direction="out", pid=me, comm="ntc-driver", local_port=lp,
           remote_port=port, bytes_sent=1111, bytes_received=2222, last_pid=0, last_comm="")
    expect(type="open", direction="in", pid=me, comm="ntc-driver", local_port=port,
           remote_port=lp, bytes_sent=2222, bytes_received=1111, last_pid=0, last_comm="")
    return c, a


def main():
    name("ntc-driver")
    exchange("4", socket.AF_INET, "127.0.0.1", BASE)
    exchange("6", socket.AF_INET6, "::1", BASE + 1)
    reset(BASE + 2)
    peer_close(BASE + 3)
    netns(BASE + 4)
    owner_exited(BASE + 5)
    forking(BASE + 6)
    scm_rights(BASE + 7)
    held = still_open(BASE + 8)
    EXPECT.close()
    print("holding", flush=True)
    while not os.path.exists(RELEASE):
        time.sleep(0.02)
    for s in held:
        s.close()


main()
