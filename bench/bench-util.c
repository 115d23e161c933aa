/* SPDX-License-Identifier: ISC */
/*
 * bench-util.c: clocks, statistics, the table row, starting the broker.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

const char *bench_prog = "bench";

void
bench_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: fatal: unable to ", bench_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(111);
}

uint64_t
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
bench_add(struct bench_samples *s, double v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		double *nv = realloc(s->v, cap * sizeof(*nv));

		if (nv == NULL)
			bench_die("allocate samples");
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = v;
}

void
bench_free(struct bench_samples *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double
bench_quantile(struct bench_samples *s, double q)
{
	double pos, frac;
	size_t i;

	if (s->n == 0)
		return 0;
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	pos = q * (double)(s->n - 1);
	i = (size_t)pos;
	frac = pos - (double)i;
	if (i + 1 >= s->n)
		return s->v[s->n - 1];
	return s->v[i] * (1 - frac) + s->v[i + 1] * frac;
}

void
bench_fill(struct bench_samples *s, double *med, double *lo, double *hi)
{
	*med = bench_quantile(s, 0.5);
	*lo = bench_quantile(s, 0.1);
	*hi = bench_quantile(s, 0.9);
}

int
bench_quick(void)
{
	const char *q = getenv("BENCH_QUICK");

	return q != NULL && *q != '\0' && strcmp(q, "0") != 0;
}

size_t
bench_scaled(size_t n, size_t div, size_t min)
{
	if (!bench_quick())
		return n;
	n /= div;
	return n < min ? min : n;
}

/* One value in the unit of the row, into buf. */
static void
fmt_value(char *buf, size_t size, const char *unit, double v)
{
	if (strcmp(unit, "us") == 0)
		snprintf(buf, size, "%.1f", v / 1e3);
	else if (strcmp(unit, "ms") == 0)
		snprintf(buf, size, "%.2f", v / 1e6);
	else if (strcmp(unit, "req/s") == 0)
		snprintf(buf, size, "%.1fk", v / 1e3);
	else
		snprintf(buf, size, "%.0f", v);
}

/* "median (p10-p90) unit" */
static void
fmt_stat(char *buf, size_t size, const char *unit, double med, double lo, double hi)
{
	char m[24], l[24], h[24];

	fmt_value(m, sizeof(m), unit, med);
	fmt_value(l, sizeof(l), unit, lo);
	fmt_value(h, sizeof(h), unit, hi);
	snprintf(buf, size, "%s %s (%s-%s)", m, unit, l, h);
}

void
bench_print_header(void)
{
	printf("%-4s %-46s %7s  %-28s %-28s %-22s %-8s %s\n", "fig", "what (measured vs baseline)",
	    "iters", "median (p10-p90)", "baseline median (p10-p90)", "ratio (per round)",
	    "goal", "result");
}

void
bench_print_row(const struct bench_row *r)
{
	char m[128], b[128], ratio[64];
	int pct = r->ratio_fmt != NULL && strcmp(r->ratio_fmt, "%") == 0;

	fmt_stat(m, sizeof(m), r->unit, r->med, r->lo, r->hi);
	if (r->has_base)
		fmt_stat(b, sizeof(b), r->unit, r->bmed, r->blo, r->bhi);
	else
		snprintf(b, sizeof(b), "-");
	if (r->ratio < 0)
		snprintf(ratio, sizeof(ratio), "-");
	else if (pct && r->ratio_lo >= 0)
		snprintf(ratio, sizeof(ratio), "%.0f%% (%.0f-%.0f)", r->ratio * 100,
		    r->ratio_lo * 100, r->ratio_hi * 100);
	else if (pct)
		snprintf(ratio, sizeof(ratio), "%.0f%%", r->ratio * 100);
	else if (r->ratio_lo >= 0)
		snprintf(ratio, sizeof(ratio), "%.2fx (%.2f-%.2f)", r->ratio, r->ratio_lo, r->ratio_hi);
	else
		snprintf(ratio, sizeof(ratio), "%.2fx", r->ratio);
	printf("%-4s %-46s %7zu  %-28s %-28s %-22s %-8s %s\n", r->fig, r->what, r->iters, m, b,
	    ratio, r->goal ? r->goal : "-", r->verdict ? r->verdict : "-");
	fflush(stdout);
}

void
bench_compare_row(const char *fig, const char *what, const char *unit, struct bench_samples *a,
    struct bench_samples *b, struct bench_samples *ratios, const char *ratio_fmt,
    const char *goal, double limit)
{
	struct bench_row row;
	int pass;

	memset(&row, 0, sizeof(row));
	row.fig = fig;
	row.what = what;
	row.unit = unit;
	row.iters = a->n;
	bench_fill(a, &row.med, &row.lo, &row.hi);
	row.has_base = 1;
	bench_fill(b, &row.bmed, &row.blo, &row.bhi);
	row.ratio = row.med / row.bmed;
	row.ratio_lo = bench_quantile(ratios, 0.1);
	row.ratio_hi = bench_quantile(ratios, 0.9);
	row.ratio_fmt = ratio_fmt;
	row.goal = goal;
	pass = strcmp(ratio_fmt, "%") == 0 ? row.ratio >= limit : row.ratio <= limit;
	row.verdict = pass ? "pass" : "MISS";
	bench_print_row(&row);
}

