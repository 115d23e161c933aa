/*
 * rewrite.h: find AF_UNIX socket paths longer than sun_path in a command
 * line and shorten them in place. Shared by the shim (its constructor) and
 * by `sockbroker exec` (for programs the preload cannot reach).
 *
 * The rewriter only knows where socket paths appear; what a long path
 * becomes is the caller's business (the map callback).
 */
#ifndef SB_REWRITE_H
#define SB_REWRITE_H

#include <stddef.h>

/* A path longer than this is rewritten; one this long is legal (no NUL). */
#define SBRW_SUN_PATH_MAX	108

/* What the program does with a path, as far as its context says. */
enum sbrw_role {
	SBRW_ROLE_ANY = 0,	/* unknown */
	SBRW_ROLE_SERVER,	/* binds (and listens) */
	SBRW_ROLE_CLIENT,	/* connects */
};

/* Extra rules from SOCKBROKER_REWRITE. */
#define SBRW_RULES_MAX		16
#define SBRW_RULE_TEXT_MAX	64

enum sbrw_rule_kind {
	SBRW_RULE_OPT = 1,	/* "opt:--socket": the next argument, or --socket=P */
	SBRW_RULE_PREFIX,	/* "prefix:sock=": an argument or a comma-separated
				   option value starting with it */
};

struct sbrw_rule {
	enum sbrw_rule_kind	kind;
	char			text[SBRW_RULE_TEXT_MAX];
};

struct sbrw_rules {
	struct sbrw_rule	rule[SBRW_RULES_MAX];
	int			n;
};

/*
 * Map a long path (as written, decoded from its option syntax) to its
 * replacement: write at most size bytes (NUL included, size is
 * SBRW_SUN_PATH_MAX) to out and return 0, or return a negative errno to
 * leave the argument alone (the callback says why).
 */
typedef int (*sbrw_map_fn)(void *ctx, const char *long_path, enum sbrw_role role,
    char *out, size_t size);

/*
 * Parse SOCKBROKER_REWRITE: rules separated by ';', each "opt:TEXT" or
 * "prefix:TEXT". Empty items are ignored. Returns the number of rules, or
 * -EINVAL (with *ret_bad pointing at the first bad item, if not NULL) for a
 * malformed item; the good rules before it are kept.
 */
int	sbrw_parse_rules(const char *spec, struct sbrw_rules *rules, const char **ret_bad);

/*
 * Rewrite the socket paths of argv[1..argc-1] in place (a replacement is
 * always shorter). extra may be NULL. Returns how many paths were
 * rewritten.
 */
int	sbrw_argv(int argc, char **argv, const struct sbrw_rules *extra,
    sbrw_map_fn map, void *ctx);

/* Is a socket path of len bytes too long for sun_path? */
static inline int
sbrw_too_long(size_t len)
{
	return len > SBRW_SUN_PATH_MAX;
}

#endif /* SB_REWRITE_H */
