/* SPDX-License-Identifier: ISC */
/*
 * closer.c: threads that close the fds clients gave us.
 *
 * The last close of a client's fd can block for as long as the client
 * likes: a TCP socket lingering with unsent data, a file on the client's
 * own FUSE mount, a tty draining its output. Such a close never runs on
 * the event loop. Each fd is queued under the uid it came from; a pool of
 * threads (CLOSER_MIN, more on demand up to CLOSER_MAX, the last few kept
 * for root's closes) takes them round
 * robin over the uids, never two of one uid at a time: a uid whose close
 * hangs holds one thread and delays only its own later closes, and every
 * other uid's fds are still closed. A uid has at most CLOSER_PENDING_MAX
 * fds waiting (closer_pending() lets the server refuse more of it). The
 * uids of a subordinate range count as their owner's (person.c).
 *
 * The last close of an AF_UNIX socket also closes every fd queued in it
 * (SCM_RIGHTS in flight) and every connection waiting to be accepted: a
 * user who can send to a socket of root's makes root's close linger. So a
 * socket whose only copy is the broker's (closer_close_last: a client's
 * connection, a socket the broker made and never gave out) is drained
 * first, on the closer thread: shut down for reading (nothing more comes
 * in), its queued fds received and each closed by the uid that sent it
 * (SCM_CREDENTIALS, else the peer's SO_PEERCRED, else CLOSER_FOREIGN):
 * right there if that is the uid draining, else queued under the sender,
 * its waiting connections accepted and drained the same way, at most
 * DRAIN_MAX of each. A close that then lingers holds a thread of the uid
 * that made it linger. A drain queues at most CLOSER_PENDING_MAX fds of a
 * uid and DRAINED_MAX in all; past that it stops, and hands what is left
 * to the uid over its cap (up to DRAINED_HARD_MAX): a socket full of fds
 * never fills the broker's fd table.
 *
 * An entry's held socket may have other copies (the binder got one, get
 * hands them out): draining it would take what they read.
 * closer_close_held() drains it only when something is queued in it and
 * no process but the broker has it open, looked up in /proc on the closer
 * thread, once the service manager has dropped its stored copy.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brokerd.h"
#include "closer.h"

#define CLOSER_MIN	2
#define CLOSER_MAX	72
#define CLOSER_ROOT_SPARE 8	/* of CLOSER_MAX: never taken by uids other than root */
#define DRAIN_MAX	4096	/* messages or connections taken out of one socket */
#define SCM_FDS_MAX	253	/* the kernel's SCM_MAX_FD */
/* fds drains of all uids may have queued at once (each uid: CLOSER_PENDING_MAX) */
#define DRAINED_MAX	1024
/* fds drains may queue under one uid, whatever else it has queued (hand_rest) */
#define DRAINED_HARD_MAX (2 * CLOSER_PENDING_MAX)

enum { HOW_CLOSE, HOW_DRAIN, HOW_REPLACE, HOW_HELD };

struct item {
	int		 fd;
	int		 how;		/* HOW_* */
	int		 src;		/* HOW_REPLACE: dup3(src, fd), then *publish = fd;
					   HOW_HELD: the service manager's pid, or 0 */
	int		*publish;
	int		 drained;	/* queued by a drain: counts in ndrained */
};

struct uq {
	struct uq	*next;
	uid_t		 uid;
	int		 busy;		/* a thread is closing one of its fds */
	unsigned	 drained;	/* of n + busy: queued by drains */
	unsigned	 head, n, cap;	/* ring of fds */
	struct item	*fds;
};

static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 cond = PTHREAD_COND_INITIALIZER;	/* the threads for any uid wait here */
static pthread_cond_t	 cond_spare = PTHREAD_COND_INITIALIZER;	/* root's spares here */
static struct uq	*uqs;		/* uids with fds queued or being closed */
static struct uq	*rr;		/* where the next thread starts looking */
static unsigned		 nthreads, idle, ready_uids;
static unsigned		 ndrained;	/* items queued by drains, not yet closed */
static int		 started;

static struct uq *
uq_find_locked(uid_t uid)
{
	struct uq *q;

	for (q = uqs; q != NULL; q = q->next)
		if (q->uid == uid)
			return q;
	return NULL;
}

