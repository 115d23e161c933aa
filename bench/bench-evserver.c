/* SPDX-License-Identifier: ISC */
/*
 * bench-evserver.c: the baseline of figure 5, a bare single-threaded
 * libevent server that answers sockbroker's GET the way sockbrokerd does
 * (decode the request with the project's codec, reply OK with SHORT_PATH,
 * KIND, HAS_FD=1 and one fd), and nothing else: no entry table, no
 * credentials, no access rules, no limits.
 *
 * usage: bench-evserver --root DIR --ready-fd N
 * Listens on DIR/control (SOCK_SEQPACKET); hands out a listening socket it
 * made at DIR/held; writes "\n" to fd N when ready; exits on SIGTERM.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "sb-internal.h"
#include "sb-proto.h"

static struct event_base *base;
static int held_fd = -1;
static char held_path[SB_SHORT_PATH_SIZE];

struct conn {
	struct event	*ev;
	uint8_t		 buf[SB_MSG_MAX];
};

static void
conn_free(struct conn *c, int fd)
{
	event_free(c->ev);
	close(fd);
	free(c);
}

/* One request in, one reply with the fd out. */
static void
conn_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct sb_msg req, rep;
	int r;

	r = sb_msg_recv(fd, c->buf, sizeof(c->buf), &req, MSG_DONTWAIT);
	if (r == -EAGAIN)
		return;
	if (req.fd >= 0)
		close(req.fd);
	if (r < 0) {
		conn_free(c, fd);
		return;
	}
	if (req.type != SB_MSG_GET) {
		sb_msg_init(&rep, SB_MSG_ERROR, req.id);
		sb_msg_set_u32(&rep, SB_F_ERRNO, EOPNOTSUPP);
		sb_msg_send(fd, &rep, -1);
		return;
	}
	sb_msg_init(&rep, SB_MSG_OK, req.id);
	sb_msg_set_str(&rep, SB_F_SHORT_PATH, held_path);
	sb_msg_set_u32(&rep, SB_F_KIND, SB_KIND_SOCKET);
	sb_msg_set_u32(&rep, SB_F_HAS_FD, 1);
	if (sb_msg_send(fd, &rep, held_fd) < 0)
		conn_free(c, fd);
}

static void
conn_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct conn *c;
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->ev = event_new(base, fd, EV_READ | EV_PERSIST, conn_read, c);
	event_add(c->ev, NULL);
}

static void
on_term(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(base);
}

int
main(int argc, char **argv)
{
	const char *root = NULL;
	char path[256];
	struct event *lev, *sev;
	int ready_fd = -1, lfd, i;

	bench_prog = "bench-evserver";
	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--root") == 0)
			root = argv[i + 1];
		else if (strcmp(argv[i], "--ready-fd") == 0)
			ready_fd = atoi(argv[i + 1]);
	}
	if (root == NULL || i != argc) {
		fprintf(stderr, "usage: bench-evserver --root DIR --ready-fd N\n");
		return 100;
	}
	signal(SIGPIPE, SIG_IGN);
	if (mkdir(root, 0755) < 0 && errno != EEXIST)
		bench_die("create %s: %s", root, strerror(errno));
	snprintf(held_path, sizeof(held_path), "%s/held", root);
	held_fd = bench_listen_unix(held_path, SOCK_STREAM);
	snprintf(path, sizeof(path), "%s/" SB_CONTROL_NAME, root);
	lfd = bench_listen_unix(path, SOCK_SEQPACKET);
	evutil_make_socket_nonblocking(lfd);

	if ((base = event_base_new()) == NULL)
		bench_die("make an event base");
	lev = event_new(base, lfd, EV_READ | EV_PERSIST, conn_accept, NULL);
	sev = evsignal_new(base, SIGTERM, on_term, NULL);
	event_add(lev, NULL);
	event_add(sev, NULL);
	if (ready_fd >= 0) {
		if (write(ready_fd, "\n", 1) != 1)
			bench_die("report readiness");
		close(ready_fd);
	}
	event_base_dispatch(base);
	event_free(lev);
	event_free(sev);
	event_base_free(base);
	unlink(path);
	unlink(held_path);
	return 0;
}
