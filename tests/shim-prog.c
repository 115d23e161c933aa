/* SPDX-License-Identifier: ISC */
/*
 * shim-prog.c: a small C program for the shim's tests (no python3 needed).
 * It passes over-long addresses in a larger buffer, the way a C program
 * built with a bigger sockaddr does, unless the path fits sun_path.
 *
 *   shim-prog serve PATH          bind+listen, "ready" on stdout, answer one
 *                                 client: read a line, write it back, exit
 *   shim-prog call PATH MSG       connect, send MSG, print the reply
 *   shim-prog threads DIR N       N threads bind DIR/t<i> (long) and N
 *                                 threads connect to them, concurrently;
 *                                 the binds, all at once, are the first
 *                                 calls the shim sees. DIR "-": from
 *                                 $SHIM_PROG_DIR (no long argument: the
 *                                 shim's constructor resolves nothing)
 *   shim-prog fork PATH           listen, fork: the child connects; then
 *                                 exec "shim-prog call" in a child
 *   shim-prog dgram PATH          bind a datagram socket, sendto it, recv
 *   shim-prog tcp                 a TCP loopback round trip
 *   shim-prog --socket PATH ...   "serve" with the path as an option
 *                                 (SOCKBROKER_REWRITE=opt:--socket)
 *   shim-prog serve-trunc N PATH [ARG...]  "serve" on the first N bytes of PATH in
 *                                 a plain sockaddr_un (107: NUL-terminated,
 *                                 108: none), as spice-server and GLib do
 *   shim-prog call-trunc N PATH MSG  print "waiting", read a line from stdin,
 *                                 then "call" the first N bytes of PATH the
 *                                 same way
 *   shim-prog serve-tmp link|rename --socket PATH  "serve" as OpenSSH's
 *                                 ControlMaster does: bind and listen on
 *                                 PATH.tmpNNNN, then link (and unlink the
 *                                 temporary name) or rename it to PATH
 *
 * Native semantics (the output is the same with the shim and a long path
 * as without it and a short path):
 *   shim-prog efault PATH         bad pointers to every call the shim
 *                                 touches, before and after a bind of PATH
 *   shim-prog seccomp errno|kill PATH  "efault" under a seccomp filter that
 *                                 refuses process_vm_readv (EPERM) or kills
 *                                 the process that calls it; "no filter"
 *                                 where none can be made here
 *   shim-prog addrinuse P Q       a second bind of P, a bind of Q on a bound
 *                                 socket, on a non-socket; is P's first
 *                                 listener still reachable; is Q left alone
 *   shim-prog forkclose P Q       bind P; a child closes fds 3 and up, opens
 *                                 a file and a socket and binds Q
 *   shim-prog vfork P Q           bind P; a vfork child closes all its fds
 *                                 and binds Q; the parent opens a socket and
 *                                 a file and binds Q: are its fds its own
 *   shim-prog vforkfirst P Q      before the program has made any call the
 *                                 shim handles, a vfork child binds P; then
 *                                 the parent binds, listens on and connects
 *                                 to Q: does the shim still work for it
 *   shim-prog threadfork P Q      bind P, wait for "go" on stdin; a thread
 *                                 binds Q while the main thread forks
 *   shim-prog sigunlink P Q       bind P, a SIGTERM handler unlinks P; "go"
 *                                 on stdin: bind Q ("waiting" once that
 *                                 call is blocked on a socket: a round trip;
 *                                 an unlink waits for none)
 *   shim-prog closefrom PATH      bind PATH, close fds 3 and up, open a file,
 *                                 then unlink, bind and connect PATH again
 *   shim-prog bind PATH           bind PATH (no unlink first), say what bind
 *                                 answered, exit
 *   shim-prog daemon PATH         bind+listen PATH, then a classic double
 *                                 fork: the parent and the first child exit,
 *                                 the grandchild prints its pid and answers
 *                                 clients (as "serve") until killed
 *   shim-prog relisten N PATH     N times: bind+listen PATH, "unlinking I",
 *                                 unlink PATH, "unlinked I: R" (what unlink
 *                                 returned), close (SHIM_PROG_STEP set: then
 *                                 read a line); then bind+listen once more
 *                                 and "serve". "--socket PATH": the same
 *                                 (SOCKBROKER_REWRITE=opt:--socket)
 *   shim-prog viewsend PATH       bind a datagram socket at PATH, sendto it
 *                                 and receive; print "waiting", read a line
 *                                 from stdin (the caller replaces the link
 *                                 at PATH meanwhile), then sendto and sendmsg
 *                                 PATH again: what each answered, and whether
 *                                 the socket got it
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* sockaddr_un with room for any path */
struct big_sun {
	sa_family_t	family;
	char		path[4096];
};