static void
uq_free_locked(struct uq *q)
{
	struct uq **pp;

	for (pp = &uqs; *pp != q; pp = &(*pp)->next)
		;
	*pp = q->next;
	if (rr == q)
		rr = q->next;
	free(q->fds);
	free(q);
}

/*
 * The next uid with a queued fd and no close in progress, round robin
 * (root's and the broker's own only, for a spare thread).
 */
static struct uq *
uq_next_locked(int spare)
{
	struct uq *q, *start = rr != NULL ? rr : uqs;

	if (start == NULL)
		return NULL;
	q = start;
	do {
		if (q->n > 0 && !q->busy &&
		    (!spare || q->uid == 0 || q->uid == CLOSER_BROKER)) {
			rr = q->next;
			return q;
		}
		q = q->next != NULL ? q->next : uqs;
	} while (q != start);
	return NULL;
}

static int	push_locked(const struct item *it, uid_t uid, int *wake);
static void	wake_threads(int wake);

static uid_t
person(uid_t uid)
{
	return uid == CLOSER_BROKER || uid == CLOSER_FOREIGN ? uid : person_of(uid);
}

/*
 * Queue it, found by a drain, under uid (a person) from a closer thread;
 * -1 if not: uid has CLOSER_PENDING_MAX fds waiting, drains have queued
 * DRAINED_MAX, or out of memory. hard: the last resort of a drain that
 * stops (see hand_rest), up to DRAINED_HARD_MAX of uid, whatever the rest;
 * hard 2: any number (a drain of root's: bounded by what root releases,
 * past the cap by one message's fds and a copy each; never on root's thread).
 * What a drain moves into the broker's fd table stays bounded, whatever a
 * socket holds.
 */
static int
push_drained(const struct item *it, uid_t uid, int hard)
{
	struct item d = *it;
	struct uq *q;
	int r = -1, wake = 0;

	d.drained = 1;
	pthread_mutex_lock(&lock);
	q = uq_find_locked(uid);
	if ((hard > 1 || (hard ? q == NULL || q->drained < DRAINED_HARD_MAX :
	     ndrained < DRAINED_MAX && (q == NULL || q->n + (unsigned)q->busy < CLOSER_PENDING_MAX))) &&
	    push_locked(&d, uid, &wake) == 0) {
		uq_find_locked(uid)->drained++;
		ndrained++;
		r = 0;
	}
	pthread_mutex_unlock(&lock);
	wake_threads(wake);
	return r;
}

/* Who sent what fd holds (it is connected): SO_PEERCRED, or CLOSER_FOREIGN */
static uid_t
peer_uid(int fd)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0 || uc.pid <= 0 ||
	    uc.uid == (uid_t)-1)
		return CLOSER_FOREIGN;
	return uc.uid;
}

/*
 * A drain of fd stops at a uid, from, over its cap: what fd still holds
 * goes to from's queue (a copy of fd, drained in turn there), so the
 * kernel never drops it in our close, on the thread of a uid that did not
 * send it. Past DRAINED_HARD_MAX of from (hard 1), it is dropped in our close.
 */
