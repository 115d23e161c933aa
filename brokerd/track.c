/* SPDX-License-Identifier: ISC */
/*
 * track.c: the processes of clients, watched through pidfds.
 *
 * An owner entry (SB_LT_OWNER) lives as long as the process that made it:
 * this file tracks that process (one struct proc per pid, its pidfd on
 * server.c's event loop, its root directory for linkrm), destroys its
 * entries when it exits, keeps the ones whose socket another process
 * still has bound (lingering, polled through holders.c), adopts them
 * again after a restart, and opens a peer's root directory by pidfd so
 * that the pid cannot have been reused in between.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#ifdef HAVE_PIDFD_OPEN
#include <sys/pidfd.h>
#endif

#include "brokerd.h"
#include "sb-internal.h"
#include "sockbroker.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD	77
#endif

struct proc {
	struct proc	*next;
	pid_t		 pid;
	int		 pidfd;
	int		 exiting;
	unsigned	 exit_waits;	/* turns its exit waited for its connections */
	uint64_t	 starttime;
	struct event	*ev;
	struct entry	*entries;
	int		 rootfd;	/* its /proc/PID/root, for linkrm, or -1 */
};
#define PROC_BUCKETS	1024

static struct proc	*procs[PROC_BUCKETS];

static int	pidfd_alive(int pidfd);
static int	pidfd_open_pid(pid_t pid);

/* A root fd of a peer opened for its request, lent while the request goes on */
static struct peer	*lent_peer;
static int		*lent_fd;

void
peer_root_lend(struct peer *p, int *fd)
{
	lent_peer = p;
	lent_fd = fd;
}

/*
 * An O_PATH fd of p's root directory (in its mount namespace), opened while
 * p's process is known to be the one that connected; -errno. The one lent
 * for p's request (its proof was checked from there, a moment ago) is
 * taken rather than opened again: four system calls on the event loop.
 */
