/* SPDX-License-Identifier: ISC */
/*
 * bench.h: what the benchmark programs share: clocks, statistics, one
 * table row format, and starting sockbrokerd with its readiness fd.
 *
 * Every figure is a ratio of two things measured in the same run,
 * interleaved in rounds so that the noise of a shared machine hits both.
 */
#ifndef SB_BENCH_H
#define SB_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Monotonic time in nanoseconds. */
uint64_t	 bench_now(void);

/* Samples of one measured thing. */
struct bench_samples {
	double		*v;
	size_t		 n, cap;
};
void		 bench_add(struct bench_samples *s, double v);
void		 bench_free(struct bench_samples *s);
/* The q-quantile (0..1) of the samples (sorts them); 0 if none. */
double		 bench_quantile(struct bench_samples *s, double q);
#define bench_median(s)	bench_quantile((s), 0.5)

/* BENCH_QUICK=1 in the environment: a short smoke run. */
int		 bench_quick(void);
/* n, or n / div (at least min) in quick mode. */
size_t		 bench_scaled(size_t n, size_t div, size_t min);

/*
 * Print one row of the table. Times are in nanoseconds (unit "us" prints
 * microseconds, "ms" milliseconds); unit "req/s" prints rates and "B"
 * bytes. base may be NULL (no baseline). ratio_lo/ratio_hi is the spread
 * of the per-round ratios (negative: not printed). goal is text such as
 * "<= 2.0x"; verdict "pass", "MISS", or "-" (informational).
 */
struct bench_row {
	const char	*fig;
	const char	*what;
	const char	*unit;
	size_t		 iters;		/* samples behind each median */
	double		 med, lo, hi;	/* measured: median, p10, p90 */
	int		 has_base;
	double		 bmed, blo, bhi;
	double		 ratio, ratio_lo, ratio_hi;
	const char	*ratio_fmt;	/* "x" or "%" */
	const char	*goal;
	const char	*verdict;
};
void		 bench_print_row(const struct bench_row *r);
void		 bench_print_header(void);
/*
 * The row of a comparison: a (measured) against b (baseline), with the
 * per-round ratios. ratio_fmt "x": pass if the ratio is <= limit; "%":
 * pass if it is >= limit (rates). goal is the text of the limit.
 */
void		 bench_compare_row(const char *fig, const char *what, const char *unit,
		    struct bench_samples *a, struct bench_samples *b,
		    struct bench_samples *ratios, const char *ratio_fmt, const char *goal,
		    double limit);
/* Fill med/lo/hi (or bmed/blo/bhi) from samples. */
void		 bench_fill(struct bench_samples *s, double *med, double *lo, double *hi);

/*
 * Time fa and fb alternately: rounds rounds of per_round calls of each
 * (which one goes first alternates), after a warm-up. Every call's time
 * (ns) goes to a or b; the ratio of the two medians of each round to
 * ratios.
 */
typedef void (*bench_fn)(void *ctx);
void		 bench_interleave(size_t rounds, size_t per_round, bench_fn fa, bench_fn fb,
		    void *ctx, struct bench_samples *a, struct bench_samples *b,
		    struct bench_samples *ratios);

/* Raise RLIMIT_NOFILE (soft and, if allowed, hard) to at least n. */
void		 bench_nofile(unsigned long n);

/*
 * Start sockbrokerd (path) on root with --ready-fd and wait for its "\n";
 * its stderr goes to ROOT.log. extra_argv must be NULL or empty (kept for
 * callers). Returns the pid; *ret_ready_ns (if not NULL) is the time from
 * fork to readiness. Exits the benchmark with a message on failure. The
 * broker gets SIGTERM if the benchmark dies.
 */
pid_t		 bench_broker_start(const char *path, const char *root,
		    char *const *extra_argv, uint64_t *ret_ready_ns);
/*
 * The same with the readiness fd at ready_fd, and child_setup(arg) run in
 * the child before exec (to place inherited fds, set the environment).
 */
pid_t		 bench_broker_spawn(const char *path, const char *root, int ready_fd,
		    void (*child_setup)(void *), void *arg, uint64_t *ret_ready_ns);
/* SIGTERM and reap; returns the exit status (waitpid form). */
int		 bench_broker_stop(pid_t pid);
/* VmRSS of pid in KiB, or -1. */
long		 bench_rss_kib(pid_t pid);

/* "prog: fatal: unable to ..." and exit 111 */
void		 bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
extern const char *bench_prog;

/* recvmsg one message into buf and the one fd that came with it (else -1). */
ssize_t		 bench_recv_fd(int sock, void *buf, size_t cap, int *ret_fd);

/* Bind a listening SOCK_STREAM unix socket at path (unlinked first). */
int		 bench_listen_unix(const char *path, int type);

#endif