static const char *self;

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "shim-prog: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(errno));
	exit(1);
}

static socklen_t
addr_of(struct big_sun *a, const char *path)
{
	size_t n = strlen(path);

	memset(a, 0, sizeof(*a));
	a->family = AF_UNIX;
	if (n >= sizeof(a->path))
		n = sizeof(a->path) - 1;
	memcpy(a->path, path, n);
	return (socklen_t)(offsetof(struct big_sun, path) + n + 1);
}

static int
listen_at(const char *path, int type)
{
	struct big_sun a;
	socklen_t len = addr_of(&a, path);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	unlink(path);
	if (bind(fd, (struct sockaddr *)&a, len) < 0)
		die("bind %s", path);
	if (type != SOCK_DGRAM && listen(fd, 16) < 0)
		die("listen %s", path);
	return fd;
}

static int
connect_to(const char *path)
{
	struct big_sun a;
	socklen_t len = addr_of(&a, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&a, len) < 0)
		die("connect %s", path);
	return fd;
}

/* Read what comes (up to size - 1 bytes, one read). */
static ssize_t
read_some(int fd, char *buf, size_t size)
{
	ssize_t n;

	do
		n = read(fd, buf, size - 1);
	while (n < 0 && errno == EINTR);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

static void
echo_one(int lfd)
{
	char buf[256];
	ssize_t n;
	int c = accept(lfd, NULL, NULL);

	if (c < 0)
		die("accept");
	if ((n = read_some(c, buf, sizeof(buf))) > 0 && write(c, buf, (size_t)n) != n)
		die("write");
	close(c);
}

/* "ready", answer one client on the listening fd, unlink path */
static int
serve_on(int fd, const char *path)
{
	printf("ready\n");
	fflush(stdout);
	echo_one(fd);
	close(fd);
	unlink(path);
	return 0;
}

static int
cmd_serve(const char *path)
{
	return serve_on(listen_at(path, SOCK_STREAM), path);
}

static int
cmd_relisten(int n, const char *path)
{
	struct big_sun a;
	socklen_t len = addr_of(&a, path);
	char line[16];
	int i, fd, r;

	for (i = 0;; i++) {
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			die("socket");
		if (bind(fd, (struct sockaddr *)&a, len) < 0)
			die("bind %s (round %d)", path, i);
		if (listen(fd, 16) < 0)
			die("listen %s", path);
		if (i == n)
			break;
		printf("unlinking %d\n", i);
		r = unlink(path);
		printf("unlinked %d: %d\n", i, r);
		close(fd);
		/* SHIM_PROG_STEP: a line on stdin before the next bind */
		if (getenv("SHIM_PROG_STEP") != NULL && fgets(line, sizeof(line), stdin) == NULL)
			die("no line before round %d", i + 1);
	}
	return serve_on(fd, path);
}

static int
cmd_call(const char *path, const char *msg)
{
	char buf[256];
	int fd = connect_to(path);

	if (write(fd, msg, strlen(msg)) < 0)
		die("write");
	if (read_some(fd, buf, sizeof(buf)) < 0)
		die("read");
	printf("%s\n", buf);
	close(fd);
	return 0;
}

/* The first n (107 or 108) bytes of path in a plain sockaddr_un, unchecked. */
static socklen_t
trunc_of(struct sockaddr_un *a, const char *path, int n)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (n < 1 || (size_t)n > sizeof(a->sun_path) || strlen(path) < (size_t)n) {
		errno = EINVAL;
		die("truncation %d of %s", n, path);
	}
	memcpy(a->sun_path, path, (size_t)n);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n +
	    ((size_t)n < sizeof(a->sun_path) ? 1 : 0));
}

