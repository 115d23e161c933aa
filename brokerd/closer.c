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
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brokerd.h"
#include "closer.h"

#define CLOSER_MIN	2
#define CLOSER_MAX	72
#define CLOSER_ROOT_SPARE 8	/* of CLOSER_MAX: never taken by uids other than root */

struct uq {
	struct uq	*next;
	uid_t		 uid;
	int		 busy;		/* a thread is closing one of its fds */
	unsigned	 head, n, cap;	/* ring of fds */
	int		*fds;
};

static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 cond = PTHREAD_COND_INITIALIZER;
static struct uq	*uqs;		/* uids with fds queued or being closed */
static struct uq	*rr;		/* where the next thread starts looking */
static unsigned		 nthreads, idle, ready_uids;
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

static void *
closer_main(void *arg)
{
	int fd, spare = arg != NULL;
	struct uq *q;

	pthread_mutex_lock(&lock);
	for (;;) {
		if ((q = uq_next_locked(spare)) == NULL) {
			idle++;
			pthread_cond_wait(&cond, &lock);
			idle--;
			continue;
		}
		fd = q->fds[q->head];
		q->head = (q->head + 1) % q->cap;
		q->n--;
		q->busy = 1;
		ready_uids--;		/* it was ready: queued, not busy */
		pthread_mutex_unlock(&lock);
		close(fd);
		pthread_mutex_lock(&lock);
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

/* Append fd to q's ring (under lock); -ENOMEM if it cannot grow. */
static int
uq_push_locked(struct uq *q, int fd)
{
	unsigned i, cap;
	int *fds;

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
	q->fds[(q->head + q->n) % q->cap] = fd;
	if (q->n++ == 0 && !q->busy)
		ready_uids++;
	return 0;
}

void
closer_close_uid(int fd, uid_t uid)
{
	struct uq *q;

	if (fd < 0)
		return;
	if (uid != CLOSER_BROKER)
		uid = person_of(uid);	/* a subordinate range is one person */
	pthread_mutex_lock(&lock);
	if (!started) {
		/* before the event loop runs (start, tests): nothing waits on us */
		pthread_mutex_unlock(&lock);
		close(fd);
		return;
	}
	if ((q = uq_find_locked(uid)) == NULL) {
		if ((q = calloc(1, sizeof(*q))) == NULL)
			goto nomem;
		q->uid = uid;
		q->next = uqs;
		uqs = q;
	}
	if (uq_push_locked(q, fd) < 0) {
		if (q->n == 0 && !q->busy)
			uq_free_locked(q);
		goto nomem;
	}
	/*
	 * every thread busy (some perhaps stuck): one more, up to the cap; the
	 * last CLOSER_ROOT_SPARE threads only for root's and the broker's own
	 */
	if (idle < ready_uids && (nthreads < CLOSER_MAX - CLOSER_ROOT_SPARE ||
	    ((uid == 0 || uid == CLOSER_BROKER) && nthreads < CLOSER_MAX)))
		spawn_locked();
	pthread_cond_broadcast(&cond);	/* a spare thread serves only root */
	pthread_mutex_unlock(&lock);
	return;
nomem:
	/* out of memory: the fd stays open rather than block the event loop */
	pthread_mutex_unlock(&lock);
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

	if (uid != CLOSER_BROKER)
		uid = person_of(uid);
	pthread_mutex_lock(&lock);
	if ((q = uq_find_locked(uid)) != NULL)
		n = q->n + (unsigned)q->busy;
	pthread_mutex_unlock(&lock);
	return n;
}
