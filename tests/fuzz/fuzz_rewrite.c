/*
 * fuzz_rewrite.c: libFuzzer target for the command-line rewriter of the
 * shim and of sockbroker exec (libbroker/rewrite.c).
 *
 * Input: SPEC '\n' ARG1 '\0' ARG2 '\0' ... SPEC is given to
 * sbrw_parse_rules() (SOCKBROKER_REWRITE), the arguments (each in an
 * exact-size heap buffer, so that ASan sees any write or read past its
 * NUL) to sbrw_argv(). The map callback answers from the bytes of the
 * path: a failure, or a replacement of 1 to 107 bytes that may hold ','
 * (which cannot be written in socat/swtpm syntax and must be refused).
 * What must hold: no argument grows, each stays a string in its buffer,
 * every path handed to the map is longer than sun_path, arguments the map
 * was never asked about are left alone, and the count is what the map
 * produced at most.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rewrite.h"

#define ARGS_MAX	64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	int	calls;
	int	given;
};

static int
map(void *arg, const char *long_path, enum sbrw_role role, char *out, size_t size)
{
	struct ctx *c = arg;
	size_t n = strlen(long_path), len, i;
	unsigned h = 2166136261u;

	c->calls++;
	if (!sbrw_too_long(n) || size != SBRW_SUN_PATH_MAX ||
	    (role != SBRW_ROLE_ANY && role != SBRW_ROLE_SERVER && role != SBRW_ROLE_CLIENT))
		abort();
	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)long_path[i]) * 16777619u;
	if (h % 7 == 0)
		return -22;
	len = 1 + h % (size - 1);	/* 1..107 bytes */
	for (i = 0; i < len; i++)
		out[i] = "/abc,de"[(h >> (i % 24)) % 7];
	out[len] = '\0';
	c->given++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[ARGS_MAX + 1], *orig[ARGS_MAX + 1], *spec;
	size_t lens[ARGS_MAX + 1], i, off, nl;
	struct sbrw_rules rules;
	struct ctx c = { 0, 0 };
	const char *bad = NULL;
	int argc = 0, n, k;

	nl = 0;
	while (nl < size && data[nl] != '\n')
		nl++;
	if ((spec = malloc(nl + 1)) == NULL)
		return 0;
	memcpy(spec, data, nl);
	spec[nl] = '\0';
	n = sbrw_parse_rules(spec, &rules, &bad);
	if (n < 0 && (bad == NULL || bad < spec || bad > spec + nl))
		abort();
	if (rules.n < 0 || rules.n > SBRW_RULES_MAX)
		abort();
	for (k = 0; k < rules.n; k++)
		if (strlen(rules.rule[k].text) >= SBRW_RULE_TEXT_MAX)
			abort();

	argv[argc] = strdup("prog");
	orig[argc] = strdup("prog");
	lens[argc++] = 4;
	for (off = nl < size ? nl + 1 : size; off < size && argc < ARGS_MAX; ) {
		const uint8_t *z = memchr(data + off, '\0', size - off);
		size_t len = z != NULL ? (size_t)(z - (data + off)) : size - off;

		argv[argc] = malloc(len + 1);
		orig[argc] = malloc(len + 1);
		if (argv[argc] == NULL || orig[argc] == NULL)
			abort();
		memcpy(argv[argc], data + off, len);
		argv[argc][len] = '\0';
		memcpy(orig[argc], argv[argc], len + 1);
		lens[argc++] = len;
		off += len + 1;
	}
	argv[argc] = NULL;

	n = sbrw_argv(argc, argv, n >= 0 || rules.n > 0 ? &rules : NULL, map, &c);
	if (n < 0 || n > c.given)
		abort();
	for (k = 0; k < argc; k++) {
		size_t now = strlen(argv[k]);	/* ASan: within its buffer */

		if (now > lens[k])
			abort();
		if (c.given == 0 && strcmp(argv[k], orig[k]) != 0)
			abort();
		/* a path the map was given is over 108 bytes: shorter arguments stay */
		if (lens[k] <= SBRW_SUN_PATH_MAX && strcmp(argv[k], orig[k]) != 0)
			abort();
	}
	if (strcmp(argv[0], "prog") != 0)
		abort();
	for (k = 0; k < argc; k++) {
		free(argv[k]);
		free(orig[k]);
	}
	free(spec);
	return 0;
}
