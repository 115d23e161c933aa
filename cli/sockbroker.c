/* SPDX-License-Identifier: ISC */
/*
 * sockbroker.c: the sockbroker command, a thin user of libsockbroker.
 *
 * sockbroker [--root DIR] [-q] COMMAND [ARG...]; one function per command.
 * Exit codes are in cli.h and sockbroker(1). Errors read
 * "sockbroker: COMMAND: KEY: REASON[ (limit N)]".
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>	/* isfinite */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "sb-internal.h"
#include "sb-proto.h"
#include "sockbroker.h"

#define SYSTEMD_FDNAME_MAX	255

static const char *root;	/* --root, or NULL for the default */
static int quiet;		/* -q: print nothing on success */

static const char usage_text[] =
"usage: sockbroker [--root DIR] [-q] COMMAND [ARG...]\n"
"\n"
"commands:\n"
"  bind KEY [--type stream|seqpacket|dgram] [--listen] [--mode OCTAL]\n"
"           [--group GROUP] [--lifetime hold|owner] [-- CMD [ARG...]]\n"
"  get KEY [--fd N] [-- CMD [ARG...]]\n"
"  put NAME --fd N [--mode OCTAL] [--group GROUP]\n"
"  path KEY             the short path of KEY, without asking the broker\n"
"  resolve KEY          the short path of KEY, from the broker\n"
"  wait KEY [--timeout SEC]\n"
"  release KEY\n"
"  list [--json]\n"
"  status [--json]\n"
"  reexec\n"
"  exec [--mode broker|direct|auto] [--shim PATH] [--] CMD [ARG...]\n"
"  explain [--mode broker|direct] [--] CMD [ARG...]\n"
"  help [COMMAND]       what COMMAND does (also: COMMAND --help)\n"
"\n"
"KEY is a name ([A-Za-z0-9._:@+-], at most 200 bytes) or, if it contains\n"
"'/', a path (made absolute; at most 4095 bytes).\n"
"Exit: 0 ok, 1 refused by the broker, 2 wait timed out, 100 usage,\n"
"111 system error, 126 command cannot be executed, 127 command not found.\n";

/* Messages */

