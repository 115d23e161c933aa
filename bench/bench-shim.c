/* SPDX-License-Identifier: ISC */
/*
 * bench-shim.c: figures 1 and 2, the LD_PRELOAD shim.
 *
 * The shim is dlopen()ed (RTLD_LOCAL: nothing is interposed) and its
 * wrappers are called through dlsym, interleaved with the libc functions
 * in the same process, so that both sides of each ratio meet the same
 * noise. Its constructor runs at dlopen, as under LD_PRELOAD, in broker
 * mode on a sockbrokerd of our own.
 *
 *   1   passthrough: socket+connect+close(+accept) of a short path, shim vs libc
 *   2   rewritten connect of a 150-byte path (an over-long address, as a
 *       C program with a larger buffer passes it) vs a libc connect to
 *       its short path
 *   2b  bind of a 150-byte path in broker mode (the broker binds the
 *       program's socket, ADOPT, one round trip; the library makes the
 *       link; listen and unlink tell the broker without waiting) vs a
 *       libc bind+listen+unlink of a short path (goal 5x, issue 14)
 *   2c  the unlink of 2b alone (its bind and listen not timed) vs a libc
 *       unlink: the shim's own socket is released without a round trip
 *
 * Environment (from run-bench.sh): SB_SHIM, SOCKBROKERD, BENCH_DIR.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench.h"

struct big_sun {
	sa_family_t	family;
	char		path[512];
};

struct ctx {
	int		(*s_connect)(int, const struct sockaddr *, socklen_t);
	int		(*s_bind)(int, const struct sockaddr *, socklen_t);
	int		(*s_listen)(int, int);
	int		(*s_unlink)(const char *);
	struct sockaddr_un plain;	/* a short path, no shim entry */
	socklen_t	plain_len;
	struct sockaddr_un short_addr;	/* the short path of the long one */
	socklen_t	short_len;
	struct big_sun	long_addr;	/* the 150-byte path */
	socklen_t	long_len;
	char		long_path[512];
	struct big_sun	bind_addr;	/* a 150-byte path to bind */
	socklen_t	bind_len;
	char		bind_path[512];
	struct sockaddr_un nbind;	/* a short path to bind natively */
	socklen_t	nbind_len;
};

static socklen_t
fill_sun(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path, sizeof(a->sun_path), "%s", path);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1);
}

static socklen_t
fill_big(struct big_sun *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_UNIX;
	snprintf(a->path, sizeof(a->path), "%s", path);
	return (socklen_t)(offsetof(struct big_sun, path) + strlen(a->path) + 1);
}

/* The listeners; each call accepts its own connection (no second thread). */
static int lfd_plain = -1, lfd_long = -1;

static void
connect_close(int (*fn)(int, const struct sockaddr *, socklen_t), const void *addr,
    socklen_t len, int lfd)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), c;

	if (fd < 0 || fn(fd, addr, len) < 0)
		bench_die("connect: %s", strerror(errno));
	close(fd);
	if ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		bench_die("accept: %s", strerror(errno));
	close(c);
}

static void
f1_shim(void *arg)
{
	struct ctx *x = arg;

	connect_close(x->s_connect, &x->plain, x->plain_len, lfd_plain);
}

static void
f1_libc(void *arg)
{
	struct ctx *x = arg;

	connect_close(connect, &x->plain, x->plain_len, lfd_plain);
}

static void
f2_shim(void *arg)
{
	struct ctx *x = arg;

	connect_close(x->s_connect, &x->long_addr, x->long_len, lfd_long);
}

static void
f2_libc(void *arg)
{
	struct ctx *x = arg;

	connect_close(connect, &x->short_addr, x->short_len, lfd_long);
}

static void
f2b_shim(void *arg)
{
	struct ctx *x = arg;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || x->s_bind(fd, (struct sockaddr *)&x->bind_addr, x->bind_len) < 0)
		bench_die("shim bind: %s", strerror(errno));
	if (x->s_listen(fd, 4) < 0)
		bench_die("shim listen: %s", strerror(errno));
	close(fd);
	if (x->s_unlink(x->bind_path) < 0)
		bench_die("shim unlink: %s", strerror(errno));
}

static void	row_out(const char *fig, const char *what, const char *goal, double limit,
		    struct bench_samples *a, struct bench_samples *b, struct bench_samples *ratios);