static void
hand_rest(int fd, uid_t from, int hard)
{
	struct item rest = { -1, HOW_DRAIN, -1, NULL, 0 };

	if ((rest.fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0 && push_drained(&rest, from, hard) < 0)
		close(rest.fd);	/* not the last copy: nothing dropped here */
}

/*
 * Take out of fd, an AF_UNIX socket only the broker holds, what its last
 * close would close on this thread (one of owner's, a person): queued fds
 * and waiting connections. Those owner sent are closed here, on owner's
 * thread (a close of them that lingers costs owner alone, as the kernel's
 * would); only those of other uids are queued under theirs. Once one of
 * those is refused (over its cap, or DRAINED_MAX), the drain stops: that
 * fd and the rest of the socket (a copy) go to that uid's queue all the
 * same (hand_rest), up to DRAINED_HARD_MAX of it; past that, the rest goes
 * with the last close, on this thread, in the kernel, never taking a slot
 * of the broker's fd table. So a drain holds at most one message's fds
 * (SCM_FDS_MAX) at once, and queues CLOSER_PENDING_MAX per uid (up to
 * DRAINED_HARD_MAX when it stops) and DRAINED_MAX in all.
 */
static void
drain(int fd, uid_t owner)
{
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(sizeof(int) * SCM_FDS_MAX) +
				    CMSG_SPACE(sizeof(struct ucred))];
	} cbuf;
	char data[1024];
	struct item it = { -1, HOW_CLOSE, -1, NULL, 0 };
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;
	struct ucred uc;
	socklen_t len = sizeof(int);
	int domain, listening = 0, type = 0, one = 1, stop = 0, i, c;
	/* the last resort: root's thread never closes another uid's fds */
	int hard = owner == 0 || owner == CLOSER_BROKER ? 2 : 1;
	size_t j, nfd;
	ssize_t n;
	uid_t from, peer;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_UNIX)
		return;
	len = sizeof(int);
	getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
	len = sizeof(int);
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
	/* nothing more comes in: connect is refused, a send fails with EPIPE */
	shutdown(fd, SHUT_RD);
	if (listening) {
		for (i = 0; i < DRAIN_MAX; i++) {
			if ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0)
				break;
			it.fd = c;
			it.how = HOW_DRAIN;
			if ((from = person(peer_uid(c))) == owner) {
				drain(c, owner);	/* not listening: no deeper */
				close(c);
			} else if (push_drained(&it, from, 0) < 0) {
				if (push_drained(&it, from, hard) < 0)
					close(c);	/* the last resort */
				hand_rest(fd, from, hard);
				break;
			}
		}
		return;
	}
	peer = peer_uid(fd);
	/* the sender of each message, if the kernel noted it */
	setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	for (i = 0; i < DRAIN_MAX; i++) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = data;
		iov.iov_len = sizeof(data);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		from = person(peer);
		nfd = 0;
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET)
				continue;
			if (cm->cmsg_type == SCM_CREDENTIALS &&
			    cm->cmsg_len >= CMSG_LEN(sizeof(uc))) {
				memcpy(&uc, CMSG_DATA(cm), sizeof(uc));
				if (uc.pid > 0)		/* 0: not noted at send */
					from = person(uc.uid);
			}
		}
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (j = 0; j < nfd; j++) {
				/* maybe not the last copy: closed, not drained */
				memcpy(&it.fd, CMSG_DATA(cm) + j * sizeof(int), sizeof(int));
				it.how = HOW_CLOSE;
				if (from == owner) {
					close(it.fd);	/* owner's own: its thread */
					continue;
				}
				if (!stop && push_drained(&it, from, 0) == 0)
					continue;
				stop = 1;
				if (push_drained(&it, from, hard) < 0)
					close(it.fd);	/* the last resort */
			}
		}
		if (stop) {
			hand_rest(fd, from, hard);
			break;
		}
		/* end of a stream or of a connected seqpacket */
		if (n == 0 && nfd == 0 && type != SOCK_DGRAM)
			break;
	}
}

