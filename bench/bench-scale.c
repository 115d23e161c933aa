/*
 * bench-scale.c: figure 6. sockbrokerd holding 1,000, 10,000 and 100,000
 * entries (socket entries, lifetime hold, each with a listening socket):
 * - bind, get and release latency of probe requests made once the table
 *   is full (flat: compared with the same at 1,000 entries);
 * - broker RSS per entry: VmRSS after filling minus VmRSS before, over N;
 * - the time of one LIST of every entry;
 * - start-to-READY with that state: SIGTERM, start again on the same root,
 *   time from fork+exec to the "\n" on --ready-fd, against a start on an
 *   empty root.
 *
 * usage: bench-scale SOCKBROKERD DIR [N...]
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "sockbroker.h"

static const char *broker_path;

/* Medians at the smallest size: the baselines of "flat". */
static double base_bind, base_get, base_release;

static sb_client *
client(const char *root)
{
	sb_client *c;
	int r;

	if ((r = sb_client_open(root, &c)) < 0)
		bench_die("connect to sockbrokerd on %s: %s", root, sb_strerror(r));
	return c;
}

static void
do_bind(sb_client *c, const char *key)
{
	struct sb_bind_opts o = SB_BIND_OPTS_INIT;
	int r;

	o.flags = SB_BIND_F_LISTEN;
	o.lifetime = SB_LIFETIME_HOLD;
	if ((r = sb_bind(c, key, &o, NULL, NULL, 0)) < 0)
		bench_die("bind %s: %s: %s", key, sb_strerror(r), sb_client_message(c));
}

static int
count_cb(const struct sb_entry_info *e, void *arg)
{
	(*(size_t *)arg)++;
	return 0;
}

/* Print a latency row; base 0 means "this is the baseline size". */
static void
latency_row(const char *what, size_t n, struct bench_samples *s, double *base)
{
	struct bench_row row;
	char buf[80];

	memset(&row, 0, sizeof(row));
	row.fig = "6";
	snprintf(buf, sizeof(buf), "%s, %zu entries vs smallest", what, n);
	row.what = buf;
	row.unit = "us";
	row.iters = s->n;
	bench_fill(s, &row.med, &row.lo, &row.hi);
	row.ratio_lo = -1;
	row.ratio_fmt = "x";
	row.goal = "<= 1.5x";
	if (*base == 0) {
		*base = row.med;
		row.ratio = 1.0;
		row.verdict = "-";
	} else {
		row.ratio = row.med / *base;
		row.verdict = row.ratio <= 1.5 ? "pass" : "MISS";
	}
	bench_print_row(&row);
}