/*
 * 2c: the unlink alone, after a bind and listen that are not timed. The
 * shim's unlink of its own socket sends the release and returns; the
 * broker's work for it is done before the next bind's answer (in 2b).
 */
static void
f2c(struct ctx *x, int shim, struct bench_samples *all, struct bench_samples *round,
    size_t n)
{
	const struct sockaddr *a = shim ? (struct sockaddr *)&x->bind_addr :
	    (struct sockaddr *)&x->nbind;
	socklen_t len = shim ? x->bind_len : x->nbind_len;
	const char *path = shim ? x->bind_path : x->nbind.sun_path;
	size_t i;

	for (i = 0; i < n; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;
		uint64_t t0;

		if (fd < 0 || (shim ? x->s_bind(fd, a, len) : bind(fd, a, len)) < 0 ||
		    (shim ? x->s_listen(fd, 4) : listen(fd, 4)) < 0)
			bench_die("bind: %s", strerror(errno));
		t0 = bench_now();
		r = shim ? x->s_unlink(path) : unlink(path);
		t0 = bench_now() - t0;
		if (r < 0)
			bench_die("unlink: %s", strerror(errno));
		close(fd);
		if (all != NULL) {
			bench_add(all, (double)t0);
			bench_add(round, (double)t0);
		}
	}
}

static void
fig2c(struct ctx *x, size_t rounds, size_t per_round)
{
	struct bench_samples a = { 0 }, b = { 0 }, ratios = { 0 }, ra = { 0 }, rb = { 0 };
	size_t r;

	f2c(x, 1, NULL, NULL, per_round / 4 + 1);
	f2c(x, 0, NULL, NULL, per_round / 4 + 1);
	for (r = 0; r < rounds; r++) {
		ra.n = rb.n = 0;
		if (r % 2 == 0) {
			f2c(x, 1, &a, &ra, per_round);
			f2c(x, 0, &b, &rb, per_round);
		} else {
			f2c(x, 0, &b, &rb, per_round);
			f2c(x, 1, &a, &ra, per_round);
		}
		bench_add(&ratios, bench_median(&ra) / bench_median(&rb));
	}
	row_out("2c", "unlink of its bound 150 B path, broker vs native", "<= 5x", 5.0,
	    &a, &b, &ratios);
	bench_free(&a); bench_free(&b); bench_free(&ratios); bench_free(&ra); bench_free(&rb);
}

static void
f2b_libc(void *arg)
{
	struct ctx *x = arg;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&x->nbind, x->nbind_len) < 0)
		bench_die("bind: %s", strerror(errno));
	if (listen(fd, 4) < 0)
		bench_die("listen: %s", strerror(errno));
	close(fd);
	if (unlink(x->nbind.sun_path) < 0)
		bench_die("unlink: %s", strerror(errno));
}

static void
row_out(const char *fig, const char *what, const char *goal, double limit,
    struct bench_samples *a, struct bench_samples *b, struct bench_samples *ratios)
{
	struct bench_row row;

	memset(&row, 0, sizeof(row));
	row.fig = fig;
	row.what = what;
	row.unit = "us";
	row.iters = a->n;
	bench_fill(a, &row.med, &row.lo, &row.hi);
	row.has_base = 1;
	bench_fill(b, &row.bmed, &row.blo, &row.bhi);
	row.ratio = row.med / row.bmed;
	row.ratio_lo = bench_quantile(ratios, 0.1);
	row.ratio_hi = bench_quantile(ratios, 0.9);
	row.ratio_fmt = "x";
	row.goal = goal;
	/* "within noise": under the limit, or 1.0 inside the per-round spread */
	row.verdict = limit <= 0 ? "-" : row.ratio <= limit ? "pass" :
	    (limit < 1.2 && row.ratio_lo <= 1.0 && 1.0 <= row.ratio_hi) ? "noise" : "MISS";
	bench_print_row(&row);
}

