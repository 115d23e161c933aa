/*
 * rewrite.c: the command-line rewriter of the shim and of sockbroker exec.
 *
 * Where socket paths appear (built-in rules):
 *   unix:P[,opts]            QEMU -qmp/-monitor/-serial/-incoming..., socat
 *   UNIX-LISTEN:P[,opts] ... socat (UNIX, UNIX-CONNECT, UNIX-CLIENT,
 *                            UNIX-SENDTO, UNIX-RECV, UNIX-RECVFROM; any case)
 *   socket,...,path=P,...    QEMU -chardev socket
 *   ...,addr.type=unix,...,addr.path=P   QEMU -netdev stream/dgram
 *   ...type=unixio,...,path=P            swtpm --ctrl / --server
 *   --unix P, --unix=P       swtpm_ioctl, swtpm_bios
 * In QEMU option values ",," stands for a literal comma (decoded, and
 * written back the same way); socat and swtpm paths end at the first ','.
 * No other argument is ever touched, and a path of SBRW_SUN_PATH_MAX bytes
 * or less is left as it is.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "rewrite.h"

/* How a path ends inside its argument. */
enum esc {
	ESC_NONE,	/* the rest of the argument */
	ESC_COMMA,	/* at the first ',' (socat, swtpm) */
	ESC_QEMU,	/* at a single ','; ",," is a literal comma */
};

struct rw {
	sbrw_map_fn	 map;
	void		*ctx;
	int		 count;
};

/* Offset of the end of the value that starts at start. */
static size_t
value_end(const char *s, size_t start, enum esc esc)
{
	size_t i = start;

	while (s[i] != '\0') {
		if (s[i] == ',' && esc != ESC_NONE) {
			if (esc == ESC_QEMU && s[i + 1] == ',') {
				i += 2;
				continue;
			}
			break;
		}
		i++;
	}
	return i;
}

/* Decode s[start, end) into out; -1 if it does not fit. */
static int
decode(const char *s, size_t start, size_t end, enum esc esc, char *out, size_t size)
{
	size_t i, o = 0;

	for (i = start; i < end; i++) {
		if (o + 1 >= size)
			return -1;
		out[o++] = s[i];
		if (esc == ESC_QEMU && s[i] == ',')
			i++;	/* the second comma of ",," */
	}
	out[o] = '\0';
	return (int)o;
}

/* Encode in for its context into out; the length, or -1 if it does not fit. */
static int
encode(const char *in, enum esc esc, char *out, size_t size)
{
	size_t o = 0;

	for (; *in != '\0'; in++) {
		if (*in == ',' && esc != ESC_QEMU && esc != ESC_NONE)
			return -1;	/* cannot be written here */
		if (o + 2 >= size)
			return -1;
		out[o++] = *in;
		if (*in == ',' && esc == ESC_QEMU)
			out[o++] = ',';
	}
	out[o] = '\0';
	return (int)o;
}

/*
 * Rewrite the path that starts at arg + start, if it is too long. Returns
 * the offset just after the path (rewritten or not).
 */
static size_t
rewrite_at(struct rw *rw, char *arg, size_t start, enum esc esc, enum sbrw_role role)
{
	char longp[PATH_MAX], shortp[SBRW_SUN_PATH_MAX], enc[2 * SBRW_SUN_PATH_MAX];
	size_t end = value_end(arg, start, esc), tail;
	int len;

	len = decode(arg, start, end, esc, longp, sizeof(longp));
	if (len < 0 || !sbrw_too_long((size_t)len))
		return end;
	if (rw->map(rw->ctx, longp, role, shortp, sizeof(shortp)) < 0)
		return end;
	len = encode(shortp, esc, enc, sizeof(enc));
	if (len < 0 || (size_t)len > end - start)
		return end;
	tail = strlen(arg + end);
	memmove(arg + start + len, arg + end, tail + 1);
	memcpy(arg + start, enc, (size_t)len);
	rw->count++;
	return start + (size_t)len;
}