static int
cmd_serve_trunc(int n, const char *path)
{
	struct sockaddr_un a;
	socklen_t len = trunc_of(&a, path, n);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	if (bind(fd, (struct sockaddr *)&a, len) < 0)
		die("bind (truncated to %d)", n);
	if (listen(fd, 16) < 0)
		die("listen");
	printf("ready\n");
	fflush(stdout);
	echo_one(fd);
	close(fd);
	return 0;
}

static int
cmd_call_trunc(int n, const char *path, const char *msg)
{
	struct sockaddr_un a;
	socklen_t len = trunc_of(&a, path, n);
	char buf[256];
	int fd;

	printf("waiting\n");	/* main runs: the shim's constructor is done */
	fflush(stdout);
	if (fgets(buf, sizeof(buf), stdin) == NULL)
		die("stdin");
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&a, len) < 0)
		die("connect (truncated to %d)", n);
	if (write(fd, msg, strlen(msg)) < 0)
		die("write");
	if (read_some(fd, buf, sizeof(buf)) < 0)
		die("read");
	printf("%s\n", buf);
	close(fd);
	return 0;
}

static int
cmd_serve_tmp(const char *how, const char *path)
{
	char tmp[4200];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	fd = listen_at(tmp, SOCK_STREAM);
	if (strcmp(how, "link") == 0) {
		if (link(tmp, path) < 0)
			die("link %s %s", tmp, path);
		if (unlink(tmp) < 0)
			die("unlink %s", tmp);
	} else if (rename(tmp, path) < 0)
		die("rename %s %s", tmp, path);
	printf("ready\n");
	fflush(stdout);
	echo_one(fd);
	close(fd);
	unlink(path);
	return 0;
}

/* threads: servers and clients at the same time */
struct job {
	char		path[4096];
	int		lfd;
	int		ok;
	pthread_t	t;
};

static pthread_barrier_t barrier, start;

static void *
server_thread(void *arg)
{
	struct job *j = arg;

	/* the servers' binds are the first calls the shim sees: all at once */
	pthread_barrier_wait(&start);
	j->lfd = listen_at(j->path, SOCK_STREAM);
	pthread_barrier_wait(&barrier);
	echo_one(j->lfd);
	close(j->lfd);
	unlink(j->path);
	return NULL;
}

static void *
client_thread(void *arg)
{
	struct job *j = arg;
	char buf[4200];
	int fd;

	pthread_barrier_wait(&barrier);
	fd = connect_to(j->path);
	if (write(fd, j->path, strlen(j->path)) < 0)
		die("write");
	/* the reply may come in pieces */
	{
		size_t got = 0, want = strlen(j->path);
		ssize_t n;

		while (got < want && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += (size_t)n;
		buf[got] = '\0';
	}
	j->ok = strcmp(buf, j->path) == 0;
	close(fd);
	return NULL;
}

static int
cmd_threads(const char *dir, int n)
{
	struct job *srv = calloc((size_t)n, sizeof(*srv)), *cli = calloc((size_t)n, sizeof(*cli));
	int i, bad = 0;

	if (srv == NULL || cli == NULL || n < 1)
		die("calloc");
	if (strcmp(dir, "-") == 0 && (dir = getenv("SHIM_PROG_DIR")) == NULL)
		die("no SHIM_PROG_DIR");
	pthread_barrier_init(&barrier, NULL, (unsigned)(2 * n));
	pthread_barrier_init(&start, NULL, (unsigned)n);
	for (i = 0; i < n; i++) {
		snprintf(srv[i].path, sizeof(srv[i].path), "%s/t%d", dir, i);
		memcpy(cli[i].path, srv[i].path, sizeof(cli[i].path));
		pthread_create(&srv[i].t, NULL, server_thread, &srv[i]);
		pthread_create(&cli[i].t, NULL, client_thread, &cli[i]);
	}
	for (i = 0; i < n; i++) {
		pthread_join(cli[i].t, NULL);
		pthread_join(srv[i].t, NULL);
		if (!cli[i].ok) {
			fprintf(stderr, "shim-prog: thread %d: wrong reply\n", i);
			bad++;
		}
	}
	pthread_barrier_destroy(&barrier);
	pthread_barrier_destroy(&start);
	free(srv);
	free(cli);
	printf("threads ok %d\n", n - bad);
	return bad != 0;
}

static int
cmd_fork(const char *path)
{
	int lfd = listen_at(path, SOCK_STREAM), st, round;
	pid_t pid;

	for (round = 0; round < 2; round++) {
		pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			if (round == 0)
				_exit(cmd_call(path, "from-fork") != 0);
			execl(self, self, "call", path, "from-exec", (char *)NULL);
			_exit(127);
		}
		echo_one(lfd);
		if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "shim-prog: child %d failed\n", round);
			return 1;
		}
	}
	close(lfd);
	unlink(path);
	return 0;
}