static void __attribute__((format(printf, 3, 4)))
errmsg(const char *cmd, const char *what, const char *fmt, ...)
{
	va_list ap;

	fputs("sockbroker: ", stderr);
	if (cmd != NULL)
		fprintf(stderr, "%s: ", cmd);
	if (what != NULL)
		fprintf(stderr, "%s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int __attribute__((format(printf, 2, 3)))
usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("sockbroker: ", stderr);
	if (cmd != NULL)
		fprintf(stderr, "%s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd != NULL)
		fprintf(stderr, "\n(sockbroker help %s for usage)\n", cmd);
	else
		fputs("\n(sockbroker --help for usage)\n", stderr);
	return SB_EXIT_USAGE;
}

/*
 * A key as it appears in a message: non-printable bytes as '?', and a key
 * longer than 80 bytes shortened in the middle.
 */
static const char *
show_key(const char *key, char *buf, size_t size)
{
	size_t n = strlen(key), i, o = 0;

	for (i = 0; i < n && o + 4 < size; i++) {
		if (n > 80 && i == 40) {
			memcpy(buf + o, "...", 3);
			o += 3;
			i = n - 30;
		}
		buf[o++] = isprint((unsigned char)key[i]) ? key[i] : '?';
	}
	buf[o] = '\0';
	return buf;
}

/* Exit code for an errno that a request failed with. */
static int
exit_code(int r)
{
	switch (-r) {
	case ETIMEDOUT:
		return SB_EXIT_TIMEOUT;
	case ECONNREFUSED: case ECONNRESET: case EPIPE: case ENOTCONN:
	case EPROTO: case EBADMSG: case EMSGSIZE: case EPROTONOSUPPORT:
	case ENOMEM: case EIO: case EMFILE: case ENFILE: case ENOBUFS:
		return SB_EXIT_SYSTEM;
	default:
		return SB_EXIT_REFUSED;
	}
}

/* Report a failed request with the broker's explanation, if it gave one. */
static int
fail_request(const char *cmd, const char *key, sb_client *c, int r)
{
	const char *msg = sb_client_message(c), *reason;
	uint64_t limit = sb_client_limit(c);
	char kbuf[128], lbuf[32];

	if (msg != NULL && msg[0] != '\0')
		reason = msg;
	else if (r == -ENOENT)
		reason = "no such entry";
	else if (r == -ETIMEDOUT)
		reason = "timed out";
	else if (r == -ENXIO)
		reason = "the entry holds no socket (lifetime owner): connect to its short path";
	else
		reason = sb_strerror(r);
	snprintf(lbuf, sizeof(lbuf), "%" PRIu64, limit);
	errmsg(cmd, key != NULL ? show_key(key, kbuf, sizeof(kbuf)) : NULL, "%s%s%s%s",
	    reason, limit != 0 && strstr(reason, lbuf) == NULL ? " (limit " : "",
	    limit != 0 && strstr(reason, lbuf) == NULL ? lbuf : "",
	    limit != 0 && strstr(reason, lbuf) == NULL ? ")" : "");
	return exit_code(r);
}

/* Connect to the broker, or say why not. */
static int
client_open(const char *cmd, sb_client **ret)
{
	char rbuf[PATH_MAX];
	int r;

	if ((r = sb_client_open(root, ret)) == 0)
		return 0;
	if (root != NULL)
		snprintf(rbuf, sizeof(rbuf), "%s", root);
	else if (sb_default_root(rbuf, sizeof(rbuf)) < 0)
		snprintf(rbuf, sizeof(rbuf), "(default root)");
	if (r == -ENOENT || r == -ECONNREFUSED)
		errmsg(cmd, rbuf, "cannot reach the broker at %s/control: %s "
		    "(is sockbrokerd running? --root or SOCKBROKER_ROOT)", rbuf, sb_strerror(r));
	else
		errmsg(cmd, rbuf, "cannot reach the broker: %s", sb_strerror(r));
	return SB_EXIT_SYSTEM;
}

/* Keys */

/* Explain why key (or the argument it came from) is not a valid key. */
static int
bad_key(const char *cmd, const char *arg, const char *key, int r)
{
	char kbuf[128];
	size_t n, i;

	show_key(arg, kbuf, sizeof(kbuf));
	if (arg[0] == '\0') {
		errmsg(cmd, NULL, "empty key");
		return SB_EXIT_USAGE;
	}
	if (strchr(arg, '/') == NULL) {
		n = strlen(arg);
		if (n > SB_NAME_LEN_MAX) {
			errmsg(cmd, kbuf, "name too long: %zu bytes (limit %d bytes)",
			    n, SB_NAME_LEN_MAX);
			return SB_EXIT_USAGE;
		}
		for (i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)arg[i];

			if (!sb_key_name_char(ch)) {
				errmsg(cmd, kbuf, "invalid character %s%c%s (0x%02x) at byte %zu of a name "
				    "(allowed: A-Z a-z 0-9 . _ : @ + -, or a path with '/')",
				    isprint(ch) ? "'" : "", isprint(ch) ? ch : '?',
				    isprint(ch) ? "'" : "", ch, i + 1);
				return SB_EXIT_USAGE;
			}
		}
	} else {
		n = strlen(key != NULL ? key : arg);
		if (r == -ENAMETOOLONG || n > SB_PATH_LEN_MAX) {
			errmsg(cmd, kbuf, "path too long: %zu bytes (limit %d bytes)",
			    strlen(arg) > n ? strlen(arg) : n, SB_PATH_LEN_MAX);
			return SB_EXIT_USAGE;
		}
		n = strlen(arg);
		if (strstr(arg, "/../") != NULL || strncmp(arg, "../", 3) == 0 ||
		    (n >= 3 && strcmp(arg + n - 3, "/..") == 0)) {
			errmsg(cmd, kbuf, "a path key may not contain \"..\" "
			    "(unless its directory exists, which resolves it)");
			return SB_EXIT_USAGE;
		}
		if (arg[n - 1] == '/' || strspn(arg, "/.") == n) {
			errmsg(cmd, kbuf, "a path key must name a file below a directory, "
			    "and not end with '/'");
			return SB_EXIT_USAGE;
		}
	}
	errmsg(cmd, kbuf, "invalid key: %s", sb_strerror(r));
	return SB_EXIT_USAGE;
}

/*
 * The key an argument names: a name as it is, anything with a '/' made an
 * absolute path key with sb_key_from_path(). Returns 0 or an exit code.
 */
static int
parse_key(const char *cmd, const char *arg, char *buf, size_t size)
{
	int r;

	if (strchr(arg, '/') != NULL) {
		if ((r = sb_key_from_path(arg, buf, size)) < 0)
			return bad_key(cmd, arg, NULL, r);
	} else {
		if ((r = sb_key_check(arg)) < 0)
			return bad_key(cmd, arg, arg, r);
		if (strlen(arg) >= size)
			return bad_key(cmd, arg, arg, -ENAMETOOLONG);
		strcpy(buf, arg);
	}
	return 0;
}

/* Arguments */

struct opt {
	const char	*name;		/* "--mode" */
	int		 has_arg;
	const char	*value;		/* set when seen; "" for a flag */
};

/*
 * Parse argv[1..] (argv[0] is the command): long options of opts, at most
 * npos positional arguments, then "--" and a command. Returns 0 or an exit
 * code.
 */
static int
parse_args(int argc, char **argv, struct opt *opts, const char **pos, int npos,
    int *ret_npos, char ***ret_cmd)
{
	const char *cmd = argv[0];
	int i, n = 0;

	*ret_npos = 0;
	if (ret_cmd != NULL)
		*ret_cmd = NULL;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *eq;
		struct opt *o;
		size_t len;

		if (strcmp(a, "--") == 0) {
			if (ret_cmd == NULL)
				return usage(cmd, "%s takes no command", cmd);
			if (i + 1 >= argc)
				return usage(cmd, "%s", "no command after --");
			*ret_cmd = argv + i + 1;
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			if (n >= npos)
				return usage(cmd, "unexpected argument '%s'", a);
			pos[n++] = a;
			continue;
		}
		eq = strchr(a, '=');
		len = eq != NULL ? (size_t)(eq - a) : strlen(a);
		for (o = opts; o != NULL && o->name != NULL; o++)
			if (strlen(o->name) == len && strncmp(o->name, a, len) == 0)
				break;
		if (o == NULL || o->name == NULL)
			return usage(cmd, "unknown option '%s'", a);
		if (!o->has_arg) {
			if (eq != NULL)
				return usage(cmd, "option '%s' takes no value", o->name);
			o->value = "";
		} else if (eq != NULL)
			o->value = eq + 1;
		else if (i + 1 < argc)
			o->value = argv[++i];
		else
			return usage(cmd, "option '%s' needs a value", o->name);
	}
	*ret_npos = n;
	return 0;
}