static void
scale(const char *dir, size_t n)
{
	struct bench_samples sb = { 0 }, sg = { 0 }, sr = { 0 }, sl = { 0 }, s0 = { 0 }, s1 = { 0 };
	char root[256], key[64], what[80];
	struct bench_row row;
	uint64_t t, ready;
	size_t i, m, listed, reps;
	long rss0, rss1;
	sb_client *c;
	pid_t pid;
	int r, fd, st;

	snprintf(root, sizeof(root), "%s/scale%zu", dir, n);
	mkdir(root, 0755);
	snprintf(root, sizeof(root), "%s/scale%zu/root", dir, n);
	bench_nofile(n + 8192);

	/* empty-root starts: the baseline of start-to-READY */
	for (i = 0; i < 3; i++) {
		pid = bench_broker_start(broker_path, root, NULL, &ready);
		bench_add(&s0, (double)ready);
		bench_broker_stop(pid);
	}
	pid = bench_broker_start(broker_path, root, NULL, NULL);
	c = client(root);
	{
		struct sb_status stt;

		sb_status(c, &stt);	/* one request served before the first measure */
	}
	rss0 = bench_rss_kib(pid);
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "entry-%07zu", i);
		do_bind(c, key);
	}
	rss1 = bench_rss_kib(pid);

	m = bench_scaled(2000, 4, 200);
	if (m > n)
		m = n;
	srandom(1);
	for (i = 0; i < m; i++) {
		snprintf(key, sizeof(key), "probe-%07zu", i);
		t = bench_now();
		do_bind(c, key);
		bench_add(&sb, (double)(bench_now() - t));

		snprintf(key, sizeof(key), "entry-%07zu", (size_t)random() % n);
		t = bench_now();
		if ((r = sb_get(c, key, &fd)) < 0)
			bench_die("get %s: %s", key, sb_strerror(r));
		close(fd);
		bench_add(&sg, (double)(bench_now() - t));
	}
	for (i = 0; i < m; i++) {
		snprintf(key, sizeof(key), "probe-%07zu", i);
		t = bench_now();
		if ((r = sb_release(c, key)) < 0)
			bench_die("release %s: %s", key, sb_strerror(r));
		bench_add(&sr, (double)(bench_now() - t));
	}
	latency_row("bind", n, &sb, &base_bind);
	latency_row("get", n, &sg, &base_get);
	latency_row("release", n, &sr, &base_release);

	memset(&row, 0, sizeof(row));
	row.fig = "6";
	snprintf(what, sizeof(what), "broker RSS per entry, %zu entries", n);
	row.what = what;
	row.unit = "B";
	row.iters = n;
	row.med = row.lo = row.hi = rss0 < 0 || rss1 < 0 ? -1 : (double)(rss1 - rss0) * 1024 / (double)n;
	row.ratio = -1;
	row.goal = "< 1024 B";
	row.verdict = row.med >= 0 && row.med < 1024 ? "pass" : "MISS";
	bench_print_row(&row);

	reps = n >= 100000 ? 2 : 5;
	for (i = 0; i < reps; i++) {
		listed = 0;
		t = bench_now();
		if ((r = sb_list(c, count_cb, &listed)) < 0)
			bench_die("list: %s", sb_strerror(r));
		bench_add(&sl, (double)(bench_now() - t));
		if (listed != n)
			bench_die("list: %zu entries, expected %zu", listed, n);
	}
	memset(&row, 0, sizeof(row));
	row.fig = "6";
	snprintf(what, sizeof(what), "list all, %zu entries", n);
	row.what = what;
	row.unit = "ms";
	row.iters = sl.n;
	bench_fill(&sl, &row.med, &row.lo, &row.hi);
	row.ratio = -1;
	bench_print_row(&row);
	sb_client_close(c);

	/* restart with the state */
	st = bench_broker_stop(pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(stderr, "bench-scale: sockbrokerd exited with status 0x%x on SIGTERM\n", st);
	reps = n >= 100000 ? 2 : 3;
	for (i = 0; i < reps; i++) {
		pid = bench_broker_start(broker_path, root, NULL, &ready);
		bench_add(&s1, (double)ready);
		if (i == reps - 1) {
			c = client(root);
			snprintf(key, sizeof(key), "entry-%07zu", n - 1);
			r = sb_get(c, key, &fd);
			if (r < 0)
				fprintf(stderr, "bench-scale: after a restart, get %s: %s\n", key,
				    sb_strerror(r));
			else
				close(fd);
			sb_client_close(c);
		}
		bench_broker_stop(pid);
	}
	memset(&row, 0, sizeof(row));
	row.fig = "6";
	snprintf(what, sizeof(what), "start-to-READY, %zu entries vs empty", n);
	row.what = what;
	row.unit = "ms";
	row.iters = s1.n;
	bench_fill(&s1, &row.med, &row.lo, &row.hi);
	row.has_base = 1;
	bench_fill(&s0, &row.bmed, &row.blo, &row.bhi);
	row.ratio = row.med / row.bmed;
	row.ratio_lo = -1;
	row.ratio_fmt = "x";
	bench_print_row(&row);

	bench_free(&sb);
	bench_free(&sg);
	bench_free(&sr);
	bench_free(&sl);
	bench_free(&s0);
	bench_free(&s1);
}

int
main(int argc, char **argv)
{
	int i;

	bench_prog = "bench-scale";
	if (argc < 4) {
		fprintf(stderr, "usage: bench-scale SOCKBROKERD DIR N...\n");
		return 100;
	}
	broker_path = argv[1];
	for (i = 3; i < argc; i++)
		scale(argv[2], (size_t)strtoul(argv[i], NULL, 10));
	return 0;
}
