/* SPDX-License-Identifier: ISC */
/*
 * main.c: sockbrokerd, the AF_UNIX socket broker. Options, the runtime
 * root, adoption of inherited fds and of the state file, start and exit.
 *
 * Exit status: 0 after SIGTERM/SIGINT (or idle exit), 100 usage, 111 a
 * system error (s6 convention).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brokerd.h"
#include "sb-internal.h"
#include "sockbroker.h"

struct config cfg = {
	.root_fd = -1,
	.ready_fd = -1,
	.control_fd = -1,
	.max_clients = SB_DEFAULT_MAX_CLIENTS,
	.max_clients_per_uid = SB_DEFAULT_MAX_CLIENTS_PER_UID,
	.max_entries = SB_DEFAULT_MAX_ENTRIES,
	.max_entries_per_uid = SB_DEFAULT_MAX_ENTRIES_PER_UID,
	.client_timeout_ms = SB_DEFAULT_CLIENT_TIMEOUT_MS,
	.prepare_timeout_s = SB_DEFAULT_PREPARE_TIMEOUT_S,
	.subuid = "/etc/subuid",
};

/* --ready-fd, set aside while SOCKBROKERD_REEXEC_FDS says this may be a re-exec */
static int	 ready_fd_given = -1;

static void
usage(FILE *f, int code)
{
	fprintf(f,
	    "usage: sockbrokerd [-v] [--root DIR] [--ready-fd N] [--max-clients N]\n"
	    "                   [--max-clients-per-uid N] [--max-entries N]\n"
	    "                   [--max-entries-per-uid N] [--client-timeout SEC]\n"
	    "                   [--prepare-timeout SEC] [--idle-exit SEC]\n"
	    "                   [--fdholder PATH] [--subuid FILE] [--version] [--help]\n"
	    "Broker of AF_UNIX sockets with short paths under DIR (default: %s).\n"
	    "Exit status: 0 stopped, 100 usage, 111 system error.\n",
	    geteuid() == 0 ? "/run/sockbroker" : "$XDG_RUNTIME_DIR/sockbroker");
	exit(code);
}

static unsigned
num_arg(const char *opt, const char *s, unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max) {
		fprintf(stderr, "sockbrokerd: usage: %s needs a number from 0 to %lu, not '%s'\n",
		    opt, max, s);
		exit(EXIT_USAGE);
	}
	return (unsigned)v;
}

enum {
	O_ROOT = 256, O_READY_FD, O_MAX_CLIENTS, O_MAX_CLIENTS_UID, O_MAX_ENTRIES,
	O_MAX_ENTRIES_UID, O_CLIENT_TIMEOUT, O_PREPARE_TIMEOUT, O_IDLE_EXIT, O_FDHOLDER, O_SUBUID, O_VERSION, O_HELP,
};

static const struct option longopts[] = {
	{ "root", required_argument, NULL, O_ROOT },
	{ "ready-fd", required_argument, NULL, O_READY_FD },
	{ "max-clients", required_argument, NULL, O_MAX_CLIENTS },
	{ "max-clients-per-uid", required_argument, NULL, O_MAX_CLIENTS_UID },
	{ "max-entries", required_argument, NULL, O_MAX_ENTRIES },
	{ "max-entries-per-uid", required_argument, NULL, O_MAX_ENTRIES_UID },
	{ "client-timeout", required_argument, NULL, O_CLIENT_TIMEOUT },
	{ "prepare-timeout", required_argument, NULL, O_PREPARE_TIMEOUT },
	{ "idle-exit", required_argument, NULL, O_IDLE_EXIT },
	{ "fdholder", required_argument, NULL, O_FDHOLDER },
	{ "subuid", required_argument, NULL, O_SUBUID },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, O_VERSION },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