static int
parse_mode(const char *cmd, const char *s, mode_t *ret)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 8);
	if (s[0] == '\0' || *end != '\0' || errno != 0 || v > 0777 || s[0] == '-')
		return usage(cmd, "invalid mode '%s' (octal, at most 0777)", s);
	*ret = (mode_t)v;
	return 0;
}

static int
parse_group(const char *cmd, const char *s, gid_t *ret)
{
	struct group *gr;
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (s[0] != '\0' && s[0] != '-' && *end == '\0' && errno == 0 && v < UINT32_MAX) {
		*ret = (gid_t)v;
		return 0;
	}
	if ((gr = getgrnam(s)) == NULL)
		return usage(cmd, "unknown group '%s'", s);
	*ret = gr->gr_gid;
	return 0;
}

static int
parse_fd(const char *cmd, const char *s, int *ret)
{
	long v;
	char *end;

	errno = 0;
	v = strtol(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno != 0 || v < 0 || v > INT_MAX)
		return usage(cmd, "invalid fd '%s'", s);
	*ret = (int)v;
	return 0;
}

static int
print_line(const char *s)
{
	if (!quiet)
		puts(s);
	return SB_EXIT_OK;
}

/* Running a command on a socket (the systemd socket activation convention) */

/* LISTEN_FDNAMES: printable ASCII but ':', at most 255 bytes. */
static void
fdname(const char *key, char *buf, size_t size)
{
	const char *s = key;
	size_t i;

	if (key[0] == '/')
		s = strrchr(key, '/') + 1;	/* the basename of a path key */
	for (i = 0; s[i] != '\0' && i + 1 < size && i < SYSTEMD_FDNAME_MAX; i++)
		buf[i] = (s[i] > ' ' && s[i] < 0x7f && s[i] != ':') ? s[i] : '_';
	buf[i] = '\0';
}

/*
 * Put fd at target without close-on-exec, set LISTEN_*, exec cmd. Returns
 * only on failure, with an exit code.
 */
static int
exec_with_fd(const char *cmd, const char *key, int fd, int target, char **argv)
{
	char name[SYSTEMD_FDNAME_MAX + 1], pid[32];
	int e;

	if (fd != target) {
		if (dup2(fd, target) < 0) {
			errmsg(cmd, NULL, "cannot move the socket to fd %d: %s", target, strerror(errno));
			return SB_EXIT_SYSTEM;
		}
		close(fd);
	} else if (fcntl(fd, F_SETFD, 0) < 0) {
		errmsg(cmd, NULL, "fcntl: %s", strerror(errno));
		return SB_EXIT_SYSTEM;
	}
	fdname(key, name, sizeof(name));
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	if (setenv("LISTEN_FDS", "1", 1) < 0 || setenv("LISTEN_FDNAMES", name, 1) < 0 ||
	    setenv("LISTEN_PID", pid, 1) < 0) {
		errmsg(cmd, NULL, "setenv: %s", strerror(errno));
		return SB_EXIT_SYSTEM;
	}
	fflush(stdout);
	execvp(argv[0], argv);
	e = errno;
	errmsg(cmd, argv[0], "cannot execute: %s", strerror(e));
	return sb_exit_exec(e);
}

/* Commands */

/*
 * The arguments of a command that takes one KEY: options into opts, the
 * key into key (see parse_key()), a "-- CMD" into *run if run is not NULL.
 * Returns 0 or an exit code.
 */
static int
parse_key_args(const char *cmd, int argc, char **argv, struct opt *opts,
    char *key, size_t size, char ***run)
{
	const char *pos[1];
	int n, r;

	if ((r = parse_args(argc, argv, opts, pos, 1, &n, run)) != 0)
		return r;
	if (n != 1)
		return usage(cmd, "%s needs a KEY", cmd);
	return parse_key(cmd, pos[0], key, size);
}

static int
cmd_bind(int argc, char **argv)
{
	struct opt opts[] = {
		{ "--type", 1, NULL }, { "--listen", 0, NULL }, { "--mode", 1, NULL },
		{ "--group", 1, NULL }, { "--lifetime", 1, NULL }, { NULL, 0, NULL },
	};
	struct sb_bind_opts bo = SB_BIND_OPTS_INIT;
	char key[SB_PATH_LEN_MAX + 1], short_path[SB_SHORT_PATH_SIZE];
	const char *pos[1];
	char **run;
	sb_client *c;
	int n, r, fd;

	if ((r = parse_args(argc, argv, opts, pos, 1, &n, &run)) != 0)
		return r;
	if (n != 1)
		return usage("bind", "%s", "bind needs a KEY");
	if (opts[0].value != NULL) {
		if (strcmp(opts[0].value, "stream") == 0)
			bo.type = SOCK_STREAM;
		else if (strcmp(opts[0].value, "seqpacket") == 0)
			bo.type = SOCK_SEQPACKET;
		else if (strcmp(opts[0].value, "dgram") == 0)
			bo.type = SOCK_DGRAM;
		else
			return usage("bind", "invalid type '%s' (stream, seqpacket or dgram)",
			    opts[0].value);
	}
	if (opts[1].value != NULL)
		bo.flags |= SB_BIND_F_LISTEN;
	if (opts[2].value != NULL && (r = parse_mode("bind", opts[2].value, &bo.mode)) != 0)
		return r;
	if (opts[3].value != NULL && (r = parse_group("bind", opts[3].value, &bo.gid)) != 0)
		return r;
	if (opts[4].value != NULL) {
		if (strcmp(opts[4].value, "hold") == 0)
			bo.lifetime = SB_LIFETIME_HOLD;
		else if (strcmp(opts[4].value, "owner") == 0)
			bo.lifetime = SB_LIFETIME_OWNER;
		else
			return usage("bind", "invalid lifetime '%s' (hold or owner)", opts[4].value);
	} else if (run == NULL)
		bo.lifetime = SB_LIFETIME_HOLD;	/* an owner entry would die with us */
	if ((r = parse_key("bind", pos[0], key, sizeof(key))) != 0)
		return r;
	if ((r = client_open("bind", &c)) != 0)
		return r;
	if ((r = sb_bind(c, key, &bo, &fd, short_path, sizeof(short_path))) < 0) {
		const char *m = sb_client_message(c);
		char kbuf[128];

		if (sb_key_is_path(key) && (m == NULL || m[0] == '\0') && exit_code(r) == 1) {
			/* the library's own work at the path, before or after the broker */
			errmsg("bind", show_key(key, kbuf, sizeof(kbuf)), "%s%s",
			    r == -EADDRINUSE ? "something other than a symlink is in the way: " :
			    "cannot make the link at the path: ", sb_strerror(r));
			sb_client_close(c);
			return SB_EXIT_REFUSED;
		}
		r = fail_request("bind", key, c, r);
		sb_client_close(c);
		return r;
	}
	sb_client_close(c);
	if (run == NULL) {
		close(fd);
		return print_line(short_path);
	}
	return exec_with_fd("bind", key, fd, 3, run);
}

