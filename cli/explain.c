/* SPDX-License-Identifier: ISC */
/*
 * explain.c: sockbroker explain [--mode broker|direct] [--] CMD [ARG...]
 *
 * What the shim (or sockbroker exec) would do with CMD's arguments: the
 * rules that apply to CMD and where they come from, each socket path it
 * would rewrite with the short path, the role and the rule, each
 * over-long argument it would leave alone and why, and the command line
 * CMD would get. Nothing is run, no broker is asked: in broker mode the
 * short path is a pure function of the root and the long path; in direct
 * mode it is /proc/self/fd/N/<basename> of a directory fd not yet open.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "rewrite.h"
#include "sockbroker.h"

static const char explain_usage[] =
    "usage: sockbroker [--root DIR] explain [--mode broker|direct] [--] CMD [ARG...]\n";

struct explain {
	const char	*root;
	int		 direct;
	char		 rootbuf[PATH_MAX];
};

static void
explain_error(void *ctx, const char *msg)
{
	(void)ctx;
	printf("  rule error: %s\n", msg);
}

static int
explain_map(void *vctx, const char *long_path, enum sbrw_role role, char *out, size_t size)
{
	struct explain *x = vctx;
	char key[PATH_MAX];
	const char *slash;
	int r;

	(void)role;
	if ((r = sb_key_from_path(long_path, key, sizeof(key))) < 0)
		return r;
	if (x->direct) {
		slash = strrchr(key, '/');
		r = snprintf(out, size, "/proc/self/fd/N/%s", slash + 1);
		return r < 0 || (size_t)r >= size ? -ENAMETOOLONG : 0;
	}
	return sb_short_path(x->root, key, out, size);
}

static void
explain_report(void *ctx, const struct sbrw_event *ev)
{
	(void)ctx;
	if (ev->short_path != NULL)
		printf("argv[%d]: rewrite '%s'\n    -> '%s' (%s)\n", ev->argi, ev->long_path,
		    ev->short_path, sbrw_role_name(ev->role));
	else
		printf("argv[%d]: leave '%s' alone: %s\n", ev->argi, ev->arg, ev->why);
	if (ev->rule != NULL)
		printf("    rule %s: %s\n", ev->rule->origin, ev->rule->line);
	else if (ev->short_path != NULL)
		printf("    no rule: an existing socket (the generic client side)\n");
}

/* -readconfig FILE: the shim's readconfig.c reads it at start; say so. */
static int
explain_config(void *ctx, char **argp, sbrw_map_fn map, void *map_ctx)
{
	(void)ctx;
	(void)map;
	(void)map_ctx;
	printf("-readconfig '%s': a QEMU config file: the shim rewrites the socket paths in it\n"
	    "    into a sealed copy that QEMU reads as /proc/self/fd/N (not shown here)\n", *argp);
	return 0;
}

int
cmd_explain(int argc, char **argv, const char *root)
{
	static struct sbrw_rules rules;
	struct explain x = { root, 0, "" };
	const struct sbrw_ops ops = { explain_map, explain_report, explain_config, sbrw_stat_is_socket,
	    &x };
	const char *prog, *spec, *mode = NULL;
	char **args;
	int i, k, n, r;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
			mode = argv[++i];
		else if (strncmp(argv[i], "--mode=", 7) == 0)
			mode = argv[i] + 7;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(explain_usage, stdout);
			return SB_EXIT_OK;
		} else {
			fprintf(stderr, "sockbroker: explain: unknown option '%s'\n%s", argv[i],
			    explain_usage);
			return SB_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		fputs(explain_usage, stderr);
		return SB_EXIT_USAGE;
	}
	if (mode != NULL && strcmp(mode, "broker") != 0 && strcmp(mode, "direct") != 0) {
		fprintf(stderr, "sockbroker: explain: --mode must be broker or direct, not '%s'\n",
		    mode);
		return SB_EXIT_USAGE;
	}
	x.direct = mode != NULL && strcmp(mode, "direct") == 0;
	if (!x.direct && x.root == NULL) {
		if ((r = sb_default_root(x.rootbuf, sizeof(x.rootbuf))) < 0) {
			fprintf(stderr, "sockbroker: explain: no runtime root: %s (use --root)\n",
			    sb_strerror(r));
			return SB_EXIT_SYSTEM;
		}
		x.root = x.rootbuf;
	}
	argc -= i;
	argv += i;
	prog = sbrw_program(argv[0]);
	printf("program: %s\n", prog);
	printf("mode: %s%s%s\n", x.direct ? "direct" : "broker", x.direct ? "" : ", root ",
	    x.direct ? "" : x.root);
	rules.n = 0;
	rules.dropped = 0;
	if ((spec = getenv("SOCKBROKER_REWRITE")) != NULL && spec[0] != '\0')
		sbrw_rules_add_text(&rules, prog, spec, strlen(spec), 1, "SOCKBROKER_REWRITE",
		    explain_error, NULL);
	n = sbrw_rules_load(&rules, prog, sbrw_dirs(), explain_error, NULL);
	printf("rules: %d for %s, from %d files in %s\n", rules.n, prog, n < 0 ? 0 : n,
	    sbrw_dirs());
	for (k = 0; k < rules.n; k++)
		printf("  %s: %s\n", rules.rule[k].origin, rules.rule[k].line);
	if (rules.dropped > 0)
		printf("  (%d more ignored: at most %d rules apply to one program)\n", rules.dropped,
		    SBRW_RULES_MAX);
	if (!sbrw_candidates(argc, argv)) {
		printf("nothing to rewrite: no argument is longer than %d bytes\n",
		    SBRW_SUN_PATH_MAX);
		return SB_EXIT_OK;
	}
	/* a copy: the rewriter writes in place */
	if ((args = calloc((size_t)argc + 1, sizeof(*args))) == NULL) {
		fprintf(stderr, "sockbroker: explain: out of memory\n");
		return SB_EXIT_SYSTEM;
	}
	for (k = 0; k < argc; k++)
		if ((args[k] = strdup(argv[k])) == NULL) {
			fprintf(stderr, "sockbroker: explain: out of memory\n");
			return SB_EXIT_SYSTEM;
		}
	n = sbrw_argv(argc, args, &rules, &ops);
	printf("%d rewritten%s\n", n, n > 0 ? "; the command would run as:" : "");
	for (k = 0; n > 0 && k < argc; k++)
		printf("  %s\n", args[k]);
	for (k = 0; k < argc; k++)
		free(args[k]);
	free(args);
	return SB_EXIT_OK;
}