static void
parse_args(int argc, char **argv)
{
	const char *root = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'v': cfg.verbose = 1; break;
		case O_ROOT: root = optarg; break;
		case O_READY_FD: cfg.ready_fd = (int)num_arg("--ready-fd", optarg, INT_MAX); break;
		case O_MAX_CLIENTS: cfg.max_clients = num_arg("--max-clients", optarg, 1000000); break;
		case O_MAX_CLIENTS_UID:
			cfg.max_clients_per_uid = num_arg("--max-clients-per-uid", optarg, 1000000);
			break;
		case O_MAX_ENTRIES: cfg.max_entries = num_arg("--max-entries", optarg, 100000000); break;
		case O_MAX_ENTRIES_UID:
			cfg.max_entries_per_uid = num_arg("--max-entries-per-uid", optarg, 100000000);
			break;
		case O_CLIENT_TIMEOUT:
			cfg.client_timeout_ms = 1000 * num_arg("--client-timeout", optarg, 86400);
			if (cfg.client_timeout_ms == 0) {
				fprintf(stderr, "sockbrokerd: usage: --client-timeout must be at least 1\n");
				exit(EXIT_USAGE);
			}
			break;
		case O_PREPARE_TIMEOUT:
			cfg.prepare_timeout_s = num_arg("--prepare-timeout", optarg, 86400);
			if (cfg.prepare_timeout_s == 0) {
				fprintf(stderr, "sockbrokerd: usage: --prepare-timeout must be at "
				    "least 1\n");
				exit(EXIT_USAGE);
			}
			break;
		case O_IDLE_EXIT: cfg.idle_exit_s = num_arg("--idle-exit", optarg, 86400); break;
		case O_FDHOLDER:
			if (optarg[0] != '/' || strlen(optarg) >= SB_SUN_PATH_SIZE) {
				fprintf(stderr, "sockbrokerd: usage: --fdholder needs the absolute path "
				    "of s6-fdholderd's socket, shorter than %d bytes, not '%s'\n",
				    SB_SUN_PATH_SIZE, optarg);
				exit(EXIT_USAGE);
			}
			cfg.fdholder = optarg;
			break;
		case O_SUBUID: cfg.subuid = optarg; break;
		case O_VERSION:
			printf("sockbrokerd %s (protocol %d)\n", PACKAGE_VERSION, SB_PROTO_VERSION);
			exit(0);
		case 'h': case O_HELP: usage(stdout, 0); break;
		default: usage(stderr, EXIT_USAGE);
		}
	}
	if (optind != argc)
		usage(stderr, EXIT_USAGE);
	if (root == NULL) {
		if (sb_default_root(cfg.root, sizeof(cfg.root)) < 0)
			fatal("the default root is longer than %d bytes (the limit): use --root",
			    SB_ROOT_MAX);
	} else if (strlen(root) >= sizeof(cfg.root)) {
		fatal("the root %.200s is %zu bytes long: the limit is %d bytes (its short paths "
		    "must fit in %d)", root, strlen(root), SB_ROOT_MAX, SB_SUN_PATH_SIZE - 1);
	} else
		snprintf(cfg.root, sizeof(cfg.root), "%s", root);
	if (reexec_pending()) {
		cfg.reexec = 1;		/* readiness was told by the first image */
		ready_fd_given = cfg.ready_fd;
		cfg.ready_fd = -1;
	}
	if (cfg.ready_fd >= 0 && fcntl(cfg.ready_fd, F_GETFD) < 0) {
		fprintf(stderr, "sockbrokerd: usage: --ready-fd %d is not an open fd\n", cfg.ready_fd);
		exit(EXIT_USAGE);
	}
}