/* Is fd a socket bound at path? */
static int
bound_at(int fd, const char *path)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);

	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &len) < 0 || sun.sun_family != AF_UNIX ||
	    len <= offsetof(struct sockaddr_un, sun_path))
		return 0;
	return strncmp(sun.sun_path, path, sizeof(sun.sun_path)) == 0;
}

static int
cmd_get(int argc, char **argv)
{
	struct opt opts[] = { { "--fd", 1, NULL }, { NULL, 0, NULL } };
	char key[SB_PATH_LEN_MAX + 1], short_path[SB_SHORT_PATH_SIZE];
	char **run;
	sb_client *c;
	int r, fd, target = 3;

	if ((r = parse_key_args("get", argc, argv, opts, key, sizeof(key), &run)) != 0)
		return r;
	if (opts[0].value != NULL) {
		if (run == NULL)
			return usage("get", "%s", "--fd needs a command (-- CMD)");
		if ((r = parse_fd("get", opts[0].value, &target)) != 0)
			return r;
	}
	if ((r = client_open("get", &c)) != 0)
		return r;
	r = sb_get(c, key, &fd);
	if (r == -ENXIO && run == NULL) {
		/* an owner entry: it exists and we may see it, but holds no fd */
		r = sb_resolve(c, key, short_path, sizeof(short_path));
		if (r < 0) {
			r = fail_request("get", key, c, r);
			sb_client_close(c);
			return r;
		}
		sb_client_close(c);
		return short_path[0] != '\0' ? print_line(short_path) : SB_EXIT_OK;
	}
	if (r < 0) {
		r = fail_request("get", key, c, r);
		sb_client_close(c);
		return r;
	}
	sb_client_close(c);
	if (run != NULL)
		return exec_with_fd("get", key, fd, target, run);
	/*
	 * The short path is a pure function: no second round trip. An fd entry
	 * (put) has none: print it only if the socket is bound there.
	 */
	r = sb_short_path(root, key, short_path, sizeof(short_path)) == 0 &&
	    bound_at(fd, short_path);
	close(fd);
	return r ? print_line(short_path) : SB_EXIT_OK;
}

static int
cmd_put(int argc, char **argv)
{
	struct opt opts[] = {
		{ "--fd", 1, NULL }, { "--mode", 1, NULL }, { "--group", 1, NULL },
		{ NULL, 0, NULL },
	};
	char key[SB_PATH_LEN_MAX + 1], what[32];
	const char *pos[1];
	mode_t mode = 0;
	gid_t gid = (gid_t)-1;
	sb_client *c;
	int n, r, fd;

	if ((r = parse_args(argc, argv, opts, pos, 1, &n, NULL)) != 0)
		return r;
	if (n != 1)
		return usage("put", "%s", "put needs a NAME");
	if (opts[0].value == NULL)
		return usage("put", "%s", "put needs --fd N");
	if ((r = parse_fd("put", opts[0].value, &fd)) != 0)
		return r;
	if (opts[1].value != NULL && (r = parse_mode("put", opts[1].value, &mode)) != 0)
		return r;
	if (opts[2].value != NULL && (r = parse_group("put", opts[2].value, &gid)) != 0)
		return r;
	if (strchr(pos[0], '/') != NULL)
		return usage("put", "'%s': put stores fds under names only, not paths", pos[0]);
	if ((r = parse_key("put", pos[0], key, sizeof(key))) != 0)
		return r;
	if (fcntl(fd, F_GETFD) < 0) {
		snprintf(what, sizeof(what), "fd %d", fd);
		errmsg("put", what, "not open in this process: %s", strerror(errno));
		return SB_EXIT_USAGE;
	}
	if ((r = client_open("put", &c)) != 0)
		return r;
	if ((r = sb_put(c, key, fd, mode, gid)) < 0)
		r = fail_request("put", key, c, r);
	sb_client_close(c);
	return r;
}

