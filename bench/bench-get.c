/* SPDX-License-Identifier: ISC */
/*
 * bench-get.c: figure 3. sb_get() on a new connection (sb_client_open,
 * sb_get, close the fd, sb_client_close) against sockbrokerd, versus the
 * plainest raw SCM_RIGHTS request/reply on a new connection (socket,
 * connect, send, recvmsg, close) against a minimal blocking server that
 * accepts, reads the request and answers with one fd. The request is the
 * same GET message in both; the two alternate in rounds.
 *
 * Row 3b: sb_bind() of a new held name (the broker makes the directory and
 * the listening socket, and keeps it) on a client's connection, versus a
 * native socket+bind+listen+close+unlink of a short path on the same file
 * system. The entries are released after each round, outside the timing.
 *
 * usage: bench-get SOCKBROKERD DIR
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "sb-proto.h"
#include "sockbroker.h"

#define KEY	"bench-get"

struct ctx {
	char		 root[128];
	struct sockaddr_un raw_addr;
	uint8_t		 req[256];
	size_t		 req_len;
};

/* The minimal server: accept, read the request, answer with held_fd, close. */
static void __attribute__((noreturn))
raw_server(int lfd, int held_fd, const uint8_t *rep, size_t rep_len)
{
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	uint8_t buf[SB_MSG_MAX];
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;
	int c;

	for (;;) {
		if ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		if (recv(c, buf, sizeof(buf), 0) > 0) {
			memset(&mh, 0, sizeof(mh));
			iov.iov_base = (void *)rep;
			iov.iov_len = rep_len;
			mh.msg_iov = &iov;
			mh.msg_iovlen = 1;
			mh.msg_control = cbuf.buf;
			mh.msg_controllen = sizeof(cbuf.buf);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &held_fd, sizeof(int));
			sendmsg(c, &mh, MSG_NOSIGNAL);
		}
		close(c);
	}
}

/* The raw client: one new connection, one request, one fd back. */
static void
raw_get(void *arg)
{
	struct ctx *x = arg;
	uint8_t buf[SB_MSG_MAX];
	int s, fd;

	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&x->raw_addr, sizeof(x->raw_addr)) < 0)
		bench_die("connect to the raw server: %s", strerror(errno));
	if (send(s, x->req, x->req_len, MSG_NOSIGNAL) != (ssize_t)x->req_len)
		bench_die("send to the raw server: %s", strerror(errno));
	if (bench_recv_fd(s, buf, sizeof(buf), &fd) <= 0 || fd < 0)
		bench_die("receive an fd from the raw server");
	close(fd);
	close(s);
}

/* The library: a new client, a get, close everything. */
static void
lib_get(void *arg)
{
	struct ctx *x = arg;
	sb_client *c;
	int r, fd;

	if ((r = sb_client_open(x->root, &c)) < 0)
		bench_die("connect to sockbrokerd: %s", sb_strerror(r));
	if ((r = sb_get(c, KEY, &fd)) < 0)
		bench_die("get %s: %s: %s", KEY, sb_strerror(r), sb_client_message(c));
	close(fd);
	sb_client_close(c);
}

/* Row 3b: one sb_bind of a new held name, timed; released after the round. */
struct bind_ctx {
	sb_client	*c;
	size_t		 seq;
	struct sockaddr_un native;
};

static void
lib_bind(void *arg)
{
	struct bind_ctx *b = arg;
	struct sb_bind_opts o = SB_BIND_OPTS_INIT;
	char key[64];
	int r, fd;

	snprintf(key, sizeof(key), "bench-bind-%zu", b->seq++);
	o.flags = SB_BIND_F_LISTEN;
	o.lifetime = SB_LIFETIME_HOLD;
	if ((r = sb_bind(b->c, key, &o, &fd, NULL, 0)) < 0)
		bench_die("bind %s: %s: %s", key, sb_strerror(r), sb_client_message(b->c));
	close(fd);
}

static void
native_bind(void *arg)
{
	struct bind_ctx *b = arg;
	int s;

	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&b->native, sizeof(b->native)) < 0 ||
	    listen(s, SOMAXCONN) < 0)
		bench_die("bind %s: %s", b->native.sun_path, strerror(errno));
	close(s);
	unlink(b->native.sun_path);
}

/* Time per calls of f into all and round. */
static void
timed(bench_fn f, void *ctx, size_t per, struct bench_samples *all, struct bench_samples *round)
{
	size_t i;

	round->n = 0;
	for (i = 0; i < per; i++) {
		uint64_t t = bench_now();

		f(ctx);
		t = bench_now() - t;
		bench_add(all, (double)t);
		bench_add(round, (double)t);
	}
}