/* Check (and make) the root; keep an fd of it for every later *at() call. */
static void
root_setup(void)
{
	char buf[SB_SHORT_PATH_SIZE];
	const char *root;
	struct stat st;
	size_t len;

	/* trailing slashes go, as every client trims them (sb_root_get) */
	if (sb_root_get(cfg.root, buf, &root, &len) < 0)
		fatal("the root %s is not an absolute path", cfg.root);
	cfg.root[len] = '\0';
	cfg.root_len = len;
	if (len > SB_ROOT_MAX)
		fatal("the root %s is %zu bytes long: the limit is %d bytes (its short paths "
		    "must fit in %d)", cfg.root, len, SB_ROOT_MAX, SB_SUN_PATH_SIZE - 1);
	if (mkdir(cfg.root, 0755) < 0 && errno != EEXIST)
		fatal("unable to create the root %s: %s", cfg.root, strerror(errno));
	cfg.root_fd = open(cfg.root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cfg.root_fd < 0 && (errno == ELOOP || errno == ENOTDIR) &&
	    lstat(cfg.root, &st) == 0 && S_ISLNK(st.st_mode))
		fatal("the root %s is a symlink: it must be a directory of uid %lu, not writable "
		    "by group or others", cfg.root, (unsigned long)geteuid());
	if (cfg.root_fd < 0)
		fatal("unable to open the root %s: %s", cfg.root, strerror(errno));
	if (fstat(cfg.root_fd, &st) < 0)
		fatal("unable to stat the root %s: %s", cfg.root, strerror(errno));
	if (st.st_uid != geteuid())
		fatal("the root %s is owned by uid %lu: it must be owned by the broker's uid %lu",
		    cfg.root, (unsigned long)st.st_uid, (unsigned long)geteuid());
	if (st.st_mode & 022)
		fatal("the root %s has mode %04o: it must not be writable by group or others "
		    "(0755 at most)", cfg.root, (unsigned)(st.st_mode & 07777));
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("unable to raise the fd limit: %s", strerror(errno));
	}
}

static int
is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static int	is_entry_id(const char *name);

/* A prepared hold entry: its client's socket lives in its directory. */
static int
needs_dir(const struct entry *e)
{
	return e->kind == SB_KIND_SOCKET && !(e->flags & EF_HELD) && e->lifetime != SB_LT_OWNER;
}

/*
 * Match the state file with the fds that came back (fd store or re-exec)
 * and the processes still alive. Entries whose fd or process is gone are
 * reported and cleaned, never left half-alive. Each adopted fd is looked
 * up by its name (an entry's id) once: linear in entries + fds.
 */
static void
reconcile(struct adopted *fds, size_t nfds)
{
	struct entry *e, *next;
	size_t i;
	int fd;

	/*
	 * After a re-exec the table is the one the previous image served
	 * with, directories and all: nothing to look for (a readdir of every
	 * fan-out directory and a lookup per entry, 40% of a re-exec with
	 * 100,000 entries, bench/README). A start after a stop looks, once
	 * it serves (dirs_check_step()).
	 */
	if (!cfg.reexec)
		entry_dirs_check_begin();
	/*
	 * Hand each named fd to its entry (the first of a name wins). The
	 * service manager's fds are in its store; a re-exec says which are.
	 */
	for (i = 0; i < nfds; i++)
		if (fds[i].fd >= 0 && is_entry_id(fds[i].name) &&
		    (e = entry_by_id(fds[i].name)) != NULL && e->fd < 0) {
			e->fd = fds[i].fd;
			fds[i].fd = -1;
			if (cfg.reexec ? fds[i].arg != NULL && strcmp(fds[i].arg, "fdstore") == 0 : 1)
				systemd_fdstore_kept(e);
		}
	for (e = entry_first(); e != NULL; e = next) {
		next = e->next;
		fd = e->fd;
		e->fd = -1;
		if (e->kind == SB_KIND_FD || (e->flags & EF_HELD)) {
			/*
			 * A re-exec's fd is the one the previous image held for
			 * this entry (reexec_adopt() found it open): an fstat
			 * each was 6 ms of a re-exec with 4,000 held sockets.
			 */
			if (fd >= 0 && (e->kind == SB_KIND_FD || cfg.reexec || is_socket(fd))) {
				e->fd = fd;
				log_debug("entry %s: held fd back", e->key);
				continue;
			}
			if (fd >= 0)
				close(fd);
			log_info("entry %s: the previous broker held its %s and it did not come "
			    "back: released", e->key, e->kind == SB_KIND_FD ? "fd" : "socket");
			entry_destroy(e, "fd gone");
			continue;
		}
		if (fd >= 0) {
			close(fd);
			systemd_fdstore_remove(e);	/* no fd of a non-held entry is kept */
		}
		if (e->lifetime == SB_LT_OWNER) {
			if (proc_adopt(e) == 0 || linger_adopt(e) == 0)
				continue;
			log_info("entry %s: its process %ld is gone: released", e->key, (long)e->pid);
			entry_destroy(e, "process gone");
			continue;
		}
		/* prepared hold entry (needs_dir): its directory is looked for after READY */
		if (!cfg.reexec)
			entry_dir_check_mark(e);
	}
	for (i = 0; i < nfds; i++)
		if (fds[i].fd >= 0 && (strcmp(fds[i].name, "peer") == 0 ||
		    strcmp(fds[i].name, "wait") == 0)) {
			server_adopt_peer(fds[i].fd, fds[i].arg);
			fds[i].fd = -1;
		}
	for (i = 0; i < nfds; i++)
		if (fds[i].fd >= 0 && fds[i].fd != cfg.control_fd) {
			log_info("an inherited fd named '%s' matches no entry: closed", fds[i].name);
			systemd_fdstore_remove_name(fds[i].name);
			close(fds[i].fd);
			fds[i].fd = -1;
		}
}

