/*
 * shim-prog.c: a small C program for the shim's tests (no python3 needed).
 * It passes over-long addresses in a larger buffer, the way a C program
 * built with a bigger sockaddr does, unless the path fits sun_path.
 *
 *   shim-prog serve PATH          bind+listen, "ready" on stdout, answer one
 *                                 client: read a line, write it back, exit
 *   shim-prog call PATH MSG       connect, send MSG, print the reply
 *   shim-prog threads DIR N       N threads bind DIR/t<i> (long) and N
 *                                 threads connect to them, concurrently
 *   shim-prog fork PATH           listen, fork: the child connects; then
 *                                 exec "shim-prog call" in a child
 *   shim-prog dgram PATH          bind a datagram socket, sendto it, recv
 *   shim-prog tcp                 a TCP loopback round trip
 *   shim-prog --socket PATH ...   "serve" with the path as an option
 *                                 (SOCKBROKER_REWRITE=opt:--socket)
 *   shim-prog serve-trunc N PATH [ARG...]  "serve" on the first N bytes of PATH in
 *                                 a plain sockaddr_un (107: NUL-terminated,
 *                                 108: none), as spice-server and GLib do
 *   shim-prog call-trunc N PATH MSG  read a line from stdin, then "call"
 *                                 the first N bytes of PATH the same way
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

static int
cmd_serve(const char *path)
{
	int fd = listen_at(path, SOCK_STREAM);

	printf("ready\n");
	fflush(stdout);
	echo_one(fd);
	close(fd);
	unlink(path);
	return 0;
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

/* threads: servers and clients at the same time */
struct job {
	char		path[4096];
	int		lfd;
	int		ok;
	pthread_t	t;
};

static pthread_barrier_t barrier;

static void *
server_thread(void *arg)
{
	struct job *j = arg;

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
	pthread_barrier_init(&barrier, NULL, (unsigned)(2 * n));
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
	if (argc >= 4 && strcmp(argv[1], "serve-trunc") == 0)
		return cmd_serve_trunc(atoi(argv[2]), argv[3]);
	if (argc == 5 && strcmp(argv[1], "call-trunc") == 0)
		return cmd_call_trunc(atoi(argv[2]), argv[3], argv[4]);
	fprintf(stderr, "usage: shim-prog serve|call|threads|fork|dgram|tcp ...\n");
	return 100;
}