static int
cmd_path(int argc, char **argv)
{
	char key[SB_PATH_LEN_MAX + 1], short_path[SB_SHORT_PATH_SIZE], rbuf[PATH_MAX];
	int r;

	if ((r = parse_key_args("path", argc, argv, NULL, key, sizeof(key), NULL)) != 0)
		return r;
	if ((r = sb_short_path(root, key, short_path, sizeof(short_path))) < 0) {
		if (root != NULL)
			snprintf(rbuf, sizeof(rbuf), "%s", root);
		else if (sb_default_root(rbuf, sizeof(rbuf)) < 0)
			snprintf(rbuf, sizeof(rbuf), "(default root)");
		if (r == -ENAMETOOLONG)
			errmsg("path", rbuf, "root too long for short paths (limit %d bytes)",
			    SB_ROOT_MAX);
		else
			errmsg("path", rbuf, "%s", sb_strerror(r));
		return SB_EXIT_USAGE;
	}
	return print_line(short_path);
}

static int
cmd_resolve(int argc, char **argv)
{
	char key[SB_PATH_LEN_MAX + 1], short_path[SB_SHORT_PATH_SIZE];
	sb_client *c;
	int r;

	if ((r = parse_key_args("resolve", argc, argv, NULL, key, sizeof(key), NULL)) != 0)
		return r;
	if ((r = client_open("resolve", &c)) != 0)
		return r;
	r = sb_resolve(c, key, short_path, sizeof(short_path));
	if (r < 0) {
		r = fail_request("resolve", key, c, r);
		sb_client_close(c);
		return r;
	}
	sb_client_close(c);
	return short_path[0] != '\0' ? print_line(short_path) : SB_EXIT_OK;
}

static int
cmd_wait(int argc, char **argv)
{
	struct opt opts[] = { { "--timeout", 1, NULL }, { NULL, 0, NULL } };
	char key[SB_PATH_LEN_MAX + 1], short_path[SB_SHORT_PATH_SIZE];
	sb_client *c;
	int r, timeout_ms = -1;

	if ((r = parse_key_args("wait", argc, argv, opts, key, sizeof(key), NULL)) != 0)
		return r;
	if (opts[0].value != NULL) {
		char *end;
		double sec;

		errno = 0;
		sec = strtod(opts[0].value, &end);
		if (opts[0].value[0] == '\0' || *end != '\0' || errno != 0 ||
		    !isfinite(sec) || sec < 0)
			return usage("wait", "invalid timeout '%s' (seconds, fractions allowed)",
			    opts[0].value);
		if (sec * 1000 >= (double)SB_WAIT_TIMEOUT_MAX_MS)
			timeout_ms = -1;	/* the longest the broker waits */
		else {
			timeout_ms = (int)(sec * 1000);
			if (timeout_ms < sec * 1000)
				timeout_ms++;	/* round up */
		}
	}
	if ((r = client_open("wait", &c)) != 0)
		return r;
	r = sb_wait(c, key, timeout_ms, short_path, sizeof(short_path));
	if (r < 0) {
		r = fail_request("wait", key, c, r);
		sb_client_close(c);
		return r;
	}
	sb_client_close(c);
	return short_path[0] != '\0' ? print_line(short_path) : SB_EXIT_OK;
}

static int
cmd_release(int argc, char **argv)
{
	char key[SB_PATH_LEN_MAX + 1];
	sb_client *c;
	int r;

	if ((r = parse_key_args("release", argc, argv, NULL, key, sizeof(key), NULL)) != 0)
		return r;
	if ((r = client_open("release", &c)) != 0)
		return r;
	if ((r = sb_release(c, key)) < 0)
		r = fail_request("release", key, c, r);
	sb_client_close(c);
	return r;
}

/* list */

struct list_entry {
	struct sb_entry_info	 info;	/* key and short_path point at our copies */
	char			*key;
	char			*short_path;
};

struct list_acc {
	struct list_entry	*v;
	size_t			 n, cap;
	int			 oom;
};

static int
list_collect(const struct sb_entry_info *e, void *userdata)
{
	struct list_acc *a = userdata;
	struct list_entry *le;

	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct list_entry *v = realloc(a->v, cap * sizeof(*v));

		if (v == NULL) {
			a->oom = 1;
			return 1;
		}
		a->v = v;
		a->cap = cap;
	}
	le = &a->v[a->n];
	le->info = *e;
	le->key = strdup(e->key != NULL ? e->key : "");
	le->short_path = e->short_path != NULL ? strdup(e->short_path) : NULL;
	if (le->key == NULL || (e->short_path != NULL && le->short_path == NULL)) {
		free(le->key);
		free(le->short_path);
		a->oom = 1;
		return 1;
	}
	a->n++;
	return 0;
}

static const char *
type_name(int type)
{
	switch (type) {
	case SOCK_STREAM:	return "stream";
	case SOCK_SEQPACKET:	return "seqpacket";
	case SOCK_DGRAM:	return "dgram";
	default:		return NULL;
	}
}

static const char *
kind_name(enum sb_kind k)
{
	return k == SB_KIND_SOCKET_ENTRY ? "socket" : k == SB_KIND_FD_ENTRY ? "fd" : "unknown";
}

static const char *
lifetime_name(enum sb_lifetime l)
{
	return l == SB_LIFETIME_HOLD ? "hold" : l == SB_LIFETIME_OWNER ? "owner" : "unknown";
}

static void
format_age(uint64_t ctime, time_t now, char *buf, size_t size)
{
	uint64_t age = (uint64_t)now > ctime ? (uint64_t)now - ctime : 0;

	if (age < 120)
		snprintf(buf, size, "%" PRIu64 "s", age);
	else if (age < 7200)
		snprintf(buf, size, "%" PRIu64 "m", age / 60);
	else if (age < 172800)
		snprintf(buf, size, "%" PRIu64 "h", age / 3600);
	else
		snprintf(buf, size, "%" PRIu64 "d", age / 86400);
}

/* Length of a valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	else if ((s[0] & 0xe0) == 0xc0)
		len = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD. */
