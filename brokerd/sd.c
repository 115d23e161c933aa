/* SPDX-License-Identifier: ISC */
/*
 * sd.c: systemd integration, the only file using libsystemd: socket
 * activation, readiness and status, the watchdog, the fd store. Built
 * without libsystemd, activation still works (LISTEN_FDS is parsed by
 * hand) and the rest does nothing.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "brokerd.h"

/*
 * May fd go to a holder that closes fds synchronously? systemd (v252 closes
 * a stored fd with close(2) in PID 1, on FDSTOREREMOVE=1 or EPOLLHUP) and
 * s6-fdholderd (one thread) do: a user's lingering TCP socket or a file on
 * its FUSE mount would stall them. Of other uids, only fds whose close
 * never blocks go: AF_UNIX sockets (every socket the broker makes, most
 * that users put) and pipes, which can also be polled. Root's and the
 * broker's own uid's fds (a user broker's user) go whatever they are.
 * An AF_UNIX socket's close does block when fds that linger are queued
 * in it: on a release the closer waits for the manager to drop its copy
 * before the broker's (closer_close_held), so the manager's is not the
 * last; s6-fdholderd is not waited for.
 */
static int
close_never_blocks(const struct entry *e)
{
	int domain, fd = e->fd;
	socklen_t len = sizeof(domain);

	if (e->uid == 0 || e->uid == geteuid())
		return 1;
	/* no fstat: on a file of a client's FUSE mount it could wait */
	if (fcntl(fd, F_GETPIPE_SZ) > 0)
		return 1;
	return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX;
}

#define LISTEN_FDS_START	3
#define ADOPT_MAX		(1 << 20)

static int	notify;		/* NOTIFY_SOCKET is set */
static unsigned	fdstore_n;	/* entries with in_fdstore */
static unsigned	fdstore_max = FDSTORE_MAX;

static int
adopt_fill(struct adopted **ret, size_t *ret_n, int n, char **names)
{
	struct adopted *a;
	int i;

	if (n <= 0)
		return 0;
	if (n > ADOPT_MAX || (a = calloc((size_t)n, sizeof(*a))) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		a[i].fd = LISTEN_FDS_START + i;
		snprintf(a[i].name, sizeof(a[i].name), "%s",
		    names != NULL && names[i] != NULL ? names[i] : "unknown");
		fcntl(a[i].fd, F_SETFD, FD_CLOEXEC);
	}
	*ret = a;
	*ret_n = (size_t)n;
	log_info("took over %d inherited fds", n);
	return 0;
}

#ifdef HAVE_SYSTEMD

/* Before anything else (a re-executed broker too): the notify socket, the fd store's size. */
void
systemd_init(void)
{
	const char *env = getenv("FDSTORE");
	unsigned long v;
	char *end;

	notify = getenv("NOTIFY_SOCKET") != NULL;
	if (env != NULL) {
		errno = 0;
		v = strtoul(env, &end, 10);
		if (errno == 0 && end != env && *end == '\0' && v < fdstore_max)
			fdstore_max = (unsigned)v;
	}
}