int
main(void)
{
	const char *shim = getenv("SB_SHIM"), *brokerd = getenv("SOCKBROKERD"),
	    *dir = getenv("BENCH_DIR");
	struct bench_samples a = { 0 }, b = { 0 }, ratios = { 0 };
	char root[256], path[512], sub[300];
	struct ctx x;
	void *h;
	pid_t broker;
	size_t rounds;
	int lplain, llong, fd;

	bench_prog = "bench-shim";
	if (shim == NULL || brokerd == NULL || dir == NULL)
		bench_die("run me through make bench (SB_SHIM, SOCKBROKERD, BENCH_DIR)");
	memset(&x, 0, sizeof(x));
	snprintf(root, sizeof(root), "%s/shim-root", dir);
	broker = bench_broker_start(brokerd, root, NULL, NULL);

	/* the shim, as a program would get it, in broker mode on our broker */
	setenv("SOCKBROKER_ROOT", root, 1);
	setenv("SOCKBROKER_MODE", "broker", 1);
	unsetenv("SOCKBROKER_DEBUG");
	if ((h = dlopen(shim, RTLD_NOW | RTLD_LOCAL)) == NULL)
		bench_die("load the shim: %s", dlerror());
	if ((x.s_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(h, "connect")) == NULL ||
	    (x.s_bind = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(h, "bind")) == NULL ||
	    (x.s_listen = (int (*)(int, int))dlsym(h, "listen")) == NULL ||
	    (x.s_unlink = (int (*)(const char *))dlsym(h, "unlink")) == NULL)
		bench_die("the shim lacks a symbol");

	/* a short path nobody rewrites */
	snprintf(path, sizeof(path), "%s/plain.sock", dir);
	x.plain_len = fill_sun(&x.plain, path);
	lplain = bench_listen_unix(path, SOCK_STREAM);

	/* a 150-byte path, bound through the shim (the broker prepares it) */
	snprintf(sub, sizeof(sub), "%s/%0120d", dir, 0);
	if (mkdir(sub, 0755) < 0 && errno != EEXIST)
		bench_die("mkdir %s: %s", sub, strerror(errno));
	snprintf(x.long_path, sizeof(x.long_path), "%s/long-%0*d.sock", sub,
	    (int)(150 > strlen(sub) + 11 ? 150 - strlen(sub) - 11 : 1), 0);
	x.long_len = fill_big(&x.long_addr, x.long_path);
	if ((llong = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    x.s_bind(llong, (struct sockaddr *)&x.long_addr, x.long_len) < 0 ||
	    x.s_listen(llong, SOMAXCONN) < 0)
		bench_die("bind %s through the shim: %s", x.long_path, strerror(errno));
	{
		struct sockaddr_un sa;
		socklen_t l = sizeof(sa);

		if (getsockname(llong, (struct sockaddr *)&sa, &l) < 0)
			bench_die("getsockname");
		x.short_len = fill_sun(&x.short_addr, sa.sun_path);
	}
	lfd_plain = lplain;
	lfd_long = llong;

	/* a second long path for the bind figure; a short one for libc */
	snprintf(x.bind_path, sizeof(x.bind_path), "%s/bind-%0*d.sock", sub,
	    (int)(150 > strlen(sub) + 11 ? 150 - strlen(sub) - 11 : 1), 0);
	x.bind_len = fill_big(&x.bind_addr, x.bind_path);
	snprintf(path, sizeof(path), "%s/nbind.sock", dir);
	x.nbind_len = fill_sun(&x.nbind, path);
	unlink(path);

	rounds = bench_scaled(40, 8, 5);
	bench_interleave(rounds, 200, f1_shim, f1_libc, &x, &a, &b, &ratios);
	row_out("1", "passthrough connect+close, shim vs none", "within noise", 1.10,
	    &a, &b, &ratios);
	bench_free(&a); bench_free(&b); bench_free(&ratios);

	bench_interleave(rounds, 200, f2_shim, f2_libc, &x, &a, &b, &ratios);
	row_out("2", "connect 150 B path via shim vs short native", "<= 1.5x", 1.5,
	    &a, &b, &ratios);
	bench_free(&a); bench_free(&b); bench_free(&ratios);

	bench_interleave(rounds, 50, f2b_shim, f2b_libc, &x, &a, &b, &ratios);
	row_out("2b", "bind+listen+unlink 150 B path, broker vs native", "<= 5x", 5.0,
	    &a, &b, &ratios);
	bench_free(&a); bench_free(&b); bench_free(&ratios);

	fig2c(&x, rounds, 50);

	fd = bench_broker_stop(broker);
	(void)fd;
	return 0;
}