static void
json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, len;

	if (s == NULL) {
		fputs("null", f);
		return;
	}
	n = strlen(s);
	fputc('"', f);
	while (n > 0) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else if ((len = utf8_len(p, n)) == 0)
			fputs("\\ufffd", f);
		else {
			fwrite(p, 1, len, f);
			p += len;
			n -= len;
			continue;
		}
		p++;
		n--;
	}
	fputc('"', f);
}

/*
 * list --json is printed as the entries come (a list of a million entries
 * starts at once and is never held whole): "[" at the first entry, "]" at
 * the end. A request that fails midway leaves the array unclosed and says
 * so on stderr, with a non-zero exit.
 */
struct list_json {
	size_t	 n;
	time_t	 now;
};

static int
list_json_cb(const struct sb_entry_info *e, void *userdata)
{
	struct list_json *lj = userdata;
	const char *t = type_name(e->type);

	printf("%s\n  {\"key\": ", lj->n++ ? "," : "[");
	json_string(stdout, e->key != NULL ? e->key : "");
	printf(", \"kind\": \"%s\", \"type\": ", kind_name(e->kind));
	if (t != NULL)
		printf("\"%s\"", t);
	else
		fputs("null", stdout);
	printf(", \"lifetime\": \"%s\", \"uid\": %u, \"gid\": %u, \"pid\": ",
	    lifetime_name(e->lifetime), (unsigned)e->uid, (unsigned)e->gid);
	if (e->pid > 0)
		printf("%ld", (long)e->pid);
	else
		fputs("null", stdout);
	printf(", \"mode\": \"%04o\", \"ctime\": %" PRIu64 ", \"age\": %" PRIu64 ", "
	    "\"holders\": %u, \"listening\": %s, \"short_path\": ",
	    (unsigned)e->mode, e->ctime,
	    (uint64_t)lj->now > e->ctime ? (uint64_t)lj->now - e->ctime : 0,
	    e->holders, e->listening ? "true" : "false");
	if (e->short_path != NULL)
		json_string(stdout, e->short_path);
	else
		fputs("null", stdout);
	fputs("}", stdout);
	return 0;
}

/* The PID column: the live owner process, "-" if none. */
static void
format_pid(pid_t pid, char *buf, size_t size)
{
	if (pid > 0)
		snprintf(buf, size, "%ld", (long)pid);
	else
		snprintf(buf, size, "-");
}

/*
 * One row per entry, every column as wide as its widest cell (a long key
 * is shown shortened in the middle, see show_key()), the short path last.
 */
static void
list_text(const struct list_acc *a, time_t now)
{
	char kbuf[128], age[32], pid[32], uid[32];
	int wk = 3, wu = 3, wp = 3, wa = 3, n;
	size_t i;

	for (i = 0; i < a->n; i++) {
		const struct sb_entry_info *e = &a->v[i].info;

		if ((n = (int)strlen(show_key(a->v[i].key, kbuf, sizeof(kbuf)))) > wk)
			wk = n;
		if ((n = snprintf(uid, sizeof(uid), "%lu", (unsigned long)e->uid)) > wu)
			wu = n;
		format_pid(e->pid, pid, sizeof(pid));
		if ((n = (int)strlen(pid)) > wp)
			wp = n;
		format_age(e->ctime, now, age, sizeof(age));
		if ((n = (int)strlen(age)) > wa)
			wa = n;
	}
	printf("%-*s %-6s %-9s %-8s %*s %*s %*s %s\n", wk, "KEY", "KIND", "TYPE",
	    "LIFETIME", wu, "UID", wp, "PID", wa, "AGE", "SHORT PATH");
	for (i = 0; i < a->n; i++) {
		const struct sb_entry_info *e = &a->v[i].info;
		const char *t = type_name(e->type);

		format_age(e->ctime, now, age, sizeof(age));
		format_pid(e->pid, pid, sizeof(pid));
		printf("%-*s %-6s %-9s %-8s %*lu %*s %*s %s\n", wk,
		    show_key(a->v[i].key, kbuf, sizeof(kbuf)), kind_name(e->kind),
		    t != NULL ? t : "-", lifetime_name(e->lifetime), wu, (unsigned long)e->uid,
		    wp, pid, wa, age, a->v[i].short_path != NULL ? a->v[i].short_path : "-");
	}
}

static int
cmd_list(int argc, char **argv)
{
	struct opt opts[] = { { "--json", 0, NULL }, { NULL, 0, NULL } };
	struct list_acc a = { NULL, 0, 0, 0 };
	const char *pos[1];
	sb_client *c;
	size_t i;
	int n, r;

	if ((r = parse_args(argc, argv, opts, pos, 0, &n, NULL)) != 0)
		return r;
	if ((r = client_open("list", &c)) != 0)
		return r;
	if (opts[0].value != NULL) {
		struct list_json lj = { 0, time(NULL) };

		if ((r = sb_list(c, list_json_cb, &lj)) < 0) {
			fflush(stdout);
			r = fail_request("list", NULL, c, r);
		} else {
			fputs(lj.n ? "\n]\n" : "[]\n", stdout);
			r = SB_EXIT_OK;
		}
	} else if ((r = sb_list(c, list_collect, &a)) < 0)
		r = fail_request("list", NULL, c, r);
	else if (a.oom) {
		errmsg("list", NULL, "%s", strerror(ENOMEM));
		r = SB_EXIT_SYSTEM;
	} else {
		if (!quiet)
			list_text(&a, time(NULL));
		r = SB_EXIT_OK;
	}
	sb_client_close(c);
	for (i = 0; i < a.n; i++) {
		free(a.v[i].key);
		free(a.v[i].short_path);
	}
	free(a.v);
	return r;
}

