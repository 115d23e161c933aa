/* SPDX-License-Identifier: ISC */
/*
 * bench-exec.c: whole-process timing of two commands, alternating in
 * rounds (hyperfine runs one command's batch after the other's; here
 * noise hits both the same). Each run is posix_spawnp + waitpid, and must
 * exit 0.
 *
 * usage: bench-exec [--faults] FIG WHAT MAX-RATIO ITERATIONS CMD-A... ::: CMD-B...
 *        bench-exec --header
 * A command may start with NAME=VALUE words: they are added to that
 * command's environment only (so that, say, LD_LIBRARY_PATH for an
 * uninstalled program does not slow the other one down).
 * Prints one row: CMD-A measured, CMD-B the baseline, pass if the ratio
 * of the medians is <= MAX-RATIO. --faults adds a row of the page faults
 * of each process (minor and major, from wait4's rusage), information
 * only: a count that does not move with the load of the machine.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

struct cmd {
	char	**argv;
	char	**envp;
	struct bench_samples faults;	/* of every run, warm-up included */
};

struct ctx {
	struct cmd a, b;
};

/* Split leading NAME=VALUE words of argv into an environment. */
static void
cmd_init(struct cmd *c, char **argv)
{
	size_t nenv = 0, nvars = 0, i;

	while (argv[nvars] != NULL && strchr(argv[nvars], '=') != NULL &&
	    argv[nvars][0] != '=' && argv[nvars][0] != '/')
		nvars++;
	while (environ[nenv] != NULL)
		nenv++;
	if ((c->envp = calloc(nenv + nvars + 1, sizeof(char *))) == NULL)
		bench_die("allocate an environment");
	for (i = 0; i < nvars; i++)
		c->envp[i] = argv[i];
	for (i = 0; i < nenv; i++)
		c->envp[nvars + i] = environ[i];
	c->argv = argv + nvars;
	if (c->argv[0] == NULL)
		bench_die("find a command after the variables");
}

static void
spawn(struct cmd *c)
{
	char **argv = c->argv;
	struct rusage ru;
	pid_t pid;
	int st, r;

	if ((r = posix_spawnp(&pid, argv[0], NULL, NULL, argv, c->envp)) != 0)
		bench_die("run %s: %s", argv[0], strerror(r));
	while (wait4(pid, &st, 0, &ru) < 0)
		if (errno != EINTR)
			bench_die("wait for %s: %s", argv[0], strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		bench_die("run %s: it exited with status 0x%x", argv[0], st);
	bench_add(&c->faults, (double)(ru.ru_minflt + ru.ru_majflt));
}

/*
 * The faults row: bench_interleave ran per/4+1 warm-up runs of each, then
 * rounds of per of each; the per-round ratios of the medians.
 */
static void
faults_row(const char *fig, const char *what, struct ctx *x, size_t rounds, size_t per)
{
	struct bench_samples a = { 0 }, b = { 0 }, ratios = { 0 }, ra = { 0 }, rb = { 0 };
	size_t warm = per / 4 + 1, r, i;
	struct bench_row row;
	char w[96];

	for (r = 0; r < rounds; r++) {
		ra.n = rb.n = 0;
		for (i = 0; i < per; i++) {
			size_t k = warm + r * per + i;

			if (k < x->a.faults.n)
				bench_add(&ra, x->a.faults.v[k]);
			if (k < x->b.faults.n)
				bench_add(&rb, x->b.faults.v[k]);
		}
		for (i = 0; i < ra.n; i++)
			bench_add(&a, ra.v[i]);
		for (i = 0; i < rb.n; i++)
			bench_add(&b, rb.v[i]);
		if (ra.n && rb.n)
			bench_add(&ratios, bench_median(&ra) / bench_median(&rb));
	}
	snprintf(w, sizeof(w), "%.38s, faults", what);
	memset(&row, 0, sizeof(row));
	row.fig = fig;
	row.what = w;
	row.unit = "faults";
	row.iters = a.n;
	bench_fill(&a, &row.med, &row.lo, &row.hi);
	row.has_base = 1;
	bench_fill(&b, &row.bmed, &row.blo, &row.bhi);
	row.ratio = row.bmed > 0 ? row.med / row.bmed : -1;
	row.ratio_lo = ratios.n ? bench_quantile(&ratios, 0.1) : -1;
	row.ratio_hi = ratios.n ? bench_quantile(&ratios, 0.9) : -1;
	row.ratio_fmt = "x";
	row.goal = "(info)";
	row.verdict = "-";
	bench_print_row(&row);
	bench_free(&a);
	bench_free(&b);
	bench_free(&ra);
	bench_free(&rb);
	bench_free(&ratios);
}

static void
run_a(void *arg)
{
	spawn(&((struct ctx *)arg)->a);
}

static void
run_b(void *arg)
{
	spawn(&((struct ctx *)arg)->b);
}

int
main(int argc, char **argv)
{
	struct bench_samples a = { 0 }, b = { 0 }, ratios = { 0 };
	struct ctx x;
	double max_ratio;
	char goal[32];
	size_t iters, per = 10;
	int i, faults = 0;

	bench_prog = "bench-exec";
	if (argc == 2 && strcmp(argv[1], "--header") == 0) {
		bench_print_header();
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--faults") == 0) {
		faults = 1;
		argv++;
		argc--;
	}
	if (argc < 8) {
		fprintf(stderr, "usage: bench-exec [--faults] FIG WHAT MAX-RATIO ITERATIONS CMD-A... ::: CMD-B...\n");
		return 100;
	}
	max_ratio = strtod(argv[3], NULL);
	iters = (size_t)strtoul(argv[4], NULL, 10);
	for (i = 5; i < argc && strcmp(argv[i], ":::") != 0; i++)
		;
	if (i >= argc - 1 || i == 5) {
		fprintf(stderr, "usage: bench-exec [--faults] FIG WHAT MAX-RATIO ITERATIONS CMD-A... ::: CMD-B...\n");
		return 100;
	}
	argv[i] = NULL;
	memset(&x, 0, sizeof(x));
	cmd_init(&x.a, argv + 5);
	cmd_init(&x.b, argv + i + 1);
	if (iters < per)
		iters = per;

	bench_interleave(iters / per, per, run_a, run_b, &x, &a, &b, &ratios);

	snprintf(goal, sizeof(goal), "<= %.2fx", max_ratio);
	bench_compare_row(argv[1], argv[2], "ms", &a, &b, &ratios, "x", goal, max_ratio);
	if (faults)
		faults_row(argv[1], argv[2], &x, iters / per, per);
	return 0;
}
