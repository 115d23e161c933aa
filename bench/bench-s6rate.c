/* SPDX-License-Identifier: ISC */
/*
 * bench-s6rate.c: figure 5, the s6 row. GET requests per second with 8
 * clients on persistent connections, each one request in flight (closed
 * loop), each client a process of its own using its server's C library:
 * sb_get() against sockbrokerd, s6_fdholder_retrieve() (libs6) against
 * s6-fdholderd, retrieving the same kind of stored socket. Runs of the two
 * alternate in rounds. Built by `make bench` only where libs6-dev and
 * skalibs-dev are installed.
 *
 * usage: bench-s6rate BROKER-ROOT NAME S6-SOCKET S6-ID
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <s6/fdholder.h>
#include <skalibs/tai.h>

#include "bench.h"
#include "sockbroker.h"

#define CLIENTS	8

/* One client: connect, then GET in a loop until deadline (bench_now()); the count. */
static uint64_t
client_sb(const char *root, const char *name, uint64_t deadline)
{
	uint64_t n = 0;
	sb_client *c;
	int r, fd;

	if ((r = sb_client_open(root, &c)) < 0)
		bench_die("connect to sockbrokerd: %s", sb_strerror(r));
	while (bench_now() < deadline) {
		if ((r = sb_get(c, name, &fd)) < 0)
			bench_die("sb_get %s: %s", name, sb_strerror(r));
		close(fd);
		n++;
	}
	sb_client_close(c);
	return n;
}

static uint64_t
client_s6(const char *sock, const char *id, uint64_t deadline)
{
	s6_fdholder_t a = S6_FDHOLDER_ZERO
	tain stamp, dl;
	uint64_t n = 0;
	int fd;

	tain_now(&stamp);
	tain_add(&dl, &stamp, &tain_infinite_relative);
	if (!s6_fdholder_start(&a, sock, &dl, &stamp))
		bench_die("connect to s6-fdholderd at %s: %s", sock, strerror(errno));
	while (bench_now() < deadline) {
		tain_now(&stamp);
		tain_add(&dl, &stamp, &tain_infinite_relative);
		fd = s6_fdholder_retrieve(&a, id, &dl, &stamp);
		if (fd < 0)
			bench_die("s6_fdholder_retrieve %s: %s", id, strerror(errno));
		close(fd);
		n++;
	}
	s6_fdholder_end(&a);
	return n;
}

/*
 * CLIENTS processes for dur_ns, each of which is connected before the
 * clock starts (they wait on a pipe); returns requests per second.
 */
static double
run(int s6, char **argv, uint64_t dur_ns)
{
	int go[2], res[2], i, st;
	uint64_t total = 0, n;
	pid_t pids[CLIENTS];

	if (pipe(go) < 0 || pipe(res) < 0)
		bench_die("pipe: %s", strerror(errno));
	for (i = 0; i < CLIENTS; i++) {
		if ((pids[i] = fork()) < 0)
			bench_die("fork: %s", strerror(errno));
		if (pids[i] == 0) {
			uint64_t start;
			char c;

			close(go[1]);
			close(res[0]);
			if (read(go[0], &c, 1) != 1)
				_exit(111);
			start = bench_now();
			n = s6 ? client_s6(argv[3], argv[4], start + dur_ns) :
			    client_sb(argv[1], argv[2], start + dur_ns);
			if (write(res[1], &n, sizeof(n)) != (ssize_t)sizeof(n))
				_exit(111);
			_exit(0);
		}
	}
	close(go[0]);
	close(res[1]);
	for (i = 0; i < CLIENTS; i++)
		if (write(go[1], "g", 1) != 1)
			bench_die("start the clients: %s", strerror(errno));
	for (i = 0; i < CLIENTS; i++) {
		if (read(res[0], &n, sizeof(n)) != (ssize_t)sizeof(n))
			bench_die("a client failed");
		total += n;
	}
	for (i = 0; i < CLIENTS; i++)
		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bench_die("a client failed");
	close(go[1]);
	close(res[0]);
	/* the clients' own start-up is outside: each counts for dur_ns from its go */
	return (double)total * 1e9 / (double)dur_ns;
}

int
main(int argc, char **argv)
{
	struct bench_samples a = { 0 }, b = { 0 }, ratios = { 0 };
	size_t rounds, r;
	uint64_t dur;
	char what[64];

	bench_prog = "bench-s6rate";
	if (argc != 5) {
		fprintf(stderr, "usage: bench-s6rate BROKER-ROOT NAME S6-SOCKET S6-ID\n");
		return 100;
	}
	rounds = bench_scaled(5, 2, 2);
	dur = bench_quick() ? 100000000u : 300000000u;
	run(0, argv, dur / 10);		/* warm up */
	run(1, argv, dur / 10);
	for (r = 0; r < rounds; r++) {
		double x, y;

		if (r % 2 == 0) {
			x = run(0, argv, dur);
			y = run(1, argv, dur);
		} else {
			y = run(1, argv, dur);
			x = run(0, argv, dur);
		}
		bench_add(&a, x);
		bench_add(&b, y);
		bench_add(&ratios, x / y);
	}
	snprintf(what, sizeof(what), "GET rate, %d clients, libraries, vs s6-fdholderd", CLIENTS);
	bench_compare_row("5", what, "req/s", &a, &b, &ratios, "%", ">= 150%", 1.5);
	bench_free(&a);
	bench_free(&b);
	bench_free(&ratios);
	return 0;
}