static void
bind_row(const char *root, const char *dir)
{
	struct bench_samples a = { 0 }, b = { 0 }, ratios = { 0 }, ra = { 0 }, rb = { 0 };
	struct bench_samples junk = { 0 };
	struct bind_ctx x;
	size_t rounds, per, r, i, first;
	char key[64];
	int e;

	memset(&x, 0, sizeof(x));
	if ((e = sb_client_open(root, &x.c)) < 0)
		bench_die("connect to sockbrokerd: %s", sb_strerror(e));
	x.native.sun_family = AF_UNIX;
	snprintf(x.native.sun_path, sizeof(x.native.sun_path), "%.90s/native.sock", dir);
	rounds = bench_scaled(40, 4, 5);
	per = 50;
	for (r = 0; r <= rounds; r++) {
		first = x.seq;
		if (r == 0) {		/* warm-up */
			timed(lib_bind, &x, per, &junk, &ra);
			timed(native_bind, &x, per, &junk, &rb);
		} else if (r % 2) {
			timed(lib_bind, &x, per, &a, &ra);
			timed(native_bind, &x, per, &b, &rb);
		} else {
			timed(native_bind, &x, per, &b, &rb);
			timed(lib_bind, &x, per, &a, &ra);
		}
		if (r > 0)
			bench_add(&ratios, bench_median(&ra) / bench_median(&rb));
		/* released outside the timing: the next round binds new names again */
		for (i = first; i < x.seq; i++) {
			snprintf(key, sizeof(key), "bench-bind-%zu", i);
			if ((e = sb_release(x.c, key)) < 0)
				bench_die("release %s: %s", key, sb_strerror(e));
		}
	}
	bench_compare_row("3b", "sb_bind new held name vs native bind+listen", "us", &a, &b,
	    &ratios, "x", "<= 2.5x", 2.5);
	sb_client_close(x.c);
	bench_free(&a);
	bench_free(&b);
	bench_free(&ra);
	bench_free(&rb);
	bench_free(&junk);
	bench_free(&ratios);
}

int
main(int argc, char **argv)
{
	struct bench_samples a = { 0 }, b = { 0 }, ratios = { 0 };
	struct sb_msg m;
	struct ctx x;
	uint8_t rep[512];
	ssize_t rep_len, n;
	char path[256];
	int lfd, held, r;
	pid_t broker, server;
	sb_client *c;
	size_t rounds, per;

	bench_prog = "bench-get";
	if (argc != 3) {
		fprintf(stderr, "usage: bench-get SOCKBROKERD DIR\n");
		return 100;
	}
	memset(&x, 0, sizeof(x));
	snprintf(x.root, sizeof(x.root), "%s/root", argv[2]);

	/* the same GET message for both; the reply the broker would give */
	sb_msg_init(&m, SB_MSG_GET, 1);
	sb_msg_set_str(&m, SB_F_KEY, KEY);
	if ((n = sb_msg_encode(&m, x.req, sizeof(x.req))) < 0)
		bench_die("encode a GET");
	x.req_len = (size_t)n;

	broker = bench_broker_start(argv[1], x.root, NULL, NULL);
	if ((r = sb_client_open(x.root, &c)) < 0)
		bench_die("connect to sockbrokerd: %s", sb_strerror(r));
	{
		struct sb_bind_opts o = SB_BIND_OPTS_INIT;
		char sp[SB_SHORT_PATH_SIZE];

		o.flags = SB_BIND_F_LISTEN;
		o.lifetime = SB_LIFETIME_HOLD;
		if ((r = sb_bind(c, KEY, &o, &held, sp, sizeof(sp))) < 0)
			bench_die("bind %s: %s: %s", KEY, sb_strerror(r), sb_client_message(c));
		sb_msg_init(&m, SB_MSG_OK, 1);
		sb_msg_set_str(&m, SB_F_SHORT_PATH, sp);
		sb_msg_set_u32(&m, SB_F_KIND, SB_KIND_SOCKET);
		sb_msg_set_u32(&m, SB_F_HAS_FD, 1);
		if ((rep_len = sb_msg_encode(&m, rep, sizeof(rep))) < 0)
			bench_die("encode an OK");
	}
	sb_client_close(c);

	if (strlen(argv[2]) + sizeof("/raw.sock") > sizeof(x.raw_addr.sun_path))
		bench_die("use %s: too long for a socket path", argv[2]);
	snprintf(path, sizeof(path), "%s/raw.sock", argv[2]);
	lfd = bench_listen_unix(path, SOCK_SEQPACKET);
	x.raw_addr.sun_family = AF_UNIX;
	memcpy(x.raw_addr.sun_path, path, strlen(path) + 1);
	if ((server = fork()) < 0)
		bench_die("fork");
	if (server == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		raw_server(lfd, held, rep, (size_t)rep_len);
	}
	close(lfd);

	rounds = bench_scaled(40, 4, 5);
	per = 100;
	bench_interleave(rounds, per, lib_get, raw_get, &x, &a, &b, &ratios);

	bench_compare_row("3", "sb_get new conn vs raw SCM_RIGHTS new conn", "us", &a, &b, &ratios,
	    "x", "<= 1.2x", 1.2);

	bind_row(x.root, argv[2]);

	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
	close(held);
	bench_broker_stop(broker);
	bench_free(&a);
	bench_free(&b);
	bench_free(&ratios);
	return 0;
}