/* Offset of the value of option name (e.g. "path=") in a list, or -1. */
static long
find_opt(const char *s, const char *name, enum esc esc)
{
	size_t i = 0, n = strlen(name);

	for (;;) {
		if (strncmp(s + i, name, n) == 0)
			return (long)(i + n);
		i = value_end(s, i, esc);
		if (s[i] == '\0')
			return -1;
		i++;
	}
}

/* Does the option list have a true boolean option name (QEMU style)? */
static int
has_bool(const char *s, const char *name, enum esc esc)
{
	char opt[32];
	size_t i = 0, n = strlen(name), e;

	for (;;) {
		e = value_end(s, i, esc);
		if (strncmp(s + i, name, n) == 0) {
			if (e == i + n)
				return 1;	/* bare "server" */
			if (s[i + n] == '=' && e - (i + n + 1) < sizeof(opt)) {
				memcpy(opt, s + i + n + 1, e - (i + n + 1));
				opt[e - (i + n + 1)] = '\0';
				return strcmp(opt, "off") != 0 && strcmp(opt, "no") != 0 &&
				    strcmp(opt, "false") != 0 && strcmp(opt, "n") != 0;
			}
		}
		if (s[e] == '\0')
			return 0;
		i = e + 1;
	}
}

static const struct {
	const char	*prefix;
	enum sbrw_role	 role;
} socat_addrs[] = {
	{ "UNIX-LISTEN:", SBRW_ROLE_SERVER },
	{ "UNIX-RECVFROM:", SBRW_ROLE_SERVER },
	{ "UNIX-RECV:", SBRW_ROLE_SERVER },
	{ "UNIX-CONNECT:", SBRW_ROLE_CLIENT },
	{ "UNIX-CLIENT:", SBRW_ROLE_CLIENT },
	{ "UNIX-SENDTO:", SBRW_ROLE_CLIENT },
	{ "UNIX:", SBRW_ROLE_CLIENT },
};

/* An extra prefix rule: at the start or after a ','. */
static int
rule_prefix(struct rw *rw, char *arg, const char *prefix)
{
	size_t i = 0, n = strlen(prefix);

	for (;;) {
		if (strncmp(arg + i, prefix, n) == 0) {
			rewrite_at(rw, arg, i + n, ESC_QEMU, SBRW_ROLE_ANY);
			return 1;
		}
		i = value_end(arg, i, ESC_QEMU);
		if (arg[i] == '\0')
			return 0;
		i++;
	}
}

/*
 * Rules that look at one argument alone. Returns 1 if one applied.
 */
static int
rewrite_one(struct rw *rw, char *arg, const struct sbrw_rules *extra)
{
	size_t k;
	long v;
	int i;

	if (extra != NULL)
		for (i = 0; i < extra->n; i++)
			if (extra->rule[i].kind == SBRW_RULE_PREFIX &&
			    rule_prefix(rw, arg, extra->rule[i].text))
				return 1;
	if (strncmp(arg, "unix:", 5) == 0) {
		rewrite_at(rw, arg, 5, ESC_QEMU,
		    has_bool(arg + 5, "server", ESC_QEMU) ? SBRW_ROLE_SERVER : SBRW_ROLE_CLIENT);
		return 1;
	}
	for (k = 0; k < sizeof(socat_addrs) / sizeof(socat_addrs[0]); k++) {
		size_t n = strlen(socat_addrs[k].prefix);

		if (strncasecmp(arg, socat_addrs[k].prefix, n) == 0) {
			rewrite_at(rw, arg, n, ESC_COMMA, socat_addrs[k].role);
			return 1;
		}
	}
	if (strncmp(arg, "socket,", 7) == 0) {		/* QEMU -chardev socket */
		if ((v = find_opt(arg, "path=", ESC_QEMU)) >= 0)
			rewrite_at(rw, arg, (size_t)v, ESC_QEMU,
			    has_bool(arg, "server", ESC_QEMU) ? SBRW_ROLE_SERVER : SBRW_ROLE_CLIENT);
		return 1;
	}
	if (find_opt(arg, "addr.type=unix", ESC_QEMU) >= 0 &&	/* QEMU -netdev stream */
	    (v = find_opt(arg, "addr.path=", ESC_QEMU)) >= 0) {
		rewrite_at(rw, arg, (size_t)v, ESC_QEMU,
		    has_bool(arg, "server", ESC_QEMU) ? SBRW_ROLE_SERVER : SBRW_ROLE_CLIENT);
		return 1;
	}
	if (find_opt(arg, "type=unixio", ESC_COMMA) >= 0) {	/* swtpm --ctrl, --server */
		v = find_opt(arg, "type=unixio", ESC_COMMA);
		if (arg[v] == '\0' || arg[v] == ',') {
			if ((v = find_opt(arg, "path=", ESC_COMMA)) >= 0)
				rewrite_at(rw, arg, (size_t)v, ESC_COMMA, SBRW_ROLE_SERVER);
			return 1;
		}
	}
	return 0;
}