/*
 * The start's check of the prepared entries' directories, a step at a time
 * on the event loop once the broker serves (a start with 100,000 entries
 * spent 50 of its 160 ms to READY there): one fan-out directory a step,
 * then the entries whose directory is gone are released. 1 while there is
 * more to do.
 */
static int
dirs_check_step(void)
{
	struct entry *e, *next;

	if (entry_dirs_check_step())
		return 1;
	for (e = entry_first(); e != NULL; e = next) {
		next = e->next;
		if (entry_dir_checked(e, needs_dir))
			continue;
		log_info("entry %s: its directory is gone: released", e->key);
		entry_destroy(e, "directory gone");
	}
	return 0;
}

/* A re-exec's snapshot of the table among the inherited fds (taken from them), or -1. */
static int
take_snapshot(struct adopted *fds, size_t nfds)
{
	size_t i;
	int fd = -1;

	for (i = 0; i < nfds; i++)
		if (fds[i].fd >= 0 && cfg.reexec && strcmp(fds[i].name, REEXEC_STATE_NAME) == 0) {
			if (fd >= 0)
				close(fd);
			fd = fds[i].fd;
			fds[i].fd = -1;
		}
	return fd;
}

/* After a re-exec: the journal rewritten once the broker serves. */
static int
compact_step(void)
{
	if (state_compact_wanted() && state_compact() < 0)
		log_warn("unable to compact the state in %s: carrying on with the journal as "
		    "it is", cfg.root);
	return 0;
}

static int
is_entry_id(const char *name)
{
	return strlen(name) == ENTRY_ID_LEN &&
	    strspn(name, "0123456789abcdefghijklmnopqrstuv") == ENTRY_ID_LEN;
}