/* 3725 -> "1h 2m 5s" */
static void
format_duration(uint64_t s, char *buf, size_t size)
{
	if (s >= 86400)
		snprintf(buf, size, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m", s / 86400,
		    s % 86400 / 3600, s % 3600 / 60);
	else if (s >= 3600)
		snprintf(buf, size, "%" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", s / 3600,
		    s % 3600 / 60, s % 60);
	else if (s >= 60)
		snprintf(buf, size, "%" PRIu64 "m %" PRIu64 "s", s / 60, s % 60);
	else
		snprintf(buf, size, "%" PRIu64 "s", s);
}

static void
status_json(const struct sb_status_details *d)
{
	const struct sb_status *st = &d->status;

	fputs("{\"version\": ", stdout);
	if (d->version[0] != '\0')
		json_string(stdout, d->version);
	else
		fputs("null", stdout);
	printf(", \"protocol\": %u, \"pid\": %ld, \"root\": ", st->version, (long)st->pid);
	if (d->details)
		json_string(stdout, d->root);
	else
		fputs("null", stdout);
	printf(", \"uptime\": %" PRIu64 ", \"entries\": %u, \"clients\": %u, \"limits\": ",
	    st->uptime, st->entries, st->clients);
	if (d->details)
		printf("{\"max_clients\": %u, \"max_clients_per_uid\": %u, \"max_entries\": %u, "
		    "\"max_entries_per_uid\": %u, \"client_timeout\": %u}",
		    d->max_clients, d->max_clients_per_uid, d->max_entries, d->max_entries_per_uid,
		    d->client_timeout_ms / 1000);
	else
		fputs("null", stdout);
	fputs("}\n", stdout);
}

static void
status_text(const struct sb_status_details *d)
{
	const struct sb_status *st = &d->status;
	char up[64];

	format_duration(st->uptime, up, sizeof(up));
	printf("version: %s\nprotocol: %u\npid: %ld\n",
	    d->version[0] != '\0' ? d->version : "unknown", st->version, (long)st->pid);
	if (d->details)
		printf("root: %s\n", d->root);
	printf("uptime: %" PRIu64 "s", st->uptime);
	if (st->uptime >= 60)
		printf(" (%s)", up);
	putchar('\n');
	if (!d->details) {
		printf("entries: %u\nclients: %u\n", st->entries, st->clients);
		return;
	}
	printf("entries: %u (limit %u, %u per uid)\nclients: %u (limit %u, %u per uid)\n"
	    "client timeout: %us\n", st->entries, d->max_entries, d->max_entries_per_uid,
	    st->clients, d->max_clients, d->max_clients_per_uid, d->client_timeout_ms / 1000);
}

static int
cmd_status(int argc, char **argv)
{
	struct opt opts[] = { { "--json", 0, NULL }, { NULL, 0, NULL } };
	struct sb_status_details d;
	const char *pos[1];
	sb_client *c;
	int n, r;

	if ((r = parse_args(argc, argv, opts, pos, 0, &n, NULL)) != 0)
		return r;
	if ((r = client_open("status", &c)) != 0)
		return r;
	if ((r = sb_status_details(c, &d)) < 0) {
		r = fail_request("status", NULL, c, r);
		sb_client_close(c);
		return r;
	}
	sb_client_close(c);
	if (opts[0].value != NULL)
		status_json(&d);
	else if (!quiet)
		status_text(&d);
	return SB_EXIT_OK;
}

static int
cmd_reexec(int argc, char **argv)
{
	const char *pos[1];
	sb_client *c;
	int n, r;

	if ((r = parse_args(argc, argv, NULL, pos, 0, &n, NULL)) != 0)
		return r;
	if ((r = client_open("reexec", &c)) != 0)
		return r;
	if ((r = sb_reexec(c)) < 0)
		r = fail_request("reexec", NULL, c, r);
	sb_client_close(c);
	return r;
}

static int
cmd_exec_root(int argc, char **argv)
{
	return cmd_exec(argc, argv, root);
}

static int
cmd_explain_root(int argc, char **argv)
{
	return cmd_explain(argc, argv, root);
}

static int	cmd_help(int argc, char **argv);

/*
 * Every command, its synopsis (after "usage: sockbroker ") and what
 * "sockbroker help COMMAND" says about it. The bash completion
 * (cli/sockbroker.bash) knows the same commands and options.
 */
