/* SPDX-License-Identifier: ISC */
/*
 * rewrite.h: find AF_UNIX socket paths longer than sun_path in a command
 * line and shorten them in place. Shared by the shim (its constructor), by
 * `sockbroker exec` (for programs the preload cannot reach) and by
 * `sockbroker explain`. libc only.
 *
 * Which option of which program holds a socket path is data: rules, one a
 * line, read from rule files (sbrw_rules_load) and from SOCKBROKER_REWRITE
 * (sbrw_rules_add_text), in one syntax:
 *
 *	PROGRAMS  OPTION  ROLE  GRAMMAR
 *
 * documented in sockbroker-shim(8). How an option's value is read (QEMU's
 * keyval and JSON, socat addresses, D-Bus and URI addresses, ...) is code:
 * the grammars below. What a long path becomes is the caller's business
 * (the map callback).
 */
#ifndef SB_REWRITE_H
#define SB_REWRITE_H

#include <stddef.h>

/* A path longer than this is rewritten; one this long is legal (no NUL). */
#define SBRW_SUN_PATH_MAX	108

/* What the program does with a path, as far as its context says. */
enum sbrw_role {
	SBRW_ROLE_ANY = 0,	/* unknown ("either" in a rule) */
	SBRW_ROLE_SERVER,	/* binds (and listens) */
	SBRW_ROLE_CLIENT,	/* connects */
	SBRW_ROLE_NEVER,	/* a rule: the value is never a socket path */
};

/* How a rule reads the value it names. */
enum sbrw_grammar {
	SBRW_G_PATH = 1,	/* the whole value is a path */
	SBRW_G_QEMU,		/* QEMU keyval (",," escapes, dotted keys) or JSON */
	SBRW_G_QEMU_CONFIG,	/* a QEMU -readconfig file (the config hook) */
	SBRW_G_QEMU_TYPED,	/* qemu, typed contexts only (no bare unix:P): images,
				   devices, objects, netdevs */
	SBRW_G_SWTPM,		/* swtpm list: type=unixio,path=P */
	SBRW_G_SOCAT,		/* socat address(es): UNIX-LISTEN:P,bind=P2!!... */
	SBRW_G_DBUS,		/* D-Bus address: unix:path=P;... (%-escapes) */
	SBRW_G_ADDRESS,		/* unix:P, unix://P, X+unix://...?socket=P, D-Bus */
	SBRW_G_URI,		/* only the URIs: unix://P, X+unix://... */
	SBRW_G_KV,		/* KEY=P (ssh -o ControlPath=P) */
	SBRW_G_PREFIX,		/* TEXT then P, as an argument or a ,-item */
	SBRW_G_OPERAND,		/* OPTION is a flag; the operands are paths (nc -U) */
	SBRW_G_GETOPT,		/* "-- never getopt:OPTS": options end at the first
				   operand; OPTS as getopt(3) says which take a value */
};

#define SBRW_RULES_MAX		64	/* rules that apply to one program */
#define SBRW_RULE_TEXT_SIZE	64	/* an option */
#define SBRW_RULE_ARG_SIZE	128	/* a grammar's argument */
#define SBRW_ORIGIN_SIZE		96	/* "FILE:LINE" */
#define SBRW_LINE_SIZE		512
#define SBRW_FILE_MAX		(32 * 1024)	/* one rule file */
#define SBRW_FILES_MAX		64	/* rule files read */

struct sbrw_rule {
	char			opt[SBRW_RULE_TEXT_SIZE];	/* "--socket", "-S", "*" */
	enum sbrw_role		role;
	enum sbrw_grammar	grammar;
	char			arg[SBRW_RULE_ARG_SIZE];	/* KEY of kv:, TEXT of prefix:, ... */
	char			origin[SBRW_ORIGIN_SIZE];	/* where it was read */
	char			line[SBRW_LINE_SIZE / 4];	/* the line, for messages */
};