int
peer_root_open(struct peer *p)
{
	char path[64];
	socklen_t len = sizeof(int);
	int pidfd = -1, fd;

	if (p == lent_peer && lent_fd != NULL && *lent_fd >= 0) {
		fd = *lent_fd;
		*lent_fd = -1;
		return fd;
	}

	if (getsockopt(peer_sock(p), SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0 || pidfd < 0) {
		if ((pidfd = pidfd_open_pid(peer_cred(p)->pid)) < 0)
			return pidfd;
	}
	snprintf(path, sizeof(path), "/proc/%ld/root", (long)peer_cred(p)->pid);
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	/* the pid was not reused in between: the pidfd's process still runs */
	if (fd >= 0 && !pidfd_alive(pidfd)) {
		close(fd);
		fd = -1;
		errno = ESRCH;
	}
	if (fd < 0 && errno == EACCES && geteuid() != 0) {
		/*
		 * a user's broker may not look into a non-dumpable process of its
		 * user (a setgid program): its own view then; it serves that user only
		 */
		fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		fd = -errno;
	close(pidfd);
	return fd;
}

static struct proc **
proc_slot(pid_t pid)
{
	struct proc **pp;

	for (pp = &procs[(unsigned)pid % PROC_BUCKETS]; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->pid == pid)
			return pp;
	return pp;
}

static void
proc_free(struct proc *pr)
{
	struct proc **pp = proc_slot(pr->pid);

	if (*pp == pr)
		*pp = pr->next;
	event_free(pr->ev);
	close(pr->pidfd);
	if (pr->rootfd >= 0)
		close(pr->rootfd);
	free(pr);
}

/*
 * Lingering entries: owner entries whose creator exited while a socket
 * bound at their file lives on in another process (a daemon that forks
 * and lets its parent exit). The kernel cannot tell us when the last fd
 * of a socket is closed, so a timer asks sock_diag (holders.c) every
 * LINGER_CHECK_MS, one dump for all of them, until the socket is gone;
 * then the entry goes as if its creator had just exited. Polling is the
 * robust choice here: no fd of the socket may be held by the broker (an
 * owner entry's socket must close when its program closes it), and
 * nothing else reports a socket's last close.
 */
#define LINGER_CHECK_MS	1000

static struct entry	*lingering;	/* chained by pnext */
static unsigned		 nlingering;
static struct event	*ev_linger;

static void	linger_cb(evutil_socket_t fd, short what, void *arg);

static void
linger_arm(void)
{
	struct timeval tv = { LINGER_CHECK_MS / 1000, (LINGER_CHECK_MS % 1000) * 1000 };

	event_add(ev_linger, &tv);
}

int
track_init(void)
{
	if ((ev_linger = evtimer_new(server_event_base(), linger_cb, NULL)) == NULL)
		return -ENOMEM;
	return 0;
}

static void
linger_add(struct entry *e, int rootfd)
{
	e->link_root = rootfd >= 0 ? fcntl(rootfd, F_DUPFD_CLOEXEC, 0) : -1;
	e->lingering = 1;
	e->proc = NULL;
	e->pnext = lingering;
	lingering = e;
	nlingering++;
	if (!event_pending(ev_linger, EV_TIMEOUT, NULL))
		linger_arm();
}

static void
linger_remove(struct entry *e)
{
	struct entry **pp;

	for (pp = &lingering; *pp != NULL; pp = &(*pp)->pnext)
		if (*pp == e) {
			*pp = e->pnext;
			nlingering--;
			break;
		}
	e->pnext = NULL;
	e->lingering = 0;
	if (e->link_root >= 0)
		close(e->link_root);
	e->link_root = -1;
}

/* May e outlive its creator? An owner socket entry whose socket the client bound. */
static int
linger_candidate(const struct entry *e)
{
	return e->kind == SB_KIND_SOCKET && e->lifetime == SB_LT_OWNER && e->fd < 0;
}

/*
 * keep[i] = 1 for each of the n entries es[i] that a bound socket still
 * has. If the kernel cannot be asked, every entry with a socket file is
 * kept (and asked about again at the next check). -ENOMEM: nothing known.
 */
static int
still_held(struct entry **es, size_t n, int *keep)
{
	struct holder_id *ids;
	size_t i;
	int r;

	if ((ids = calloc(n, sizeof(*ids))) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (holders_sock_id(es[i], &ids[i]) < 0)
			ids[i].found = -1;	/* no socket file: nothing holds it */
	if ((r = holders_find(ids, n)) < 0)
		log_warn("unable to ask the kernel which sockets are still bound: %s",
		    strerror(-r));
	for (i = 0; i < n; i++)
		keep[i] = r < 0 ? ids[i].found == 0 : ids[i].found == 1;
	free(ids);
	return 0;
}

/* Process pr exited: move its entries that another process holds to lingering. */
static void
linger_exited(struct proc *pr)
{
	struct entry *e, **es, **pp;
	size_t n = 0, i;
	int *keep;

	for (e = pr->entries; e != NULL; e = e->pnext)
		n += linger_candidate(e);
	if (n == 0)
		return;
	es = calloc(n, sizeof(*es));
	keep = calloc(n, sizeof(*keep));
	if (es == NULL || keep == NULL)
		goto out;
	n = 0;
	for (e = pr->entries; e != NULL; e = e->pnext)
		if (linger_candidate(e))
			es[n++] = e;
	if (still_held(es, n, keep) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (!keep[i])
			continue;
		for (pp = &pr->entries; *pp != NULL; pp = &(*pp)->pnext)
			if (*pp == es[i]) {
				*pp = es[i]->pnext;
				break;
			}
		log_info("entry %s: its process %ld exited, its socket is still open in "
		    "another process: kept until that one closes it", es[i]->key, (long)pr->pid);
		linger_add(es[i], pr->rootfd);
	}
out:
	free(es);
	free(keep);
}

static void
linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct entry *e, **es;
	size_t n = 0, i;
	int *keep;

	(void)fd;
	(void)what;
	(void)arg;
	es = calloc(nlingering, sizeof(*es));
	keep = calloc(nlingering, sizeof(*keep));
	if (es != NULL && keep != NULL) {
		for (e = lingering; e != NULL && n < nlingering; e = e->pnext)
			es[n++] = e;
		if (still_held(es, n, keep) == 0)
			for (i = 0; i < n; i++)
				if (!keep[i]) {
					struct linkrm *lr = linkrm_prepare(es[i]->link_root, es[i]);

					entry_destroy(es[i], "the last process holding its socket exited");
					linkrm_start(lr);
				}
	}
	free(es);
	free(keep);
	if (lingering != NULL)
		linger_arm();
}

/* At a restart: keep e (its creator gone) if a socket is still bound at its file. */
int
linger_adopt(struct entry *e)
{
	int keep = 0, rootfd;

	if (!linger_candidate(e) || still_held(&e, 1, &keep) < 0 || !keep)
		return -ESRCH;
	log_info("entry %s: its process %ld is gone, its socket is still open: kept",
	    e->key, (long)e->pid);
	/*
	 * The creator's root went with it: its link is looked for from the
	 * broker's own root (the same file system view unless the creator
	 * ran in another mount namespace; linkrm's checks hold either way).
	 */
	if ((rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		rootfd = -1;
	linger_add(e, rootfd);
	if (rootfd >= 0)
		close(rootfd);
	return 0;
}

static void
proc_exit(struct proc *pr)
{
	struct entry *e;

	log_debug("process %ld exited", (long)pr->pid);
	pr->exiting = 1;
	linger_exited(pr);
	while ((e = pr->entries) != NULL) {
		struct linkrm *lr = linkrm_prepare(pr->rootfd, e);

		entry_destroy(e, "its process exited");
		linkrm_start(lr);
	}
	proc_free(pr);
}

/*
 * The process exited. What it sent before comes first (the shim's RELEASE
 * at unlink, not waited for): while it has a connection open, its exit
 * waits, EXIT_WAIT_MS at a time, at most EXIT_WAITS_MAX times; the loop
 * meanwhile reads those connections in their turn, as any client's, to
 * their end. The pidfd's event becomes the timer. A new process with the
 * same pid meanwhile ends the wait (proc_attach: proc_exit frees pr and
 * its event). exiting keeps pr when its last entry is released.
 */
#define EXIT_WAIT_MS	10
#define EXIT_WAITS_MAX	100

static void
proc_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc *pr = arg;
	struct timeval tv = { 0, EXIT_WAIT_MS * 1000 };

	if (!pr->exiting) {
		pr->exiting = 1;
		event_del(pr->ev);
		event_assign(pr->ev, server_event_base(), -1, 0, proc_cb, pr);
	}
	if (pr->exit_waits < EXIT_WAITS_MAX && server_pid_connected(pr->pid) &&
	    event_add(pr->ev, &tv) == 0) {
		pr->exit_waits++;
		return;
	}
	proc_exit(pr);
}

static int
pidfd_alive(int pidfd)
{
	struct pollfd pfd = { pidfd, POLLIN, 0 };

	return poll(&pfd, 1, 0) == 0;
}

/* The start time of pid (field 22 of /proc/PID/stat), or 0. */
uint64_t
proc_starttime(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long v = 0;
	ssize_t n;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* the command name may hold anything: start after its last ')' */
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	p++;
	for (i = 3; i <= 22 && p != NULL; i++) {
		p = strchr(p, ' ');
		if (p != NULL)
			p++;
	}
	if (p == NULL || sscanf(p, "%llu", &v) != 1)
		return 0;
	return v;
}

/* Track e's process with pidfd; consumes pidfd. */
static int
proc_attach(struct entry *e, int pidfd)
{
	struct proc **pp, *pr;
	uint64_t st = proc_starttime(e->pid);

	if (st == 0 || !pidfd_alive(pidfd)) {
		close(pidfd);
		return -ESRCH;
	}
	pp = proc_slot(e->pid);
	if (*pp != NULL && ((*pp)->starttime != st || !pidfd_alive((*pp)->pidfd))) {
		proc_exit(*pp);		/* the pid was reused: the old process is gone */
		pp = proc_slot(e->pid);
	}
	if ((pr = *pp) != NULL) {
		close(pidfd);
	} else {
		if ((pr = calloc(1, sizeof(*pr))) == NULL) {
			close(pidfd);
			return -ENOMEM;
		}
		pr->pid = e->pid;
		pr->pidfd = pidfd;
		pr->rootfd = -1;
		pr->starttime = st;
		if ((pr->ev = event_new(server_event_base(), pidfd, EV_READ, proc_cb, pr)) == NULL ||
		    event_add(pr->ev, NULL) < 0) {
			if (pr->ev != NULL)
				event_free(pr->ev);
			close(pidfd);
			free(pr);
			return -ENOMEM;
		}
		*pp = pr;
	}
	e->starttime = st;
	e->proc = pr;
	e->pnext = pr->entries;
	pr->entries = e;
	return 0;
}

static int
pidfd_open_pid(pid_t pid)
{
	int fd;

#ifdef HAVE_PIDFD_OPEN
	fd = pidfd_open(pid, 0);
#else
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
	if (fd < 0)
		return -errno;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* Track the process of peer p as the creator of e (e->pid is its pid). */
int
proc_track(struct entry *e, struct peer *p)
{
	socklen_t len = sizeof(int);
	int pidfd = -1, fd, r;

	/* close-on-exec, as pidfd_open's */
	if (getsockopt(peer_sock(p), SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0 || pidfd < 0) {
		if ((pidfd = pidfd_open_pid(e->pid)) < 0)
			return pidfd;
	}
	if ((r = proc_attach(e, pidfd)) < 0)
		return r;
	/* where its links live: the link at a long path goes when it does */
	if (e->proc->rootfd < 0 && sb_key_is_path(e->key) && (fd = peer_root_open(p)) >= 0)
		e->proc->rootfd = fd;
	return 0;
}

/* After a restart: track e's process if it is still the one that made e. */
int
proc_adopt(struct entry *e)
{
	uint64_t want = e->starttime;
	int pidfd, r;

	if (e->pid <= 0 || (pidfd = pidfd_open_pid(e->pid)) < 0)
		return -ESRCH;
	if (proc_starttime(e->pid) != want) {
		close(pidfd);
		return -ESRCH;
	}
	if ((r = proc_attach(e, pidfd)) < 0)
		return r;
	if (e->starttime != want) {
		proc_untrack(e);
		return -ESRCH;
	}
	if (e->proc->rootfd < 0 && sb_key_is_path(e->key)) {
		char path[64];

		/* its root, for linkrm; the process is the one that made e (starttime) */
		snprintf(path, sizeof(path), "/proc/%ld/root", (long)e->pid);
		e->proc->rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (e->proc->rootfd >= 0 && !pidfd_alive(e->proc->pidfd)) {
			close(e->proc->rootfd);
			e->proc->rootfd = -1;
		}
	}
	return 0;
}

void
proc_untrack(struct entry *e)
{
	struct proc *pr = e->proc;
	struct entry **pp;

	if (e->lingering)
		linger_remove(e);
	if (pr == NULL)
		return;
	for (pp = &pr->entries; *pp != NULL; pp = &(*pp)->pnext)
		if (*pp == e) {
			*pp = e->pnext;
			break;
		}
	e->proc = NULL;
	e->pnext = NULL;
	if (pr->entries == NULL && !pr->exiting)
		proc_free(pr);
}