static const struct command {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*synopsis;
	const char	*help;
} commands[] = {
	{ "bind", cmd_bind,
	  "bind KEY [--type stream|seqpacket|dgram] [--listen] [--mode OCTAL]\n"
	  "       [--group GROUP] [--lifetime hold|owner] [-- CMD [ARG...]]",
	  "Make (or get back) the socket of KEY and print its short path; with\n"
	  "-- CMD, run CMD with the socket at fd 3 (LISTEN_FDS=1, systemd style).\n"
	  "\n"
	  "  --type TYPE          stream (default), seqpacket or dgram\n"
	  "  --listen             listen(2) on it\n"
	  "  --mode OCTAL         who may connect: owner, group, other (default 0600)\n"
	  "  --group GROUP        the group of --mode (a name or a number)\n"
	  "  --lifetime hold      the broker keeps the socket until release (the\n"
	  "                       default, but for a path key with -- CMD)\n"
	  "  --lifetime owner     released when the process that made it exits\n"
	  "                       (with -- CMD, CMD is that process)\n" },
	{ "get", cmd_get,
	  "get KEY [--fd N] [-- CMD [ARG...]]",
	  "Print the short path of KEY's socket; with -- CMD, run CMD with the held\n"
	  "socket (or fd) at fd 3, or at --fd N.\n" },
	{ "put", cmd_put,
	  "put NAME --fd N [--mode OCTAL] [--group GROUP]",
	  "Hand fd N of this process to the broker to keep under NAME (any fd, like\n"
	  "the systemd fd store); get NAME -- CMD gives it back.\n" },
	{ "path", cmd_path,
	  "path KEY",
	  "Print the short path of KEY under the root, without asking the broker (a\n"
	  "pure function of the root and the key).\n" },
	{ "resolve", cmd_resolve,
	  "resolve KEY",
	  "Print the short path of an existing entry, from the broker.\n" },
	{ "wait", cmd_wait,
	  "wait KEY [--timeout SEC]",
	  "Wait until KEY exists and is ready, then print its short path.\n"
	  "\n"
	  "  --timeout SEC        give up after SEC seconds (fractions allowed;\n"
	  "                       0: do not wait), exit 2\n" },
	{ "release", cmd_release,
	  "release KEY",
	  "Release the entry of KEY: its socket, its directory and its link.\n" },
	{ "list", cmd_list,
	  "list [--json]",
	  "List the entries this user may see: key, kind, socket type, lifetime,\n"
	  "owner uid, the pid of its live owner process (\"-\" if none), age and\n"
	  "short path.\n"
	  "\n"
	  "  --json               a JSON array, one object per entry\n" },
	{ "status", cmd_status,
	  "status [--json]",
	  "The broker's version, protocol version, pid, root, uptime, counts and\n"
	  "limits.\n"
	  "\n"
	  "  --json               one JSON object\n" },
	{ "reexec", cmd_reexec,
	  "reexec",
	  "Make the broker re-execute itself keeping every socket and client (root\n"
	  "or the broker's uid).\n" },
	{ "exec", cmd_exec_root, NULL, NULL },
	{ "explain", cmd_explain_root,
	  "explain [--mode broker|direct] [--] CMD [ARG...]",
	  "Print what the shim would rewrite in CMD's arguments, without running it:\n"
	  "the rewrite rules for CMD and their files, each socket path and its short\n"
	  "path with the rule and the role, each over-long argument left alone and\n"
	  "why, and the command line CMD would get.\n"
	  "\n"
	  "  --mode broker        short paths under the root (the default)\n"
	  "  --mode direct        /proc/self/fd/N/NAME, as without a broker\n" },
	{ "help", cmd_help,
	  "help [COMMAND]",
	  "What COMMAND does and its options; without COMMAND, every command.\n" },
};

static const struct command *
command_find(const char *name)
{
	size_t j;

	for (j = 0; j < sizeof(commands) / sizeof(commands[0]); j++)
		if (strcmp(name, commands[j].name) == 0)
			return &commands[j];
	return NULL;
}

/* The help of one command, on stdout (exit 0). */
static int
command_help(const struct command *c)
{
	char *argv[] = { (char *)"exec", (char *)"--help", NULL };

	if (c->synopsis == NULL)	/* exec has its own */
		return cmd_exec(2, argv, root);
	printf("usage: sockbroker [--root DIR] [-q] %s\n\n%s", c->synopsis, c->help);
	if (strstr(c->synopsis, "KEY") != NULL)
		fputs("\nKEY is a name ([A-Za-z0-9._:@+-], at most 200 bytes) or, if it "
		    "contains\n'/', a path (made absolute; at most 4095 bytes).\n", stdout);
	fputs("\nSee sockbroker(1).\n", stdout);
	return SB_EXIT_OK;
}

static int
cmd_help(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2) {
		fputs(usage_text, stdout);
		return SB_EXIT_OK;
	}
	if (argc > 2)
		return usage("help", "%s", "help takes one COMMAND");
	if ((c = command_find(argv[1])) == NULL)
		return usage("help", "unknown command '%s'", argv[1]);
	return command_help(c);
}

/* Does a command's argument list (up to "--") ask for its help? */
static int
wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	const struct command *c;
	int i, r;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage_text, stdout);
			return SB_EXIT_OK;
		} else if (strcmp(a, "--version") == 0) {
			printf("sockbroker %s (protocol %d)\n", PACKAGE_VERSION, SB_PROTO_VERSION);
			return SB_EXIT_OK;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)
			quiet = 1;
		else if (strcmp(a, "--root") == 0) {
			if (++i >= argc)
				return usage(NULL, "%s", "--root needs a directory");
			root = argv[i];
		} else if (strncmp(a, "--root=", 7) == 0)
			root = a + 7;
		else if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else
			return usage(NULL, "unknown option '%s'", a);
	}
	if (root != NULL && root[0] != '/')
		return usage(NULL, "--root must be an absolute path, not '%s'", root);
	if (i >= argc)
		return usage(NULL, "%s", "no command given");
	if ((c = command_find(argv[i])) == NULL)
		return usage(NULL, "unknown command '%s'", argv[i]);
	if (c->fn == cmd_exec_root)	/* its options end at CMD: it reads them */
		return cmd_exec(argc - i, argv + i, root);
	if (c->fn == cmd_explain_root)	/* so do these */
		r = cmd_explain(argc - i, argv + i, root);
	else if (wants_help(argc - i, argv + i))
		r = command_help(c);
	else
		r = c->fn(argc - i, argv + i);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		errmsg(argv[i], NULL, "cannot write the output: %s", strerror(errno));
		return SB_EXIT_SYSTEM;
	}
	return r;
}