struct sbrw_rules {
	struct sbrw_rule	rule[SBRW_RULES_MAX];
	int			n;
	int			dropped;	/* matching rules past SBRW_RULES_MAX */
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
 * What the rewriter did with one argument, for SOCKBROKER_DEBUG and
 * sockbroker explain: a path rewritten (short_path set) or an over-long
 * argument left alone (short_path NULL, why says why). rule is NULL for
 * the generic client side and when no rule applied.
 */
struct sbrw_event {
	int			 argi;		/* index in argv */
	const char		*arg;		/* the argument as it was */
	const struct sbrw_rule	*rule;
	const char		*long_path;	/* NULL: no path found */
	const char		*short_path;
	enum sbrw_role		 role;
	const char		*why;
};

typedef void (*sbrw_report_fn)(void *ctx, const struct sbrw_event *ev);

/*
 * QEMU -readconfig FILE (the hook: shims/ provides it): rewrite the socket
 * paths inside the file the argument names, with map, and make *argp point
 * at a replacement argument (it may be longer than the old one: point it at
 * storage that lives as long as argv). Return 1 if it replaced the
 * argument, 0 if the file needed nothing, or a negative errno.
 */
typedef int (*sbrw_config_fn)(void *ctx, char **argp, sbrw_map_fn map, void *map_ctx);

/* Is path (over-long, absolute) an existing socket, or a link to one? */
typedef int (*sbrw_is_socket_fn)(void *ctx, const char *path);
/* That question put to the file system with stat(2) (ctx unused). */
int	sbrw_stat_is_socket(void *ctx, const char *path);

struct sbrw_ops {
	sbrw_map_fn		map;
	sbrw_report_fn		report;		/* may be NULL */
	sbrw_config_fn		config;		/* may be NULL: -readconfig left */
	sbrw_is_socket_fn	is_socket;	/* NULL: no generic client side */
	void			*ctx;
};

/*
 * Does argv hold anything the rewriter could touch (an argument longer than
 * sun_path, or a -readconfig)? No system call: the caller loads rules only
 * when this says yes.
 */
int	sbrw_candidates(int argc, char *const *argv);

/* The program name rules are keyed by: the basename of argv0. */
const char *sbrw_program(const char *argv0);

/*
 * Add the rules of text (lines separated by '\n', or by ';' if semi is set)
 * that apply to program. origin names the text in messages ("FILE" or
 * "SOCKBROKER_REWRITE"). Bad lines are skipped; for each, err (if not NULL)
 * is called with "ORIGIN:LINE: reason". Returns the number of bad lines.
 */
typedef void (*sbrw_error_fn)(void *ctx, const char *msg);
int	sbrw_rules_add_text(struct sbrw_rules *rules, const char *program, const char *text,
    size_t len, int semi, const char *origin, sbrw_error_fn err, void *err_ctx);

/*
 * Add the rules for program from the rule files ("*.rules") of dirs, a
 * ':'-separated list searched in order: a file of one name is read from
 * the first directory that has it (so /etc overrides /usr/share, and an
 * empty file masks a packaged one). Files are read in name order. Returns
 * the number of files read, or a negative errno; unreadable files and bad
 * lines are reported through err.
 */
int	sbrw_rules_load(struct sbrw_rules *rules, const char *program, const char *dirs,
    sbrw_error_fn err, void *err_ctx);

/*
 * The rule directories: SOCKBROKER_REWRITE_DIRS (a ':'-separated list,
 * ignored in setuid and setgid programs), else the configured
 * SYSCONFDIR/sockbroker/rewrite.d:DATADIR/sockbroker/rewrite.d.
 */
const char *sbrw_dirs(void);

/* Does a rule say no argument of this program is ever a socket path? */
int	sbrw_rules_never(const struct sbrw_rules *rules);

/*
 * Rewrite the socket paths of argv[1..argc-1] in place (a replacement is
 * never longer, and the bytes it frees are zeroed). rules may be NULL.
 * Returns how many paths were rewritten.
 */
int	sbrw_argv(int argc, char **argv, const struct sbrw_rules *rules,
    const struct sbrw_ops *ops);

/* "server", "client", "either", "never" */
const char *sbrw_role_name(enum sbrw_role role);

/* Is a socket path of len bytes too long for sun_path? */
static inline int
sbrw_too_long(size_t len)
{
	return len > SBRW_SUN_PATH_MAX;
}

#endif /* SB_REWRITE_H */