/* Has process pid a copy of the socket want ("socket:[INO]")? 1, 0, -1 if not known. */
static int
proc_holds(long pid, const char *want)
{
	char link[64], path[64];
	struct dirent *f;
	DIR *fdd;
	ssize_t n;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
	if ((fdd = opendir(path)) == NULL)
		return errno == ENOENT ? 0 : -1;	/* gone; or not ours to see */
	while (!found && (f = readdir(fdd)) != NULL) {
		if (f->d_name[0] == '.')
			continue;
		n = readlinkat(dirfd(fdd), f->d_name, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		found = strcmp(link, want) == 0;
	}
	closedir(fdd);
	return found;
}

/*
 * Is the broker's copy of the socket want the last one? No other process
 * has it open (one whose fds cannot be read counts as a holder). Copies in
 * flight (in a queue, a reply to a get the broker has yet to send) are not
 * seen; the broker's own fds are not looked at (a million held entries).
 */
static int
only_copy(const char *want)
{
	struct dirent *d;
	DIR *procd;
	long pid;
	int others = 0;
	pid_t self = getpid();

	if ((procd = opendir("/proc")) == NULL)
		return 0;
	while (others == 0 && (d = readdir(procd)) != NULL) {
		if ((pid = strtol(d->d_name, NULL, 10)) <= 0 || pid == self)
			continue;
		others = proc_holds(pid, want) != 0;
	}
	closedir(procd);
	return others == 0;
}

#define MANAGER_WAIT_MS	1000

/*
 * A held fd. An AF_UNIX socket in the service manager's store (pid
 * it->src) is first waited for (up to MANAGER_WAIT_MS) until the manager
 * has dropped its copy on FDSTOREREMOVE: its close must never be the last
 * (systemd before v254 closes a stored fd in PID 1 itself). Then, with
 * something queued (poll: a message, a waiting connection), it is drained
 * if the broker's is the last copy; else what is queued is closed by
 * whoever closes last, one who has the socket open.
 */
static int
held_drain(const struct item *it)
{
	struct pollfd pfd = { it->fd, POLLIN, 0 };
	char want[64];
	struct stat st;
	int domain, i;
	socklen_t len = sizeof(domain);

	if (getsockopt(it->fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_UNIX ||
	    fstat(it->fd, &st) < 0)
		return 0;
	snprintf(want, sizeof(want), "socket:[%lu]", (unsigned long)st.st_ino);
	for (i = 0; it->src > 0 && i < MANAGER_WAIT_MS / 10 && proc_holds(it->src, want) == 1; i++)
		usleep(10 * 1000);
	if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLIN))
		return 0;		/* nothing queued */
	return only_copy(want);
}

/* it, queued under owner (a person) */
static void
finish(const struct item *it, uid_t owner)
{
	if (it->how == HOW_DRAIN || it->how == HOW_REPLACE ||
	    (it->how == HOW_HELD && held_drain(it)))
		drain(it->fd, owner);
	if (it->how == HOW_REPLACE && dup3(it->src, it->fd, O_CLOEXEC) == it->fd) {
		/* the fd number is the caller's again, a copy of src */
		__atomic_store_n(it->publish, it->fd, __ATOMIC_RELEASE);
		return;
	}
	close(it->fd);
}

static void *
closer_main(void *arg)
{
	int spare = arg != NULL;
	struct item it;
	struct uq *q;

	pthread_mutex_lock(&lock);
	for (;;) {
		if ((q = uq_next_locked(spare)) == NULL) {
			idle++;
			pthread_cond_wait(spare ? &cond_spare : &cond, &lock);
			idle--;
			continue;
		}
		it = q->fds[q->head];
		q->head = (q->head + 1) % q->cap;
		q->n--;
		q->busy = 1;
		ready_uids--;		/* it was ready: queued, not busy */
		pthread_mutex_unlock(&lock);
		finish(&it, q->uid);
		pthread_mutex_lock(&lock);
		if (it.drained) {
			ndrained--;
			q->drained--;
		}
		q->busy = 0;
		if (q->n > 0)
			ready_uids++;
		if (q->n == 0)
			uq_free_locked(q);
	}
	return NULL;
}

/* One more thread (under lock); 0 or a positive error. */
static int
spawn_locked(void)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	int r;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	/* signals stay with the event loop */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	/* the last threads are spares for root: arg non-NULL */
	r = pthread_create(&t, &attr, closer_main,
	    nthreads >= CLOSER_MAX - CLOSER_ROOT_SPARE ? (void *)&started : NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r == 0)
		nthreads++;
	return r;
}

int
closer_init(void)
{
	int r = 0;

	pthread_mutex_lock(&lock);
	started = 1;
	while (nthreads < CLOSER_MIN && (r = spawn_locked()) == 0)
		;
	pthread_mutex_unlock(&lock);
	return nthreads > 0 ? 0 : -r;
}

/* Append it to q's ring (under lock); -ENOMEM if it cannot grow. */
static int
uq_push_locked(struct uq *q, const struct item *it)
{
	unsigned i, cap;
	struct item *fds;

	if (q->n == q->cap) {
		cap = q->cap ? q->cap * 2 : 8;
		if ((fds = malloc(cap * sizeof(*fds))) == NULL)
			return -ENOMEM;
		for (i = 0; i < q->n; i++)
			fds[i] = q->fds[(q->head + i) % q->cap];
		free(q->fds);
		q->fds = fds;
		q->cap = cap;
		q->head = 0;
	}
	q->fds[(q->head + q->n) % q->cap] = *it;
	if (q->n++ == 0 && !q->busy)
		ready_uids++;
	return 0;
}