void
bench_nofile(unsigned long n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur >= n)
		return;
	if (rl.rlim_max < n) {
		struct rlimit want = { n, n };

		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return;
		n = rl.rlim_max;
	}
	rl.rlim_cur = n;
	setrlimit(RLIMIT_NOFILE, &rl);
}

pid_t
bench_broker_spawn(const char *path, const char *root, int ready_fd,
    void (*child_setup)(void *), void *arg, uint64_t *ret_ready_ns)
{
	/* room for figure 6's million entries and its probes above the default */
	char *argv[] = { (char *)path, (char *)"--root", (char *)root, (char *)"--ready-fd",
	    NULL, (char *)"--max-entries", (char *)"2000000", NULL };
	char fdbuf[16], logpath[300];
	struct pollfd pfd;
	uint64_t t0;
	int p[2], r;
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		bench_die("make a pipe");
	snprintf(fdbuf, sizeof(fdbuf), "%d", ready_fd);
	argv[4] = fdbuf;
	snprintf(logpath, sizeof(logpath), "%s.log", root);
	t0 = bench_now();
	pid = fork();
	if (pid < 0)
		bench_die("fork");
	if (pid == 0) {
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGTERM);	/* never outlive the benchmark */
		/* the pipe out of the way of child_setup, then at ready_fd, inherited */
		if ((fd = fcntl(p[1], F_DUPFD_CLOEXEC, ready_fd + 1)) < 0)
			_exit(111);
		if (child_setup != NULL)
			child_setup(arg);
		if (dup2(fd, ready_fd) < 0)
			_exit(111);
		if (getenv("BENCH_BROKER_VERBOSE") == NULL) {
			int lf = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

			if (lf >= 0)
				dup2(lf, 2);
		}
		execv(path, argv);
		_exit(127);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	do
		r = poll(&pfd, 1, 300000);
	while (r < 0 && errno == EINTR);
	if (r <= 0 || read(p[0], &c, 1) != 1 || c != '\n') {
		char tail[256] = "";
		FILE *f;

		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if ((f = fopen(logpath, "r")) != NULL) {
			char line[256];

			while (fgets(line, sizeof(line), f) != NULL)
				if (line[0] != '\n')
					snprintf(tail, sizeof(tail), "%s", line);
			fclose(f);
			tail[strcspn(tail, "\n")] = '\0';
		}
		bench_die("start %s --root %s: it never reported readiness (%s)", path, root,
		    tail[0] ? tail : "no message");
	}
	if (ret_ready_ns != NULL)
		*ret_ready_ns = bench_now() - t0;
	close(p[0]);
	return pid;
}

pid_t
bench_broker_start(const char *path, const char *root, char *const *extra_argv,
    uint64_t *ret_ready_ns)
{
	if (extra_argv != NULL && extra_argv[0] != NULL)
		bench_die("pass options to %s: not supported", path);
	return bench_broker_spawn(path, root, 3, NULL, NULL, ret_ready_ns);
}

int
bench_broker_stop(pid_t pid)
{
	int st = 0;

	kill(pid, SIGTERM);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

long
bench_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

ssize_t
bench_recv_fd(int sock, void *buf, size_t cap, int *ret_fd)
{
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct iovec iov = { buf, cap };
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;

	*ret_fd = -1;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf.buf;
	mh.msg_controllen = sizeof(cbuf.buf);
	if ((n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0)
		return -1;
	cm = CMSG_FIRSTHDR(&mh);
	if (cm != NULL && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(ret_fd, CMSG_DATA(cm), sizeof(int));
	return n;
}

int
bench_listen_unix(const char *path, int type)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		bench_die("bind %s: path too long", path);
	strcpy(sun.sun_path, path);
	unlink(path);
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 1024) < 0)
		bench_die("bind and listen on %s: %s", path, strerror(errno));
	return fd;
}

void
bench_interleave(size_t rounds, size_t per_round, bench_fn fa, bench_fn fb, void *ctx,
    struct bench_samples *a, struct bench_samples *b, struct bench_samples *ratios)
{
	struct bench_samples ra = { 0 }, rb = { 0 };
	size_t r, i, k;

	for (i = 0; i < per_round / 4 + 1; i++) {	/* warm up both */
		fa(ctx);
		fb(ctx);
	}
	for (r = 0; r < rounds; r++) {
		for (k = 0; k < 2; k++) {
			/* alternate which goes first, so that neither always follows the other */
			int first_a = ((r + k) % 2) == 0;
			bench_fn f = first_a ? fa : fb;
			struct bench_samples *all = first_a ? a : b, *rs = first_a ? &ra : &rb;

			rs->n = 0;
			for (i = 0; i < per_round; i++) {
				uint64_t t0 = bench_now();

				f(ctx);
				t0 = bench_now() - t0;
				bench_add(all, (double)t0);
				bench_add(rs, (double)t0);
			}
		}
		bench_add(ratios, bench_median(&ra) / bench_median(&rb));
	}
	bench_free(&ra);
	bench_free(&rb);
}