/* Pick the control socket among the inherited fds. */
static void
pick_control(struct adopted *fds, size_t nfds)
{
	size_t i;
	int type, acc = 0;
	socklen_t len = sizeof(type), alen = sizeof(acc);

	for (i = 0; i < nfds && cfg.control_fd < 0; i++)
		if (strcmp(fds[i].name, SB_CONTROL_NAME) == 0)
			cfg.control_fd = fds[i].fd;
	/* an unnamed socket unit: the first fd, if it is not an entry's */
	if (cfg.control_fd < 0 && nfds > 0 && !is_entry_id(fds[0].name))
		cfg.control_fd = fds[0].fd;
	if (cfg.control_fd < 0)
		return;
	if (getsockopt(cfg.control_fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_SEQPACKET ||
	    getsockopt(cfg.control_fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) < 0 || !acc)
		fatal("the inherited control socket (fd %d) is not a listening SOCK_SEQPACKET "
		    "socket", cfg.control_fd);
	for (i = 0; i < nfds; i++)
		if (fds[i].fd == cfg.control_fd)
			fds[i].fd = -1;
}

static void
cloexec(int fd, int on)
{
	fcntl(fd, F_SETFD, on ? FD_CLOEXEC : 0);
}

/*
 * Execute ourselves again keeping the control socket (its queue keeps
 * accepting connections: no window in which clients are refused) and every
 * held fd. Returns only if that failed; the broker then carries on.
 */
static void
reexec_self(void)
{
	struct entry *e;
	int mfd, sfd;

	/* the next image does not look: the check of this start ends here */
	while (entry_dirs_check_pending() && dirs_check_step())
		;
	/*
	 * The next image loads the table from a snapshot (state_snapshot()),
	 * and rewrites a journal of records to drop once it serves: here the
	 * journal is rewritten only if it misses something (an image that
	 * does not take the snapshot loads the journal). Writing it again
	 * every time was a tenth of a re-exec with 100,000 entries.
	 */
	if (state_journal_stale())
		state_compact();
	if ((mfd = reexec_begin()) < 0) {
		log_warn("unable to re-execute: memfd: %s", strerror(-mfd));
		return;
	}
	if ((sfd = state_snapshot()) >= 0) {
		reexec_put(sfd, REEXEC_STATE_NAME, NULL);
		cloexec(sfd, 0);
	} else
		log_warn("unable to write the table's snapshot: the next image loads %s/state: %s",
		    cfg.root, strerror(-sfd));
	reexec_put(server_control_fd(), SB_CONTROL_NAME, NULL);
	cloexec(server_control_fd(), 0);
	for (e = entry_first(); e != NULL; e = e->next)
		if (e->fd >= 0) {
			reexec_put(e->fd, e->id, e->in_fdstore ? "fdstore" : NULL);
			cloexec(e->fd, 0);
		}
	server_reexec_peers();
	reexec_exec(mfd, cfg.argv);
	cloexec(server_control_fd(), 1);
	for (e = entry_first(); e != NULL; e = e->next)
		if (e->fd >= 0)
			cloexec(e->fd, 1);
	if (sfd >= 0)
		close(sfd);
	server_reexec_failed();
}

/* What entry.c calls when an entry goes, in the layers above it */
static const struct entry_ops entry_ops = {
	.gone = server_entry_gone,
	.untrack = proc_untrack,
	.fdstore_remove = systemd_fdstore_remove,
	.journal_del = state_del,
	.stats_changed = server_stats_changed,
};

int
main(int argc, char **argv)
{
	struct adopted *fds = NULL;
	size_t nfds = 0, i;
	int sfd;

	cfg.argv = argv;
	log_init();
	signal(SIGPIPE, SIG_IGN);
	umask(0);
	parse_args(argc, argv);
	root_setup();
	raise_nofile();
	systemd_init();
	if (reexec_adopt(&fds, &nfds) == 1) {
		/*
		 * No handover of ours (none, or one reexec_adopt() refused: a
		 * stale SOCKBROKERD_REEXEC_FDS in a fresh start's environment):
		 * a start like any, whose fds are checked as a start's are.
		 */
		if (cfg.reexec && ready_fd_given >= 0 && fcntl(ready_fd_given, F_GETFD) >= 0)
			cfg.ready_fd = ready_fd_given;
		cfg.reexec = 0;
		if (systemd_adopt(&fds, &nfds) < 0)
			fatal("unable to take over the inherited fds");
	}
	fdholder_adopt(&fds, &nfds);
	pick_control(fds, nfds);
	persons_load(cfg.subuid);
	if (cleaner_init() < 0)
		log_warn("unable to start the cleaner thread: entry directories are removed "
		    "on the event loop");
	entries_init();
	entries_set_ops(&entry_ops);
	server_init(&request_ops);
	if (track_init() < 0)
		fatal("unable to allocate events");
	sfd = take_snapshot(fds, nfds);
	state_load(sfd);
	if (sfd >= 0)
		close(sfd);
	reconcile(fds, nfds);
	for (i = 0; i < nfds; i++)
		free(fds[i].arg);
	free(fds);
	/*
	 * A full file system: go on, read-only for changes until it can be
	 * written. After a re-exec, once the broker serves.
	 */
	if (state_compact_wanted()) {
		if (cfg.reexec)
			server_defer(compact_step);
		else if (state_compact() < 0)
			log_warn("unable to compact the state in %s: carrying on with the journal "
			    "as it is", cfg.root);
	}
	fdholder_sync(server_control_fd());
	if (entry_dirs_check_pending())
		server_defer(dirs_check_step);
	server_start();
	while (server_run())
		reexec_self();
	/* a control socket the s6-fdholderd keeps stays: the next broker serves it */
	if (!fdholder_keeps_control())
		server_remove_control();
	state_close();
	log_info("stopped");
	return 0;
}