int
systemd_adopt(struct adopted **ret, size_t *ret_n)
{
	char **names = NULL;
	int n, i, r;

	if ((n = sd_listen_fds_with_names(1, &names)) < 0) {
		log_warn("unable to read LISTEN_FDS: %s", strerror(-n));
		return 0;
	}
	r = adopt_fill(ret, ret_n, n, names);
	for (i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

void
systemd_ready(void)
{
	sd_notify(0, "READY=1");
}

void
systemd_status(unsigned entries, unsigned clients)
{
	if (notify)
		sd_notifyf(0, "STATUS=%u entries, %u clients", entries, clients);
}

void
systemd_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

uint64_t
systemd_watchdog_usec(void)
{
	uint64_t usec = 0;

	return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

void
systemd_watchdog_ping(void)
{
	sd_notify(0, "WATCHDOG=1");
}

/*
 * Store the fd of e with the service manager, while the store has room:
 * past fdstore_max, one warning, and e (like the next ones) is held but
 * not stored: it survives a re-exec, not a restart of the service.
 */
void
systemd_fdstore_add(struct entry *e)
{
	static int warned;
	char msg[64];
	int fd = e->fd, r;

	if (fd >= 0 && !close_never_blocks(e)) {
		log_debug("the fd of %s (uid %lu) is neither an AF_UNIX socket nor a pipe: kept by "
		    "the broker alone (its close could block the fd store; a restart releases "
		    "it)", e->key, (unsigned long)e->uid);
		return;
	}
	fdholder_store(e);
	if (!notify || fd < 0 || e->in_fdstore)
		return;
	if (fdstore_n >= fdstore_max) {
		if (!warned++)
			log_warn("the service manager's fd store is full (%u fds, the most whose "
			    "names fit in LISTEN_FDNAMES or $FDSTORE): the socket of %s and of the "
			    "next held entries is not stored; they survive a re-exec, and a restart "
			    "of the service releases them", fdstore_max, e->key);
		return;
	}
	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", e->id);
	if ((r = sd_pid_notify_with_fds(0, 0, msg, &fd, 1)) <= 0) {
		log_warn("unable to store the fd of %s with the service manager: %s", e->key,
		    r < 0 ? strerror(-r) : "no notify socket");
		return;
	}
	e->in_fdstore = 1;
	fdstore_n++;
}

/* The fd of e came back from the fd store (or a re-exec says it is there). */
void
systemd_fdstore_kept(struct entry *e)
{
	if (!notify || e->in_fdstore)
		return;
	e->in_fdstore = 1;
	fdstore_n++;
}

void
systemd_fdstore_remove_name(const char *name)
{
	fdholder_delete_name(name);
	if (notify)
		sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=%s", name);
}

void
systemd_fdstore_remove(struct entry *e)
{
	fdholder_delete(e);
	if (!e->in_fdstore)
		return;
	if (notify)
		sd_notifyf(0, "FDSTOREREMOVE=1\nFDNAME=%s", e->id);
	e->in_fdstore = 0;
	fdstore_n--;
}

#else /* !HAVE_SYSTEMD */

/* LISTEN_FDS by hand: LISTEN_PID must be ours. */
int
systemd_adopt(struct adopted **ret, size_t *ret_n)
{
	const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	char **v = NULL, *copy = NULL, *tok, *save;
	long n;
	int i = 0, r;

	if (pid == NULL || nfds == NULL || strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	n = strtol(nfds, NULL, 10);
	if (n <= 0 || n > ADOPT_MAX)
		return 0;
	if (names != NULL && (copy = strdup(names)) != NULL &&
	    (v = calloc((size_t)n, sizeof(*v))) != NULL)
		for (tok = strtok_r(copy, ":", &save); tok != NULL && i < n;
		    tok = strtok_r(NULL, ":", &save))
			v[i++] = tok;
	r = adopt_fill(ret, ret_n, (int)n, v);
	free(v);
	free(copy);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return r;
}

void systemd_init(void) {}
void systemd_ready(void) {}
void systemd_status(unsigned entries, unsigned clients) { (void)entries; (void)clients; }
void systemd_stopping(void) {}
uint64_t systemd_watchdog_usec(void) { return 0; }
void systemd_watchdog_ping(void) {}
void
systemd_fdstore_add(struct entry *e)
{
	if (e->fd < 0 || close_never_blocks(e))
		fdholder_store(e);
}
void systemd_fdstore_kept(struct entry *e) { (void)e; }
void systemd_fdstore_remove(struct entry *e) { fdholder_delete(e); }
void systemd_fdstore_remove_name(const char *name) { fdholder_delete_name(name); }

#endif /* HAVE_SYSTEMD */
