/* SPDX-License-Identifier: ISC */
/*
 * exec.c: sockbroker exec [--mode broker|direct|auto] [--shim PATH] -- CMD [ARG...]
 *
 * Runs CMD with the shim preloaded (LD_PRELOAD, prepended to any there
 * is) and SOCKBROKER_MODE/SOCKBROKER_ROOT set. A program the preload
 * cannot reach (a static ELF executable: no PT_INTERP) has its socket
 * arguments rewritten here, with the shim's own rewriter: in direct mode
 * to /proc/self/fd/N/<basename> on a directory fd that stays open across
 * exec; in broker mode to the short path, after asking the broker to
 * prepare the entry for a listening path (the entry belongs to this pid,
 * which CMD keeps).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "rewrite.h"
#include "sb-internal.h"
#include "sockbroker.h"

#ifndef SB_PKGLIBDIR
#define SB_PKGLIBDIR "/usr/local/lib/sockbroker"
#endif
#define SHIM_NAME "libsockbroker-shim.so"

static const char exec_usage[] =
    "usage: sockbroker exec [--mode broker|direct|auto] [--shim PATH] [--] CMD [ARG...]\n"
    "\n"
    "Run CMD with the shim (LD_PRELOAD): its socket paths longer than 108 bytes\n"
    "work. A static program has its arguments rewritten to short paths instead.\n"
    "\n"
    "  --mode broker|direct|auto  through the broker, /proc/self/fd paths, or\n"
    "                             the broker if one answers (SOCKBROKER_MODE)\n"
    "  --shim PATH                the shim library (SOCKBROKER_SHIM)\n"
    "\n"
    "Exit: that of CMD; 100 usage, 111 system error, 126 CMD cannot be executed,\n"
    "127 CMD not found.\n";

struct exec_ctx {
	const char	*root;
	const char	*mode;		/* "broker" or "direct" once decided */
	sb_client	*client;
	int		 debug;
	int		 failed;
};

/* Find CMD the way execvp does; NULL if it is nowhere. */
static const char *
find_program(const char *cmd, char *buf, size_t size)
{
	const char *path = getenv("PATH"), *p, *end;
	struct stat st;
	int n;

	if (strchr(cmd, '/') != NULL)
		return cmd;
	if (path == NULL || path[0] == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; ; p = end + 1) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		n = snprintf(buf, size, "%.*s%s%s", (int)(end - p), p, end > p ? "/" : "", cmd);
		if (n > 0 && (size_t)n < size && stat(buf, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(buf, X_OK) == 0)
			return buf;
		if (*end == '\0')
			return NULL;
	}
}

/*
 * Is path a static ELF executable (no program interpreter, so LD_PRELOAD
 * is never read)? 1 yes, 0 no (dynamic, a script, unreadable).
 */
static int
is_static_elf(const char *path)
{
	unsigned char ident[EI_NIDENT], ph[sizeof(Elf64_Phdr)];
	uint64_t phoff = 0;
	size_t phsize = 0, i;
	unsigned phnum = 0, type = 0;
	uint32_t pt;
	int fd, r = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	if (pread(fd, ident, sizeof(ident), 0) != (ssize_t)sizeof(ident) ||
	    memcmp(ident, ELFMAG, SELFMAG) != 0)
		goto out;
	/* the two classes differ in their headers; p_type opens a program header in both */
	if (ident[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr eh;

		if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
		    eh.e_phentsize != sizeof(Elf64_Phdr))
			goto out;
		type = eh.e_type;
		phoff = eh.e_phoff;
		phsize = eh.e_phentsize;
		phnum = eh.e_phnum;
	} else if (ident[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr eh;

		if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
		    eh.e_phentsize != sizeof(Elf32_Phdr))
			goto out;
		type = eh.e_type;
		phoff = eh.e_phoff;
		phsize = eh.e_phentsize;
		phnum = eh.e_phnum;
	} else
		goto out;
	_Static_assert(offsetof(Elf64_Phdr, p_type) == 0 && offsetof(Elf32_Phdr, p_type) == 0,
	    "p_type first");
	r = type == ET_EXEC || type == ET_DYN;
	for (i = 0; r && i < phnum; i++) {
		r = pread(fd, ph, phsize, (off_t)(phoff + i * phsize)) == (ssize_t)phsize;
		memcpy(&pt, ph, sizeof(pt));
		if (r && pt == PT_INTERP)
			r = 0;
	}
out:
	close(fd);
	return r;
}