static int
cmd_dgram(const char *path)
{
	struct big_sun a;
	socklen_t len = addr_of(&a, path);
	int rfd = listen_at(path, SOCK_DGRAM), sfd;
	char buf[64];
	struct msghdr mh;
	struct iovec iov;

	if ((sfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		die("socket");
	if (sendto(sfd, "dgram-sendto", 12, 0, (struct sockaddr *)&a, len) != 12)
		die("sendto %s", path);
	if (read_some(rfd, buf, sizeof(buf)) != 12 || strcmp(buf, "dgram-sendto") != 0)
		die("recv");
	iov.iov_base = (void *)"dgram-sendmsg";
	iov.iov_len = 13;
	memset(&mh, 0, sizeof(mh));
	mh.msg_name = &a;
	mh.msg_namelen = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (sendmsg(sfd, &mh, 0) != 13)
		die("sendmsg %s", path);
	if (read_some(rfd, buf, sizeof(buf)) != 13 || strcmp(buf, "dgram-sendmsg") != 0)
		die("recv");
	close(sfd);
	close(rfd);
	unlink(path);
	printf("dgram ok\n");
	return 0;
}

static int
cmd_tcp(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c, s;
	char buf[32];

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &len) < 0)
		die("tcp listen");
	if ((c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("tcp connect");
	if ((s = accept(lfd, NULL, NULL)) < 0)
		die("accept");
	if (write(c, "tcp-ping", 8) != 8 || read_some(s, buf, sizeof(buf)) != 8 ||
	    strcmp(buf, "tcp-ping") != 0)
		die("tcp round trip");
	close(s);
	close(c);
	close(lfd);
	printf("tcp ok\n");
	return 0;
}

/* Native semantics */

static const char *
errname(int e)
{
	static char buf[16];

	switch (e) {
	case 0: return "ok";
	case EFAULT: return "EFAULT";
	case EINVAL: return "EINVAL";
	case EADDRINUSE: return "EADDRINUSE";
	case EBADF: return "EBADF";
	case ENOTSOCK: return "ENOTSOCK";
	case ENOENT: return "ENOENT";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case EDESTADDRREQ: return "EDESTADDRREQ";
	case ENOTCONN: return "ENOTCONN";
	default:
		snprintf(buf, sizeof(buf), "errno%d", e);
		return buf;
	}
}

static void
report(const char *what, long r)
{
	printf("%s %s\n", what, errname(r < 0 ? errno : 0));
}

/* Pointers the compiler does not know to be bad. */
static void *volatile bad8 = (void *)8;
static void *volatile null_ptr;

static void
efault_calls(const char *phase)
{
	struct msghdr mh;
	struct iovec iov = { (void *)"x", 1 };
	char what[64];
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
#define R(name, call) do { snprintf(what, sizeof(what), "%s %s", phase, name); \
	errno = 0; report(what, (long)(call)); } while (0)
	R("unlinkat-null", unlinkat(AT_FDCWD, null_ptr, 0));
	R("unlinkat-bad", unlinkat(AT_FDCWD, bad8, 0));
	R("unlink-null", unlink(null_ptr));
	R("unlink-bad", unlink(bad8));
	R("bind-bad-16", bind(fd, bad8, 16));
	R("bind-bad-110", bind(fd, bad8, 110));
	R("bind-bad-120", bind(fd, bad8, 120));
	R("bind-bad-200", bind(fd, bad8, 200));
	R("connect-bad-16", connect(fd, bad8, 16));
	R("connect-bad-120", connect(fd, bad8, 120));
	R("connect-bad-200", connect(fd, bad8, 200));
	R("sendto-bad-16", sendto(fd, "x", 1, 0, bad8, 16));
	R("sendto-bad-200", sendto(fd, "x", 1, 0, bad8, 200));
	R("sendmsg-bad-msg", sendmsg(fd, bad8, 0));
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_name = bad8;
	mh.msg_namelen = 16;
	R("sendmsg-bad-name-16", sendmsg(fd, &mh, 0));
	mh.msg_namelen = 200;
	R("sendmsg-bad-name-200", sendmsg(fd, &mh, 0));
#undef R
	close(fd);
}

static int
cmd_efault(const char *path)
{
	struct big_sun a;
	socklen_t len = addr_of(&a, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	efault_calls("fresh");
	/* natively a long path fails here; under the shim the table has it */
	if (bind(fd, (struct sockaddr *)&a, len) == 0 && listen(fd, 1) < 0)
		die("listen");
	efault_calls("bound");
	close(fd);
	unlink(path);
	return 0;
}

#if defined(__x86_64__)
#define SECCOMP_ARCH	AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SECCOMP_ARCH	AUDIT_ARCH_AARCH64
#endif

static int
cmd_seccomp(const char *action, const char *path)
{
#if defined(SECCOMP_ARCH) && defined(SYS_process_vm_readv)
	unsigned ret = strcmp(action, "kill") == 0 ? SECCOMP_RET_KILL_PROCESS :
	    SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SECCOMP_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_vm_readv, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, ret),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { (unsigned short)(sizeof(f) / sizeof(f[0])), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		printf("no filter\n");
		return 0;
	}
	return cmd_efault(path);
#else
	(void)action, (void)path;
	printf("no filter\n");
	return 0;
#endif
}

static int
bind_path(int fd, const char *path)
{
	struct big_sun a;
	socklen_t len = addr_of(&a, path);

	return bind(fd, (struct sockaddr *)&a, len);
}

static int
cmd_addrinuse(const char *p, const char *q)
{
	struct sockaddr_un autob = { .sun_family = AF_UNIX };	/* zeroed for valgrind */
	struct stat st;
	char buf[16];
	int s1, s2, s3, c, a, nul;

	s1 = listen_at(p, SOCK_STREAM);
	if ((s2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		die("socket");
	report("second bind", bind_path(s2, p));
	report("second bind again", bind_path(s2, p));
	/* a socket bound already (autobind): EINVAL, and nothing at q */
	if ((s3 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(s3, (struct sockaddr *)&autob, sizeof(sa_family_t)) < 0)
		die("autobind");
	report("bind of a bound socket", bind_path(s3, q));
	report("q after it", lstat(q, &st));
	if ((nul = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		die("open");
	report("bind of a file", bind_path(nul, q));
	report("bind of a closed fd", bind_path(1000, q));
	report("q after them", lstat(q, &st));
	/* the first listener still answers */
	c = connect_to(p);
	if ((a = accept(s1, NULL, NULL)) < 0)
		die("accept");
	if (write(c, "hi", 2) != 2 || read_some(a, buf, sizeof(buf)) != 2)
		die("round trip");
	printf("first listener %s\n", buf);
	/* q is free: a new socket binds it */
	close(s2);
	if ((s2 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		die("socket");
	report("bind of q", bind_path(s2, q));
	close(a);
	close(c);
	close(s1);
	close(s2);
	close(s3);
	close(nul);
	unlink(p);
	unlink(q);
	return 0;
}

static void
close_from(int lowfd)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0) == 0)
		return;
#endif
	for (int fd = lowfd; fd < 1024; fd++)
		close(fd);
}

/* Is fd still the file it was (a write to the log works)? */
static int
log_ok(int fd)
{
	return write(fd, "log\n", 4) == 4;
}

static int
listen_or_report(const char *what, int fd, const char *path)
{
	if (bind_path(fd, path) < 0) {
		report(what, -1);
		return -1;
	}
	report(what, listen(fd, 4));
	return 0;
}

static int
cmd_forkclose(const char *p, const char *q)
{
	int lfd = listen_at(p, SOCK_STREAM), st;
	pid_t pid;

	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0) {
		int log, s;

		close_from(3);
		if ((log = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0 ||
		    (s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			die("child: open");
		listen_or_report("child bind+listen", s, q);
		printf("child log %s\n", log_ok(log) ? "ok" : "closed");
		close(s);
		unlink(q);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("child");
	close(lfd);
	unlink(p);
	return 0;
}

static int
cmd_vfork(const char *p, const char *q)
{
	int lfd = listen_at(p, SOCK_STREAM), st, s, log;
	struct stat in, now;
	pid_t pid;

	if (fstat(2, &in) < 0)
		die("fstat");
	if ((pid = vfork()) < 0)
		die("vfork");
	if (pid == 0) {
		int cs;

		/* a child that closes its fds (its own fd table) and binds */
		close_from(0);
		cs = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		/* whatever it answers, it must leave the parent alone */
		if (cs >= 0 && bind_path(cs, q) == 0)
			unlink(q);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("child");
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    (log = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
		die("open");
	listen_or_report("parent bind+listen", s, q);
	printf("parent log %s\n", log_ok(log) ? "ok" : "closed");
	{
		int acc = 0;
		socklen_t al = sizeof(acc);

		printf("parent listener %s\n", getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &acc,
		    &al) == 0 && acc == 1 ? "ok" : "gone");
	}
	printf("parent stderr %s\n", fstat(2, &now) == 0 && now.st_dev == in.st_dev &&
	    now.st_ino == in.st_ino ? "ok" : "not stderr");
	close(s);
	close(lfd);
	unlink(q);
	unlink(p);
	return 0;
}

/* Wait until thread tid is blocked in a system call on a socket. */
static void
wait_in_syscall(pid_t tid)
{
	char path[64], buf[64];
	int i;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/syscall", (long)tid);
	for (i = 0; i < 20000; i++) {
		FILE *f = fopen(path, "r");
		long nr = -1;

		if (f != NULL) {
			if (fgets(buf, sizeof(buf), f) != NULL)
				nr = strtol(buf, NULL, 10);
			fclose(f);
		}
		if (nr == SYS_recvmsg || nr == SYS_connect || nr == SYS_sendmsg)
			return;
		usleep(1000);
	}
	fprintf(stderr, "shim-prog: the thread never blocked\n");
	exit(1);
}

struct tf {
	const char	*path;
	pid_t		 tid;
	int		 r, err;
};

static void *
tf_thread(void *arg)
{
	struct tf *t = arg;
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	__atomic_store_n(&t->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	t->r = bind_path(s, t->path);
	t->err = errno;
	return NULL;
}

static void
wait_go(void)
{
	char line[16];

	printf("ready\n");
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL || strcmp(line, "go\n") != 0)
		die("no go");
}

static int
cmd_vforkfirst(const char *p, const char *q)
{
	char buf[16];
	int st, s, c;
	pid_t pid;

	if ((pid = vfork()) < 0)
		die("vfork");
	if (pid == 0) {
		int cs = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		/* the first call the shim sees is the child's: it is not the program's */
		if (cs >= 0)
			bind_path(cs, p);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("child");
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		die("socket");
	if (listen_or_report("parent bind+listen", s, q) < 0)
		return 0;
	c = connect_to(q);
	if (write(c, "hi", 2) != 2)
		die("write");
	echo_one(s);
	printf("parent call %s\n", read_some(c, buf, sizeof(buf)) == 2 ? buf : "failed");
	close(c);
	close(s);
	unlink(q);
	unlink(p);
	return 0;
}

static int
cmd_threadfork(const char *p, const char *q)
{
	struct tf t = { q, 0, 0, 0 };
	pthread_t th;
	int lfd = listen_at(p, SOCK_STREAM), st;
	pid_t pid;

	wait_go();
	pthread_create(&th, NULL, tf_thread, &t);
	while (__atomic_load_n(&t.tid, __ATOMIC_ACQUIRE) == 0)
		usleep(1000);
	wait_in_syscall(t.tid);
	/* the broker does not answer: fork must not wait for it */
	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0)
		_exit(0);
	if (waitpid(pid, &st, 0) < 0)
		die("waitpid");
	printf("forked while the thread waits\n");
	fflush(stdout);
	pthread_join(th, NULL);
	errno = t.err;
	report("bind with a stopped broker", t.r);
	close(lfd);
	return 0;
}

static const char *sig_path;

static void
on_term(int sig)
{
	int r = unlink(sig_path);

	(void)sig;
	if (write(STDOUT_FILENO, r == 0 ? "handler unlinked\n" : "handler failed\n",
	    r == 0 ? 17 : 15) < 0)
		_exit(2);
	_exit(0);
}

/* Say (one line on stdout) when the thread tid is blocked on a socket. */
static void *
watch_thread(void *arg)
{
	pid_t tid = *(pid_t *)arg;

	wait_in_syscall(tid);
	if (write(STDOUT_FILENO, "waiting\n", 8) < 0)
		_exit(2);
	return NULL;
}

static int
cmd_sigunlink(const char *p, const char *q)
{
	struct sigaction sa;
	pthread_t th;
	sigset_t term;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	int pfd = listen_at(p, SOCK_STREAM), qfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sig_path = p;
	wait_go();
	/* the watcher must not take the SIGTERM meant for the main thread */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	pthread_create(&th, NULL, watch_thread, &tid);
	pthread_sigmask(SIG_UNBLOCK, &term, NULL);
	report("bind q", bind_path(qfd, q));
	/* the handler ends the process; without a SIGTERM, say so */
	printf("no signal\n");
	close(pfd);
	close(qfd);
	return 1;
}

static int
cmd_closefrom(const char *path)
{
	int lfd = listen_at(path, SOCK_STREAM), nul, c;

	(void)lfd;
	close_from(3);	/* the program's fds and any of the shim's */
	if ((nul = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		die("open");
	lfd = listen_at(path, SOCK_STREAM);	/* unlinks the path first */
	c = connect_to(path);
	printf("after closefrom ok\n");
	close(c);
	close(lfd);
	close(nul);
	unlink(path);
	return 0;
}

static int
cmd_bind(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	report("bind", bind_path(fd, path));
	return 0;
}

static int
cmd_daemon(const char *path)
{
	int lfd = listen_at(path, SOCK_STREAM), st;
	pid_t pid;

	if ((pid = fork()) < 0)
		die("fork");
	if (pid > 0) {
		/* the parent waits for the first child, then exits: the binder is gone */
		if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			die("first child");
		_exit(0);
	}
	setsid();
	if ((pid = fork()) < 0)
		die("fork");
	if (pid > 0)
		_exit(0);
	printf("%ld\n", (long)getpid());
	fflush(stdout);
	/* stdout is the caller's pipe: let it see end of file */
	if (freopen("/dev/null", "w", stdout) == NULL)
		_exit(1);
	for (;;)
		echo_one(lfd);
}

/* sendto and sendmsg of "again" to a, and whether rfd got it */
static void
viewsend_one(int sfd, int rfd, const struct big_sun *a, socklen_t len)
{
	char buf[64];
	struct msghdr mh;
	struct iovec iov;
	ssize_t n;

	n = sendto(sfd, "again", 5, 0, (const struct sockaddr *)a, len);
	report("sendto", n);
	n = recv(rfd, buf, sizeof(buf), MSG_DONTWAIT);
	printf("received %s\n", n > 0 ? "it" : "nothing");
	iov.iov_base = (void *)"again";
	iov.iov_len = 5;
	memset(&mh, 0, sizeof(mh));
	mh.msg_name = (void *)a;
	mh.msg_namelen = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	n = sendmsg(sfd, &mh, 0);
	report("sendmsg", n);
	n = recv(rfd, buf, sizeof(buf), MSG_DONTWAIT);
	printf("received %s\n", n > 0 ? "it" : "nothing");
}

static int
cmd_viewsend(const char *path)
{
	struct big_sun a;
	socklen_t len = addr_of(&a, path);
	int rfd = listen_at(path, SOCK_DGRAM), sfd;
	char buf[64];

	if ((sfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		die("socket");
	if (sendto(sfd, "first", 5, 0, (struct sockaddr *)&a, len) != 5)
		die("sendto %s", path);
	if (read_some(rfd, buf, sizeof(buf)) != 5 || strcmp(buf, "first") != 0)
		die("recv");
	printf("waiting\n");
	if (fgets(buf, sizeof(buf), stdin) == NULL)
		die("stdin");
	viewsend_one(sfd, rfd, &a, len);
	return 0;
}

int
main(int argc, char **argv)
{
	self = argv[0];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return cmd_serve(argv[2]);
	if (argc == 3 && strcmp(argv[1], "--socket") == 0)
		return cmd_serve(argv[2]);
	if (argc == 4 && strcmp(argv[1], "call") == 0)
		return cmd_call(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "threads") == 0)
		return cmd_threads(argv[2], atoi(argv[3]));
	if (argc == 3 && strcmp(argv[1], "fork") == 0)
		return cmd_fork(argv[2]);
	if (argc == 3 && strcmp(argv[1], "dgram") == 0)
		return cmd_dgram(argv[2]);
	if (argc == 2 && strcmp(argv[1], "tcp") == 0)
		return cmd_tcp();
	if (argc == 5 && strcmp(argv[1], "serve-tmp") == 0 && strcmp(argv[3], "--socket") == 0)
		return cmd_serve_tmp(argv[2], argv[4]);
	if (argc >= 4 && strcmp(argv[1], "serve-trunc") == 0)
		return cmd_serve_trunc(atoi(argv[2]), argv[3]);
	if (argc == 5 && strcmp(argv[1], "call-trunc") == 0)
		return cmd_call_trunc(atoi(argv[2]), argv[3], argv[4]);
	if (argc == 3 && strcmp(argv[1], "efault") == 0)
		return cmd_efault(argv[2]);
	if (argc == 4 && strcmp(argv[1], "seccomp") == 0)
		return cmd_seccomp(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "addrinuse") == 0)
		return cmd_addrinuse(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "forkclose") == 0)
		return cmd_forkclose(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "vfork") == 0)
		return cmd_vfork(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "vforkfirst") == 0)
		return cmd_vforkfirst(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "threadfork") == 0)
		return cmd_threadfork(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "sigunlink") == 0)
		return cmd_sigunlink(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "closefrom") == 0)
		return cmd_closefrom(argv[2]);
	if (argc == 3 && strcmp(argv[1], "bind") == 0)
		return cmd_bind(argv[2]);
	if (argc == 3 && strcmp(argv[1], "daemon") == 0)
		return cmd_daemon(argv[2]);
	if (argc == 4 && strcmp(argv[1], "relisten") == 0)
		return cmd_relisten(atoi(argv[2]), argv[3]);
	if (argc == 5 && strcmp(argv[1], "relisten") == 0 && strcmp(argv[3], "--socket") == 0)
		return cmd_relisten(atoi(argv[2]), argv[4]);
	if (argc == 3 && strcmp(argv[1], "viewsend") == 0)
		return cmd_viewsend(argv[2]);
	fprintf(stderr, "usage: shim-prog serve|call|threads|fork|dgram|tcp|serve-trunc|call-trunc|"
	    "efault|seccomp|addrinuse|"
	    "forkclose|vfork|vforkfirst|threadfork|sigunlink|closefrom|bind|daemon|relisten|"
	    "viewsend ...\n");
	return 100;
}