/*
 * Rules about an option and its argument: "--unix P", "--unix=P" and the
 * extra opt: rules. Returns how many arguments were consumed (0, 1 or 2).
 */
static int
rewrite_opt(struct rw *rw, int argc, char **argv, int i, const char *opt, enum sbrw_role role)
{
	size_t n = strlen(opt);

	if (strcmp(argv[i], opt) == 0) {
		if (i + 1 >= argc)
			return 1;
		rewrite_at(rw, argv[i + 1], 0, ESC_NONE, role);
		return 2;
	}
	if (strncmp(argv[i], opt, n) == 0 && argv[i][n] == '=') {
		rewrite_at(rw, argv[i], n + 1, ESC_NONE, role);
		return 1;
	}
	return 0;
}

int
sbrw_argv(int argc, char **argv, const struct sbrw_rules *extra, sbrw_map_fn map, void *ctx)
{
	struct rw rw = { map, ctx, 0 };
	int i, j, used;

	for (i = 1; i < argc && argv[i] != NULL; i += used > 0 ? used : 1) {
		used = 0;
		if (strcmp(argv[i], "--") == 0)
			continue;
		for (j = 0; extra != NULL && j < extra->n && used == 0; j++)
			if (extra->rule[j].kind == SBRW_RULE_OPT)
				used = rewrite_opt(&rw, argc, argv, i, extra->rule[j].text,
				    SBRW_ROLE_ANY);
		if (used == 0)
			used = rewrite_opt(&rw, argc, argv, i, "--unix", SBRW_ROLE_CLIENT);
		if (used == 0)
			rewrite_one(&rw, argv[i], extra);
	}
	return rw.count;
}

int
sbrw_parse_rules(const char *spec, struct sbrw_rules *rules, const char **ret_bad)
{
	const char *p = spec, *end, *text;
	size_t len, tlen;

	rules->n = 0;
	if (spec == NULL)
		return 0;
	for (; *p != '\0'; p = *end == ';' ? end + 1 : end) {
		enum sbrw_rule_kind kind;

		end = strchr(p, ';');
		if (end == NULL)
			end = p + strlen(p);
		len = (size_t)(end - p);
		if (len == 0)
			continue;
		if (len > 4 && strncmp(p, "opt:", 4) == 0) {
			kind = SBRW_RULE_OPT;
			text = p + 4;
		} else if (len > 7 && strncmp(p, "prefix:", 7) == 0) {
			kind = SBRW_RULE_PREFIX;
			text = p + 7;
		} else
			goto bad;
		tlen = (size_t)(end - text);
		if (tlen >= SBRW_RULE_TEXT_MAX || rules->n >= SBRW_RULES_MAX)
			goto bad;
		rules->rule[rules->n].kind = kind;
		memcpy(rules->rule[rules->n].text, text, tlen);
		rules->rule[rules->n].text[tlen] = '\0';
		rules->n++;
	}
	return rules->n;
bad:
	if (ret_bad != NULL)
		*ret_bad = p;
	return -EINVAL;
}