/* Direct mode for a static program: a directory fd that survives exec. */
static int
exec_map_direct(const char *key, char *out, size_t size)
{
	char dir[PATH_MAX];
	const char *base;
	int fd, len;

	if ((fd = sb_key_dir(key, dir, sizeof(dir), &base)) < 0)
		return fd;
	if ((fd = open(dir, O_PATH | O_DIRECTORY)) < 0) {	/* no O_CLOEXEC: for CMD */
		fprintf(stderr, "sockbroker: exec: unable to open the directory of '%s': %s\n",
		    key, strerror(errno));
		return -errno;
	}
	len = snprintf(out, size, "/proc/self/fd/%d/%s", fd, base);
	if (len < 0 || (size_t)len >= size || len >= SBRW_SUN_PATH_MAX) {
		fprintf(stderr, "sockbroker: exec: '%s': name too long for direct mode "
		    "(the limit is %d bytes with /proc/self/fd/%d/)\n", key, SBRW_SUN_PATH_MAX - 1, fd);
		close(fd);
		return -ENAMETOOLONG;
	}
	return 0;
}

static int
exec_map(void *vctx, const char *long_path, enum sbrw_role role, char *out, size_t size)
{
	struct exec_ctx *ctx = vctx;
	char key[PATH_MAX];
	int r;

	if ((r = sb_key_from_path(long_path, key, sizeof(key))) < 0) {
		fprintf(stderr, "sockbroker: exec: '%s' is not a usable socket path: %s\n",
		    long_path, sb_strerror(r));
		ctx->failed = 1;
		return r;
	}
	if (strcmp(ctx->mode, "direct") == 0)
		r = exec_map_direct(key, out, size);
	/*
	 * Views: the link at the long path, in this view, names the key's
	 * short path when the key is bound here (a client, a restarted
	 * server); otherwise the one a claim from here gets: never a view
	 * 0 held by another view (the host's), to which a static program,
	 * out of the shim's reach, would connect (sockbrokerd(8), views).
	 */
	else if ((r = sb_short_path_here(ctx->root, key, out, size)) < 0)
		fprintf(stderr, "sockbroker: exec: no short path for '%s': %s\n", key, sb_strerror(r));
	else if (r = 0, role == SBRW_ROLE_SERVER ||
	    (role == SBRW_ROLE_ANY && access(out, F_OK) < 0 && errno == ENOENT)) {
		/* a listener (or, when in doubt, a path nobody serves yet) */
		struct sb_bind_opts opts = SB_BIND_OPTS_INIT;
		char given[SB_SHORT_PATH_SIZE];
		int held = -1;

		opts.flags = SB_BIND_F_PREPARE;
		opts.lifetime = SB_LIFETIME_OWNER;
		/* the broker's reply names the short path (another view's claim: its own) */
		if ((r = sb_bind(ctx->client, key, &opts, &held, given, sizeof(given))) < 0)
			fprintf(stderr, "sockbroker: exec: unable to prepare '%s': %s%s%s\n", key,
			    sb_strerror(r), sb_client_message(ctx->client)[0] != '\0' ? ": " : "",
			    sb_client_message(ctx->client));
		if (held >= 0)
			close(held);
		if (r >= 0 && strlen(given) < size)
			strcpy(out, given);
	}
	if (r < 0) {
		ctx->failed = 1;
		return r;
	}
	return 0;
}

static void
exec_rules_error(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "sockbroker: exec: %s\n", msg);
}

static void
exec_report(void *vctx, const struct sbrw_event *ev)
{
	struct exec_ctx *ctx = vctx;

	if (!ctx->debug)
		return;
	if (ev->short_path != NULL)
		fprintf(stderr, "sockbroker: exec: rewrote '%s' -> '%s' (%s, %s)\n", ev->long_path,
		    ev->short_path, ev->rule != NULL ? ev->rule->origin : "an existing socket",
		    sbrw_role_name(ev->role));
	else
		fprintf(stderr, "sockbroker: exec: left argument %d '%s' alone: %s%s%s%s\n",
		    ev->argi, ev->arg, ev->why, ev->rule != NULL ? " (" : "",
		    ev->rule != NULL ? ev->rule->origin : "", ev->rule != NULL ? ")" : "");
}

