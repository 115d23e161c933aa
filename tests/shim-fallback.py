# SPDX-License-Identifier: ISC
"""shim-fallback.py: the shim's connect fallback blocks nothing but itself.

Run under the shim in broker mode with SOCKBROKER_SHIM_KEYS=LONG: argv
LONG SHORT. No entry of the broker answers at SHORT, the short path of
LONG; a server that does not use the broker listens at LONG itself, so a
connect to SHORT goes on to LONG (the shim's fallback). The server's
backlog is full: a blocking connect waits there, as it would at LONG
without the shim. While it waits:

- another thread's connect to SHORT (non-blocking) is answered at once
  (EAGAIN, the kernel's answer for a full backlog), not held up behind it;
- a SIGALRM sent to the waiting thread interrupts it (EINTR), and its
  handler, which connects to SHORT itself, runs and gets EAGAIN too.

With the fallback under the shim's lock and with every signal blocked,
the thread would wait for the lock and the signal would never arrive: a
watchdog then ends the test (a hang, never a time that is judged).
"""
import errno
import os
import platform
import signal
import socket
import sys
import threading

WATCHDOG_S = 120
# connect(2) in /proc/PID/task/TID/syscall
CONNECT_NR = {"x86_64": 42, "aarch64": 203, "i686": 362, "riscv64": 203, "ppc64le": 328,
              "s390x": 362}


class Interrupted(Exception):
    pass


def log(msg):
    print("# " + msg, flush=True)


def fail(msg):
    print("FAIL: " + msg, flush=True)
    os._exit(1)


def nonblocking_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(path)
        return 0
    except OSError as e:
        return e.errno
    finally:
        s.close()


def main():
    long_path, short = sys.argv[1:3]
    d, name = os.path.split(long_path)

    # the server at the long path itself, from its directory; a backlog
    # of 0 is full with one connection (the kernel queues one more than it)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    os.chdir(d)
    srv.bind(name)
    srv.listen(0)
    filler.connect(name)
    os.chdir("/")
    e = nonblocking_connect(short)
    if e != errno.EAGAIN:
        fail("a connect to the short path with the backlog full: %s, not EAGAIN" %
             errno.errorcode.get(e, e))
    log("the fallback reaches the server at the long path (its backlog is full)")

    nr = CONNECT_NR.get(platform.machine())
    if nr is None:
        print("SKIP: the number of connect(2) on %s is not known here" % platform.machine())
        sys.exit(77)
    main_tid = threading.get_native_id()
    handler_saw = []

    def on_alarm(signum, frame):
        handler_saw.append(nonblocking_connect(short))
        raise Interrupted()

    signal.signal(signal.SIGALRM, on_alarm)

    def in_connect():
        with open("/proc/self/task/%d/syscall" % main_tid) as f:
            return f.read().split(" ", 1)[0] == str(nr)

    other = []

    def driver():
        import time
        while not in_connect():
            time.sleep(0.001)
        log("the main thread waits in connect")
        other.append(nonblocking_connect(short))
        log("another thread's connect: %s" % errno.errorcode.get(other[0], other[0]))
        signal.pthread_kill(threading.main_thread().ident, signal.SIGALRM)

    def watchdog():
        fail("no answer after %d s: %s" % (WATCHDOG_S,
             "another thread's connect waited behind the fallback" if not other else
             "SIGALRM did not interrupt the connect of the fallback"))

    wd = threading.Timer(WATCHDOG_S, watchdog)
    wd.daemon = True
    wd.start()
    threading.Thread(target=driver, daemon=True).start()
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        c.connect(short)
        fail("the blocking connect returned with the backlog full")
    except Interrupted:
        pass
    wd.cancel()
    if other != [errno.EAGAIN]:
        fail("another thread's connect: %s, not EAGAIN" % other)
    if handler_saw != [errno.EAGAIN]:
        fail("the handler's connect: %s, not EAGAIN" % handler_saw)
    print("ok - the fallback holds no lock and keeps the program's signal mask", flush=True)

    # and the fallback still connects once there is room
    srv.accept()[0].close()
    c2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c2.connect(short)
    a, _ = srv.accept()
    c2.sendall(b"x")
    if a.recv(1) != b"x":
        fail("no byte through the fallback")
    print("ok - the fallback connects to the long path", flush=True)


main()
