/* SPDX-License-Identifier: ISC */
/*
 * fuzz_rewrite.c: libFuzzer target for the command-line rewriter of the
 * shim, sockbroker exec and sockbroker explain (libbroker/rewrite.c).
 *
 * Input: SPEC '\n' PROG '\n' ARG1 '\0' ARG2 '\0' ... SPEC is rule text in
 * the SOCKBROKER_REWRITE form (';' between lines), added to the rules this
 * tree ships for PROG (RULES_DIR); the arguments (each in an exact-size
 * heap buffer, so that ASan sees any access past its NUL) go to
 * sbrw_argv(). The map answers from the bytes of the path: a failure, or a
 * replacement of 1 to 107 bytes that may hold ',', '"', '%' or ' ' (which
 * some syntaxes cannot hold as they are). Every third path "exists as a
 * socket" for the generic client side.
 *
 * What must hold: no argument grows, each stays a string in its buffer and
 * the bytes it frees are zero; every path handed to the map is longer than
 * sun_path and no longer than its argument; an argument changes only if a
 * rewrite of it was reported, so an argument without an over-long path is
 * never changed (and one of 108 bytes or less never is); nothing changes
 * for a program whose rules say never; the count is what the map gave.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rewrite.h"

#define ARGS_MAX	64

#ifndef RULES_DIR
#define RULES_DIR	"shims/rewrite.d"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	int	calls;
	int	given;
	int	reported;
	size_t	lens[ARGS_MAX + 1];
	int	changed[ARGS_MAX + 1];	/* a rewrite of it was reported */
	size_t	longest;		/* the longest argument */
};

static unsigned
hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static int
map(void *arg, const char *long_path, enum sbrw_role role, char *out, size_t size)
{
	struct ctx *c = arg;
	size_t n = strlen(long_path), len, i;
	unsigned h = hash(long_path);

	c->calls++;
	if (!sbrw_too_long(n) || n > c->longest || size != SBRW_SUN_PATH_MAX ||
	    (role != SBRW_ROLE_ANY && role != SBRW_ROLE_SERVER && role != SBRW_ROLE_CLIENT))
		abort();
	if (h % 7 == 0)
		return -22;
	len = 1 + h % (size - 1);	/* 1..107 bytes */
	for (i = 0; i < len; i++)
		out[i] = "/abc,d\"% e"[(h >> (i % 24)) % 10];
	out[len] = '\0';
	c->given++;
	return 0;
}

static int
is_socket(void *arg, const char *path)
{
	(void)arg;
	if (!sbrw_too_long(strlen(path)) || path[0] != '/')
		abort();
	return hash(path) % 3 == 0;
}

static void
report(void *arg, const struct sbrw_event *ev)
{
	struct ctx *c = arg;

	if (ev->argi < 1 || ev->argi > ARGS_MAX || (ev->short_path == NULL && ev->why == NULL))
		abort();
	if (ev->short_path != NULL) {
		if (ev->long_path == NULL || !sbrw_too_long(strlen(ev->long_path)) ||
		    strlen(ev->long_path) > c->lens[ev->argi])
			abort();
		c->changed[ev->argi] = 1;
		c->reported++;
	}
}

/* The shipped rules of the last program asked about. */
static struct sbrw_rules shipped;
static char shipped_prog[256] = "\1";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sbrw_rules rules;
	char *argv[ARGS_MAX + 1], *orig[ARGS_MAX + 1], *spec, prog[256];
	struct ctx c;
	struct sbrw_ops ops = { map, report, NULL, is_socket, &c };
	size_t i, off, nl, pl, now;
	int argc = 0, n, k, never;

	memset(&c, 0, sizeof(c));
	for (nl = 0; nl < size && data[nl] != '\n'; nl++)
		;
	for (pl = nl + 1; pl < size && data[pl] != '\n' && data[pl] != '\0'; pl++)
		;
	if (pl >= size || pl - nl - 1 >= sizeof(prog))
		return 0;
	memcpy(prog, data + nl + 1, pl - nl - 1);
	prog[pl - nl - 1] = '\0';
	if ((spec = malloc(nl + 1)) == NULL)
		return 0;
	memcpy(spec, data, nl);
	spec[nl] = '\0';

	if (strcmp(prog, shipped_prog) != 0) {
		shipped.n = 0;
		shipped.dropped = 0;
		sbrw_rules_load(&shipped, prog, RULES_DIR, NULL, NULL);
		memcpy(shipped_prog, prog, strlen(prog) + 1);
	}
	rules.n = 0;
	rules.dropped = 0;
	n = sbrw_rules_add_text(&rules, prog, spec, nl, 1, "SPEC", NULL, NULL);
	if (n < 0 || rules.n < 0 || rules.n > SBRW_RULES_MAX)
		abort();
	for (k = 0; k < shipped.n && rules.n < SBRW_RULES_MAX; k++)
		rules.rule[rules.n++] = shipped.rule[k];
	for (k = 0; k < rules.n; k++)
		if (strlen(rules.rule[k].opt) >= SBRW_RULE_TEXT_SIZE ||
		    strlen(rules.rule[k].arg) >= SBRW_RULE_ARG_SIZE)
			abort();
	never = sbrw_rules_never(&rules);

	argv[argc] = strdup(prog);
	orig[argc] = strdup(prog);
	c.lens[argc++] = strlen(prog);
	for (off = pl + 1; off < size && argc < ARGS_MAX; ) {
		const uint8_t *z = memchr(data + off, '\0', size - off);
		size_t len = z != NULL ? (size_t)(z - (data + off)) : size - off;

		argv[argc] = malloc(len + 1);
		orig[argc] = malloc(len + 1);
		if (argv[argc] == NULL || orig[argc] == NULL)
			abort();
		memcpy(argv[argc], data + off, len);
		argv[argc][len] = '\0';
		memcpy(orig[argc], argv[argc], len + 1);
		c.lens[argc] = len;
		if (len > c.longest)
			c.longest = len;
		argc++;
		off += len + 1;
	}
	argv[argc] = NULL;

	n = sbrw_argv(argc, argv, &rules, &ops);
	if (n < 0 || n > c.given || n != c.reported || (never && n != 0))
		abort();
	for (k = 0; k < argc; k++) {
		now = strlen(argv[k]);	/* ASan: within its buffer */
		if (now > c.lens[k])
			abort();
		for (i = now; i <= c.lens[k]; i++)
			if (argv[k][i] != '\0')
				abort();	/* a fragment of the old argument */
		if (strcmp(argv[k], orig[k]) != 0 && (!c.changed[k] || c.lens[k] <= SBRW_SUN_PATH_MAX))
			abort();
	}
	if (strcmp(argv[0], prog) != 0)
		abort();
	for (k = 0; k < argc; k++) {
		free(argv[k]);
		free(orig[k]);
	}
	free(spec);
	return 0;
}