/*
 * Signal the threads push_locked() said to wake, once the lock is let go:
 * a thread signalled under it wakes only to wait for it (a futex wait and
 * wake more on each side of every close, bench/README).
 */
static void
wake_threads(int wake)
{
	if (wake & 1)
		pthread_cond_signal(&cond);
	if (wake & 2)
		pthread_cond_signal(&cond_spare);
}

/*
 * Queue it under uid (a person already), under lock; 0 or -ENOMEM. *wake
 * gets the threads to signal after the unlock (wake_threads()).
 */
static int
push_locked(const struct item *it, uid_t uid, int *wake)
{
	struct uq *q;
	int ready;

	if ((q = uq_find_locked(uid)) == NULL) {
		if ((q = calloc(1, sizeof(*q))) == NULL)
			return -ENOMEM;
		q->uid = uid;
		q->next = uqs;
		uqs = q;
	}
	/* one more uid with work for a thread, or one more fd for a queue being served */
	ready = q->n == 0 && !q->busy;
	if (uq_push_locked(q, it) < 0) {
		if (q->n == 0 && !q->busy)
			uq_free_locked(q);
		return -ENOMEM;
	}
	/*
	 * every thread busy (some perhaps stuck): one more, up to the cap; the
	 * last CLOSER_ROOT_SPARE threads only for root's and the broker's own
	 */
	if (idle < ready_uids && (nthreads < CLOSER_MAX - CLOSER_ROOT_SPARE ||
	    ((uid == 0 || uid == CLOSER_BROKER) && nthreads < CLOSER_MAX)))
		spawn_locked();
	/*
	 * Wake one thread for a uid that has just become ready; a queue being
	 * served is emptied by its thread before that thread looks elsewhere.
	 * Not every idle thread: on every new connection's close that woke
	 * them all for one fd (futex calls, context switches on the loop's
	 * CPU). The spares wait apart, so that a signal for another uid's fd
	 * never lands on a thread that may not take it.
	 */
	if (ready)
		*wake |= uid == 0 || uid == CLOSER_BROKER ? 3 : 1;
	return 0;
}

static void
queue(const struct item *it, uid_t uid)
{
	int wake = 0;

	if (it->fd < 0)
		return;
	if (uid != CLOSER_BROKER && uid != CLOSER_FOREIGN)
		uid = person_of(uid);	/* a subordinate range is one person */
	pthread_mutex_lock(&lock);
	if (!started) {
		/* before the event loop runs (start, tests): nothing waits on us */
		pthread_mutex_unlock(&lock);
		finish(it, uid);
		return;
	}
	/* out of memory: the fd stays open rather than block the event loop */
	push_locked(it, uid, &wake);
	pthread_mutex_unlock(&lock);
	wake_threads(wake);
}

void
closer_close_uid(int fd, uid_t uid)
{
	struct item it = { fd, HOW_CLOSE, -1, NULL, 0 };

	queue(&it, uid);
}

void
closer_close_last(int fd, uid_t uid)
{
	struct item it = { fd, HOW_DRAIN, -1, NULL, 0 };

	queue(&it, uid);
}

void
closer_close_held(int fd, uid_t uid, pid_t manager)
{
	struct item it = { fd, HOW_HELD, (int)manager, NULL, 0 };

	queue(&it, uid);
}

void
closer_replace_last(int fd, uid_t uid, int src, int *publish)
{
	struct item it = { fd, HOW_REPLACE, src, publish, 0 };

	queue(&it, uid);
}

void
closer_close(int fd)
{
	closer_close_uid(fd, CLOSER_BROKER);
}

unsigned
closer_pending(uid_t uid)
{
	struct uq *q;
	unsigned n = 0;

	if (uid != CLOSER_BROKER && uid != CLOSER_FOREIGN)
		uid = person_of(uid);
	pthread_mutex_lock(&lock);
	if ((q = uq_find_locked(uid)) != NULL)
		n = q->n + (unsigned)q->busy;
	pthread_mutex_unlock(&lock);
	return n;
}