/* Rewrite argv of a static program itself. 0, or an exit code. */
static int
rewrite_static(char **argv, int argc, const char *mode, const char *root)
{
	static struct sbrw_rules rules;
	struct exec_ctx ctx = { root, mode, NULL, 0, 0 };
	const struct sbrw_ops ops = { exec_map, exec_report, NULL, sbrw_stat_is_socket, &ctx };
	const char *dbg = getenv("SOCKBROKER_DEBUG"), *spec, *prog;
	int r;

	if (!sbrw_candidates(argc, argv))
		return 0;
	ctx.debug = dbg != NULL && dbg[0] != '\0' && strcmp(dbg, "0") != 0;
	prog = sbrw_program(argv[0]);
	rules.n = 0;
	if ((spec = getenv("SOCKBROKER_REWRITE")) != NULL &&
	    sbrw_rules_add_text(&rules, prog, spec, strlen(spec), 1, "SOCKBROKER_REWRITE",
	    exec_rules_error, NULL) > 0)
		return SB_EXIT_USAGE;
	sbrw_rules_load(&rules, prog, sbrw_dirs(), exec_rules_error, NULL);
	if (strcmp(mode, "direct") != 0) {
		const char *env = getenv("SOCKBROKER_ROOT");

		r = sb_client_open(root, &ctx.client);
		/*
		 * A service user with no broker of its own uses the system one,
		 * as the shim does (sockbroker-shim(8), Finding the broker).
		 */
		if (r < 0 && root == NULL && (env == NULL || env[0] == '\0') && geteuid() != 0 &&
		    sb_client_open(SB_SYSTEM_ROOT, &ctx.client) == 0) {
			r = 0;
			ctx.root = SB_SYSTEM_ROOT;
		}
		if (r < 0 && strcmp(mode, "broker") == 0) {
			fprintf(stderr, "sockbroker: exec: unable to reach the broker: %s\n",
			    sb_strerror(r));
			return SB_EXIT_SYSTEM;
		}
		ctx.mode = r < 0 ? "direct" : "broker";
	}
	sbrw_argv(argc, argv, &rules, &ops);
	sb_client_close(ctx.client);
	return ctx.failed ? SB_EXIT_SYSTEM : 0;
}

int
cmd_exec(int argc, char **argv, const char *root)
{
	char progbuf[PATH_MAX], *preload;
	const char *mode = NULL, *shim = NULL, *prog, *old;
	size_t n;
	int i, r;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
			mode = argv[++i];
		else if (strncmp(argv[i], "--mode=", 7) == 0)
			mode = argv[i] + 7;
		else if (strcmp(argv[i], "--shim") == 0 && i + 1 < argc)
			shim = argv[++i];
		else if (strncmp(argv[i], "--shim=", 7) == 0)
			shim = argv[i] + 7;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(exec_usage, stdout);
			return SB_EXIT_OK;
		} else {
			fprintf(stderr, "sockbroker: exec: unknown option '%s'\n%s", argv[i], exec_usage);
			return SB_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		fputs(exec_usage, stderr);
		return SB_EXIT_USAGE;
	}
	if (mode != NULL && strcmp(mode, "broker") != 0 && strcmp(mode, "direct") != 0 &&
	    strcmp(mode, "auto") != 0) {
		fprintf(stderr, "sockbroker: exec: --mode must be broker, direct or auto, not '%s'\n",
		    mode);
		return SB_EXIT_USAGE;
	}
	if (shim == NULL && (shim = getenv("SOCKBROKER_SHIM")) == NULL)
		shim = SB_PKGLIBDIR "/" SHIM_NAME;
	if (access(shim, R_OK) < 0) {
		fprintf(stderr, "sockbroker: exec: unable to use the shim '%s': %s\n", shim,
		    strerror(errno));
		return SB_EXIT_SYSTEM;
	}
	if (strchr(shim, ' ') != NULL || strchr(shim, ':') != NULL) {
		fprintf(stderr, "sockbroker: exec: the shim path '%s' may not contain ' ' or ':' "
		    "(LD_PRELOAD separators)\n", shim);
		return SB_EXIT_USAGE;
	}

	/* the environment CMD and its children see */
	old = getenv("LD_PRELOAD");
	n = strlen(shim) + (old != NULL ? strlen(old) : 0) + 2;
	if ((preload = malloc(n)) == NULL) {
		fprintf(stderr, "sockbroker: exec: out of memory\n");
		return SB_EXIT_SYSTEM;
	}
	snprintf(preload, n, "%s%s%s", shim, old != NULL && old[0] != '\0' ? ":" : "",
	    old != NULL ? old : "");
	if (setenv("LD_PRELOAD", preload, 1) < 0 ||
	    (mode != NULL && setenv("SOCKBROKER_MODE", mode, 1) < 0) ||
	    (root != NULL && setenv("SOCKBROKER_ROOT", root, 1) < 0)) {
		fprintf(stderr, "sockbroker: exec: unable to set the environment: %s\n",
		    strerror(errno));
		free(preload);
		return SB_EXIT_SYSTEM;
	}
	free(preload);

	prog = find_program(argv[i], progbuf, sizeof(progbuf));
	if (prog != NULL && is_static_elf(prog)) {
		if (mode == NULL && (mode = getenv("SOCKBROKER_MODE")) == NULL)
			mode = "auto";
		if ((r = rewrite_static(argv + i, argc - i, mode, root)) != 0)
			return r;
	}
	execvp(argv[i], argv + i);
	r = errno;
	fprintf(stderr, "sockbroker: exec: unable to run '%s': %s\n", argv[i], strerror(r));
	return sb_exit_exec(r);
}
