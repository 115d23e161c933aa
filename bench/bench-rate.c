/* SPDX-License-Identifier: ISC */
/*
 * bench-rate.c: figure 5. GET requests per second with 1, 8 and 64
 * concurrent clients on persistent connections, each with one request in
 * flight (closed loop), against sockbrokerd and against bench-evserver (a
 * bare single-threaded libevent server giving the same reply with the same
 * fd). The load generator is one epoll thread; runs of the two servers
 * alternate in rounds.
 *
 * usage: bench-rate SOCKBROKERD BENCH-EVSERVER DIR
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench.h"
#include "sb-proto.h"
#include "sockbroker.h"

#define KEY	"bench-rate"

static uint8_t req[256];
static size_t req_len;

static int
connect_control(const char *root)
{
	struct sockaddr_un sun;
	int s;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/" SB_CONTROL_NAME, root);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		bench_die("connect to %s: %s", sun.sun_path, strerror(errno));
	return s;
}

static void
send_req(int s)
{
	if (send(s, req, req_len, MSG_NOSIGNAL) != (ssize_t)req_len)
		bench_die("send a GET: %s", strerror(errno));
}

/* Receive one reply; it must be an OK with an fd, which is closed. */
static void
recv_rep(int s)
{
	uint8_t buf[SB_MSG_MAX];
	uint16_t type;
	ssize_t n;
	int fd;

	n = bench_recv_fd(s, buf, sizeof(buf), &fd);
	if (n < SB_HDR_SIZE)
		bench_die("receive a reply: %s", n < 0 ? strerror(errno) : "short or closed");
	memcpy(&type, buf + 6, sizeof(type));
	if (type != SB_MSG_OK || fd < 0)
		bench_die("get an OK with an fd (type 0x%04x)", type);
	close(fd);
}

/* nclients in a closed loop for dur_ns; returns requests per second. */
static double
run(const char *root, int nclients, uint64_t dur_ns)
{
	struct epoll_event ev, evs[64];
	uint64_t t0, t1, done = 0;
	int *socks, ep, i, n;

	socks = calloc((size_t)nclients, sizeof(*socks));
	if (socks == NULL || (ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		bench_die("set up the clients");
	for (i = 0; i < nclients; i++) {
		socks[i] = connect_control(root);
		ev.events = EPOLLIN;
		ev.data.fd = socks[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, socks[i], &ev);
	}
	t0 = bench_now();
	for (i = 0; i < nclients; i++)
		send_req(socks[i]);
	do {
		n = epoll_wait(ep, evs, 64, 1000);
		if (n <= 0)
			bench_die("hear from the server: %s", n < 0 ? strerror(errno) : "timeout");
		for (i = 0; i < n; i++) {
			recv_rep(evs[i].data.fd);
			done++;
			send_req(evs[i].data.fd);
		}
		t1 = bench_now();
	} while (t1 - t0 < dur_ns);
	/* the requests still in flight are not counted */
	for (i = 0; i < nclients; i++)
		close(socks[i]);
	close(ep);
	free(socks);
	return (double)done * 1e9 / (double)(t1 - t0);
}

int
main(int argc, char **argv)
{
	static const int levels[] = { 1, 8, 64 };
	char broot[256], eroot[256], what[64];
	struct sb_msg m;
	sb_client *c;
	pid_t broker, ev;
	size_t rounds, li, r;
	uint64_t dur;
	ssize_t n;
	int e;

	bench_prog = "bench-rate";
	if (argc != 4) {
		fprintf(stderr, "usage: bench-rate SOCKBROKERD BENCH-EVSERVER DIR\n");
		return 100;
	}
	snprintf(broot, sizeof(broot), "%s/root", argv[3]);
	snprintf(eroot, sizeof(eroot), "%s/evroot", argv[3]);
	sb_msg_init(&m, SB_MSG_GET, 1);
	sb_msg_set_str(&m, SB_F_KEY, KEY);
	if ((n = sb_msg_encode(&m, req, sizeof(req))) < 0)
		bench_die("encode a GET");
	req_len = (size_t)n;

	broker = bench_broker_start(argv[1], broot, NULL, NULL);
	if ((e = sb_client_open(broot, &c)) < 0)
		bench_die("connect to sockbrokerd: %s", sb_strerror(e));
	{
		struct sb_bind_opts o = SB_BIND_OPTS_INIT;

		o.flags = SB_BIND_F_LISTEN;
		o.lifetime = SB_LIFETIME_HOLD;
		if ((e = sb_bind(c, KEY, &o, NULL, NULL, 0)) < 0)
			bench_die("bind %s: %s: %s", KEY, sb_strerror(e), sb_client_message(c));
	}
	sb_client_close(c);
	ev = bench_broker_start(argv[2], eroot, NULL, NULL);

	rounds = bench_scaled(5, 2, 2);
	dur = bench_quick() ? 100000000u : 300000000u;
	for (li = 0; li < sizeof(levels) / sizeof(levels[0]); li++) {
		struct bench_samples a = { 0 }, b = { 0 }, ratios = { 0 };

		run(broot, levels[li], dur / 10);	/* warm up */
		run(eroot, levels[li], dur / 10);
		for (r = 0; r < rounds; r++) {
			double x, y;

			if (r % 2 == 0) {
				x = run(broot, levels[li], dur);
				y = run(eroot, levels[li], dur);
			} else {
				y = run(eroot, levels[li], dur);
				x = run(broot, levels[li], dur);
			}
			bench_add(&a, x);
			bench_add(&b, y);
			bench_add(&ratios, x / y);
		}
		snprintf(what, sizeof(what), "GET rate, %d client%s vs bare libevent", levels[li],
		    levels[li] > 1 ? "s" : "");
		bench_compare_row("5", what, "req/s", &a, &b, &ratios, "%", ">= 100%", 1.0);
		bench_free(&a);
		bench_free(&b);
		bench_free(&ratios);
	}
	bench_broker_stop(ev);
	bench_broker_stop(broker);
	return 0;
}
