# SPDX-License-Identifier: ISC
"""fakesd.py: a fake service manager for the fd-store tests (python3).

It plays systemd for sockbrokerd: it owns the control socket and hands it
to the broker as LISTEN_FDS (with the stored fds after it, named by
LISTEN_FDNAMES), and reads NOTIFY_SOCKET all the time as systemd does:
READY=1, STATUS=, WATCHDOG=1, STOPPING=1, FDSTORE=1 (keeping the fd under
its FDNAME) and FDSTOREREMOVE=1.

    sd = fakesd.ServiceManager(T, root, broker)
    pid = sd.start(["-v"], WATCHDOG_USEC="200000")   # returns at READY=1
    sd.wait_notify("STATUS"); sd.drain(); sd.stored()
"""
import fcntl
import os
import socket
import threading
import time

from sbproto import short_path


def entry_id(root, key):
    """The FDNAME of key's entry: its directory pair XX + HASH."""
    parts = short_path(root, key).split("/")
    return parts[-3] + parts[-2]


class ServiceManager:
    def __init__(self, T, root, broker, control_mode=None, strict=False, remove_delay=0):
        """strict: an FDSTORE=1 of a name already stored, or an
        FDSTOREREMOVE=1 of one not stored, is an error (the reader stops and
        the next wait fails) instead of a replacement or nothing.
        remove_delay: seconds the reader waits before it acts on an
        FDSTOREREMOVE=1 (a busy manager), its close then on the reader."""
        self.T, self.root, self.broker, self.strict = T, root, broker, strict
        self.remove_delay = remove_delay
        os.mkdir(root, 0o755)
        self.ns_path = T + "/notify"
        self.ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.ns.bind(self.ns_path)
        self.control = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.control.bind(root + "/control")
        if control_mode is not None:
            os.chmod(root + "/control", control_mode)
        self.control.listen(128)
        self.store = {}         # FDNAME -> fd, as systemd keeps them
        self.seen = []          # every notification, as a dict
        self.lock = threading.Lock()
        self.stop = threading.Event()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        self.ns.settimeout(0.05)
        while not self.stop.is_set():
            try:
                data, fds, _, _ = socket.recv_fds(self.ns, 65536, 64)
            except (socket.timeout, BlockingIOError):
                continue
            kv = dict(l.split("=", 1) for l in data.decode().split("\n") if "=" in l)
            if kv.get("FDSTOREREMOVE") == "1" and self.remove_delay:
                time.sleep(self.remove_delay)
            with self.lock:
                if kv.get("FDSTORE") == "1":
                    assert len(fds) == 1, kv
                    assert not self.strict or kv["FDNAME"] not in self.store, kv
                    old = self.store.pop(kv["FDNAME"], None)
                    if old is not None:
                        os.close(old)
                    self.store[kv["FDNAME"]] = fds[0]
                else:
                    for fd in fds:
                        os.close(fd)
                if kv.get("FDSTOREREMOVE") == "1":
                    if self.strict:
                        os.close(self.store.pop(kv["FDNAME"]))
                    else:
                        fd = self.store.pop(kv["FDNAME"], None)
                        if fd is not None:
                            os.close(fd)
                self.seen.append(kv)

    def mark(self):
        with self.lock:
            return len(self.seen)

    def wait_notify(self, key, since=0, timeout=10):
        """The first notification from since on that has key (waits)."""
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                for kv in self.seen[since:]:
                    if key in kv:
                        return kv
            time.sleep(0.01)
        raise AssertionError("no %s from the broker; got %r" % (key, self.seen[-5:]))

    def drain(self):
        """Wait until the broker has sent nothing but pings for 200 ms."""
        n = -1
        while True:
            with self.lock:
                m = len([kv for kv in self.seen if "WATCHDOG" not in kv])
            if m == n:
                return
            n = m
            time.sleep(0.2)

    def stored(self):
        """The FDNAMEs in the store once the broker is quiet."""
        self.drain()
        with self.lock:
            return set(self.store)

    def start(self, args=(), **env):
        """Start the broker with the control socket and the stored fds, its
        stderr appended to T/broker.log; returns its pid at READY=1."""
        with self.lock:
            mark = len(self.seen)
            names = ["control"] + list(self.store)
            fds = [self.control.fileno()] + [self.store[n] for n in names[1:]]
        env = dict(os.environ, NOTIFY_SOCKET=self.ns_path, LISTEN_FDS=str(len(fds)),
                   LISTEN_FDNAMES=":".join(names), **env)
        log = os.open(self.T + "/broker.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(log, 2)     # before 3.. are overwritten (log may be one)
                high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 1000) for fd in fds]
                for i, fd in enumerate(high):
                    os.dup2(fd, 3 + i)
                os.execve("/bin/sh", ["sh", "-c", 'LISTEN_PID=$$ exec "$0" "$@"', self.broker]
                          + list(args) + ["--root", self.root], env)
            finally:
                os._exit(127)
        os.close(log)
        self.wait_notify("READY", mark)
        return pid
