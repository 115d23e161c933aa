/* SPDX-License-Identifier: ISC */
/*
 * bench-tcp.c: figure 1, second half. A TCP loopback connect+close with the
 * shim's connect() and with libc's, interleaved in one process. The shim is
 * dlopen()ed as in bench-shim.c (its constructor runs as under LD_PRELOAD;
 * SOCKBROKER_MODE=direct, no broker needed: an AF_INET address is passed
 * straight through after the family check). The client closes with
 * SO_LINGER 0 so that no TIME_WAIT socket piles up on a shared machine.
 *
 * Environment (from run-bench.sh): SB_SHIM.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

struct ctx {
	int		(*s_connect)(int, const struct sockaddr *, socklen_t);
	struct sockaddr_in addr;
};

static void *
acceptor(void *arg)
{
	int lfd = *(int *)arg, c;

	for (;;)
		if ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
			close(c);
	return NULL;
}

static void
conn(struct ctx *x, int (*f)(int, const struct sockaddr *, socklen_t))
{
	struct linger lg = { 1, 0 };
	int s;

	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || f(s, (struct sockaddr *)&x->addr, sizeof(x->addr)) < 0)
		bench_die("connect to 127.0.0.1:%u: %s", ntohs(x->addr.sin_port), strerror(errno));
	setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(s);
}

static void
tcp_shim(void *arg)
{
	struct ctx *x = arg;

	conn(x, x->s_connect);
}

static void
tcp_libc(void *arg)
{
	conn(arg, connect);
}

int
main(void)
{
	struct bench_samples a = { 0 }, b = { 0 }, ratios = { 0 };
	const char *shim = getenv("SB_SHIM");
	struct ctx x;
	socklen_t len;
	pthread_t t;
	void *h;
	int lfd;

	bench_prog = "bench-tcp";
	if (shim == NULL)
		bench_die("run me through make bench (SB_SHIM)");
	setenv("SOCKBROKER_MODE", "direct", 1);
	unsetenv("SOCKBROKER_DEBUG");
	if ((h = dlopen(shim, RTLD_NOW | RTLD_LOCAL)) == NULL)
		bench_die("load the shim: %s", dlerror());
	memset(&x, 0, sizeof(x));
	x.s_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(h, "connect");
	if (x.s_connect == NULL)
		bench_die("find connect in the shim");

	x.addr.sin_family = AF_INET;
	x.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	len = sizeof(x.addr);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&x.addr, len) < 0 || listen(lfd, 1024) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&x.addr, &len) < 0)
		bench_die("listen on 127.0.0.1: %s", strerror(errno));
	pthread_create(&t, NULL, acceptor, &lfd);

	bench_interleave(bench_scaled(30, 6, 5), 100, tcp_shim, tcp_libc, &x, &a, &b, &ratios);

	/* "within noise": the same bound as bench-shim's figure 1 */
	bench_compare_row("1", "passthrough TCP loopback connect, shim vs none", "us", &a, &b,
	    &ratios, "x", "within noise", 1.10);
	return 0;
}
