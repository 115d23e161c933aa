/* SPDX-License-Identifier: ISC */
/*
 * proof.c: the path proof check (see proof.h), on a thread of its own.
 *
 * The check runs in the client's view of the file system: the key is
 * looked up from the client's root directory (an fd of /proc/PID/root of
 * the peer, taken while its pidfd shows the process alive) with openat2()
 * and RESOLVE_IN_ROOT, so a service in its own mount namespace (systemd's
 * PrivateTmp=, a container) proves the path it sees, and a path another
 * uid makes in another view proves nothing here. It also says whether the
 * link is the very file at the key in the broker's own view (the host's
 * claim, view 0). A lookup (a job without a proof) reads, the same way,
 * the link at a key in the caller's view: which claim of a path key held
 * in several views a request by key alone means. The thread alone touches
 * the client's file system: a FUSE mount or a hung NFS server delays it,
 * never the event loop; past the deadline the job is left to finish alone
 * and its person may not start another check until it does.
 *
 * The threads stand: one that finished a check waits for the next (up to
 * IDLE_MAX of them, IDLE_S seconds each), so a bind does not pay for a
 * thread's creation and exit (a clone3, 6 rt_sigprocmask, mmap, madvise,
 * ... per check, bench/README). Every check still has a thread of its own:
 * a job goes to a waiting thread if there is one, else to a new one, never
 * behind another check, so a stuck one holds up nobody.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LINUX_OPENAT2_H
#include <linux/openat2.h>
#endif

#include "brokerd.h"
#include "proof.h"
#include "sb-internal.h"
#include "sb-proto.h"

#define STUCK_MAX	64	/* persons with a check stuck in their file system */
#define RUNNING_MAX	64	/* checks at once, all persons */
#define IDLE_MAX	4	/* threads waiting for a check */
#define IDLE_S		10	/* how long one waits before it ends */

#ifndef RESOLVE_IN_ROOT
struct open_how {
	uint64_t flags, mode, resolve;
};
#define RESOLVE_NO_MAGICLINKS	0x02
#define RESOLVE_IN_ROOT		0x10
#endif
#ifndef SYS_openat2
#define SYS_openat2	437
#endif

struct proof {
	struct proof	*next;		/* every job not yet released by its caller */
	struct proof	*qnext;		/* handed to a waiting thread, not taken yet */
	int		 refs;		/* the caller and the thread */
	int		 done;
	int		 ok;
	int		 abandoned;
	uid_t		 uid;
	uid_t		 person;
	uid_t		 link_uid;	/* the owner of the link: which view */
	int		 host;		/* the link is the file at key in our view */
	int		 view;		/* a lookup (fd < 0): what the link names */
	int		 fd;		/* the thread's own dups; -1: a lookup */
	int		 rootfd;
	char		*key;
	char		 sp[SB_SHORT_PATH_SIZE];
	char		 why[256];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uid_t stuck[STUCK_MAX];
static int nstuck, nrunning, evfd = -1, hostfd = -1;
static struct proof *jobs;
/* jobs for waiting threads; nidle: threads waiting that no job is promised to */
static struct proof *queue, **queue_tail = &queue;
static pthread_cond_t queue_cv = PTHREAD_COND_INITIALIZER;
static int nidle;

/* The file at key in the client's view (rootfd), as an O_PATH fd; -errno. */
static int
open_in_view(int rootfd, const char *key)
{
	struct open_how how;
	int fd;

	memset(&how, 0, sizeof(how));
	how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	fd = (int)syscall(SYS_openat2, rootfd, key, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)		/* before Linux 5.6: the broker's view */
		fd = open(key, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* The check itself: file system calls only, no shared state. */
static int
check(struct proof *j)
{
	char target[SB_SHORT_PATH_SIZE + 1];
	struct stat st, at;
	ssize_t n;
	int kfd, r;

	if (fstatat(j->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISLNK(st.st_mode)) {
		snprintf(j->why, sizeof(j->why), "the proof is not a symlink");
		return 0;
	}
	if (j->uid != 0 && st.st_uid != j->uid) {
		snprintf(j->why, sizeof(j->why), "the symlink is owned by uid %lu",
		    (unsigned long)st.st_uid);
		return 0;
	}
	n = readlinkat(j->fd, "", target, sizeof(target));
	/* at the key's short path of any view: the broker says which in its reply */
	if (n < 0 || (size_t)n >= sizeof(target) ||
	    (target[n] = '\0', sb_short_path_view_of(cfg.root, j->key, target) < 0)) {
		snprintf(j->why, sizeof(j->why), "the symlink does not point at %s", j->sp);
		return 0;
	}
	j->link_uid = st.st_uid;
	if ((kfd = open_in_view(j->rootfd, j->key)) < 0) {
		snprintf(j->why, sizeof(j->why), "the symlink is not at that path (%s, as the "
		    "client sees it)", strerror(-kfd));
		return 0;
	}
	r = fstat(kfd, &at);
	close(kfd);
	if (r < 0 || at.st_dev != st.st_dev || at.st_ino != st.st_ino) {
		snprintf(j->why, sizeof(j->why), "the symlink is not at that path (as the client "
		    "sees it)");
		return 0;
	}
	/* the host's claim (view 0) only if the broker sees this very link there */
	j->host = 0;
	if ((kfd = open_in_view(hostfd, j->key)) >= 0) {
		j->host = fstat(kfd, &at) == 0 && at.st_dev == st.st_dev && at.st_ino == st.st_ino;
		close(kfd);
	}
	return 1;
}

/* A lookup: the view whose short path the link at key names, in the client's view. */
static int
lookup(struct proof *j)
{
	char target[SB_SHORT_PATH_SIZE + 1];
	struct stat st;
	ssize_t n;
	int kfd;

	j->view = -1;
	if ((kfd = open_in_view(j->rootfd, j->key)) < 0)
		return 1;
	if (fstatat(kfd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode) && (n = readlinkat(kfd, "", target, sizeof(target))) > 0 &&
	    (size_t)n < sizeof(target)) {
		target[n] = '\0';
		j->view = sb_short_path_view_of(cfg.root, j->key, target);
		j->link_uid = st.st_uid;
	}
	close(kfd);
	return 1;
}

/* Drop a reference (under lock); the last one frees. */
static void
unref_locked(struct proof *j)
{
	if (--j->refs > 0)
		return;
	if (j->fd >= 0)
		close(j->fd);
	close(j->rootfd);
	free(j->key);
	free(j);
}

static void
stuck_remove_locked(uid_t person)
{
	int i;

	for (i = 0; i < nstuck; i++)
		if (stuck[i] == person) {
			stuck[i] = stuck[--nstuck];
			return;
		}
}

static int
stuck_has_locked(uid_t person)
{
	int i;

	for (i = 0; i < nstuck; i++)
		if (stuck[i] == person)
			return 1;
	return 0;
}

static int
running_of_locked(uid_t person)
{
	const struct proof *j;
	int n = 0;

	for (j = jobs; j != NULL; j = j->next)
		n += j->person == person && !j->done;
	return n;
}

/* Wake the event loop: a result is published */
static void
wake_loop(void)
{
	uint64_t one = 1;

	if (write(evfd, &one, sizeof(one)) < 0) {
		/* the counter is full: it is readable anyway */
	}
}

/* Check j and publish the result (returns locked: the caller wakes the loop). */
static void
job_run(struct proof *j)
{
	int ok = j->fd >= 0 ? check(j) : lookup(j);

	pthread_mutex_lock(&lock);
	j->ok = ok;
	j->done = 1;
	nrunning--;
	if (j->abandoned)
		stuck_remove_locked(j->person);
	unref_locked(j);
}

/*
 * A standing thread: its first job, then whatever is handed to it while it
 * waits; it ends when IDLE_MAX others wait already or none came for IDLE_S.
 * The loop is woken only once the thread holds the lock it will wait with:
 * a result and the thread's return to the waiting ones are one critical
 * section, so the loop, woken, does not find the lock taken again (a
 * futex wait and wake on each side, and the thread's wake-up, on every
 * check: bench/README).
 */
static void *
job_main(void *arg)
{
	struct proof *j = arg;
	struct timespec until;
	int r;

	for (;;) {
		job_run(j);	/* locked */
		if (nidle >= IDLE_MAX) {
			pthread_mutex_unlock(&lock);
			wake_loop();
			return NULL;
		}
		nidle++;
		wake_loop();
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += IDLE_S;
		r = 0;
		while (queue == NULL && r != ETIMEDOUT)
			r = pthread_cond_timedwait(&queue_cv, &lock, &until);
		if (queue == NULL) {
			nidle--;	/* timed out, and no job was promised to it */
			pthread_mutex_unlock(&lock);
			return NULL;
		}
		j = queue;		/* promised to some waiting thread: taking it keeps the count */
		if ((queue = j->qnext) == NULL)
			queue_tail = &queue;
		pthread_mutex_unlock(&lock);
	}
}

int
proof_event_fd(void)
{
	if (evfd < 0)
		evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	/* the broker's own view, for the host's claims: opened once, at start */
	if (hostfd < 0)
		hostfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	return evfd;
}

void
proof_event_clear(void)
{
	uint64_t n;

	if (evfd >= 0 && read(evfd, &n, sizeof(n)) < 0) {
		/* nothing to read */
	}
}

struct proof *
proof_start(uid_t uid, const char *key, const char *short_path, int fd, int rootfd,
    int *ret_err, char *why, size_t len)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	struct proof *j;
	uid_t person = person_of(uid);
	int r;

	if (proof_event_fd() < 0) {
		*ret_err = errno;
		snprintf(why, len, "no eventfd: %s", strerror(errno));
		return NULL;
	}
	if (hostfd < 0) {
		*ret_err = errno;
		snprintf(why, len, "unable to open /: %s", strerror(errno));
		return NULL;
	}
	pthread_mutex_lock(&lock);
	if (stuck_has_locked(person) || nstuck >= STUCK_MAX) {
		pthread_mutex_unlock(&lock);
		snprintf(why, len, "an earlier check of uid %lu still waits on its file system",
		    (unsigned long)person);
		*ret_err = EAGAIN;
		return NULL;
	}
	if (running_of_locked(person) >= PROOF_RUNNING_MAX || nrunning >= RUNNING_MAX) {
		pthread_mutex_unlock(&lock);
		snprintf(why, len, "%d checks of uid %lu run already (the limit is %d)",
		    running_of_locked(person), (unsigned long)person, PROOF_RUNNING_MAX);
		*ret_err = EAGAIN;
		return NULL;
	}
	pthread_mutex_unlock(&lock);
	if ((j = calloc(1, sizeof(*j))) == NULL || (j->key = strdup(key)) == NULL) {
		free(j);
		snprintf(why, len, "out of memory");
		*ret_err = ENOMEM;
		return NULL;
	}
	j->fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	j->rootfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	if ((fd >= 0 && j->fd < 0) || j->rootfd < 0) {
		*ret_err = errno;
		if (j->fd >= 0)
			close(j->fd);
		if (j->rootfd >= 0)
			close(j->rootfd);
		free(j->key);
		free(j);
		snprintf(why, len, "out of fds");
		return NULL;
	}
	j->uid = uid;
	j->person = person;
	j->refs = 2;
	snprintf(j->sp, sizeof(j->sp), "%s", short_path != NULL ? short_path : "");

	pthread_mutex_lock(&lock);
	j->next = jobs;
	jobs = j;
	nrunning++;
	if (nidle > 0) {
		/* a thread waits: it is this job's (no other job is ahead of it) */
		nidle--;
		j->qnext = NULL;
		*queue_tail = j;
		queue_tail = &j->qnext;
		pthread_mutex_unlock(&lock);
		/* after the unlock: signalled under it, the thread would wake to wait for it */
		pthread_cond_signal(&queue_cv);
		return j;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&t, &attr, job_main, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		jobs = j->next;
		nrunning--;
		j->refs = 1;
		unref_locked(j);
		pthread_mutex_unlock(&lock);
		snprintf(why, len, "unable to start a thread: %s", strerror(r));
		*ret_err = EAGAIN;
		return NULL;
	}
	pthread_mutex_unlock(&lock);
	return j;
}

int
proof_result(struct proof *j, struct proof_outcome *ret)
{
	int done;

	pthread_mutex_lock(&lock);
	if ((done = j->done)) {
		ret->ok = j->ok;
		ret->link_uid = j->link_uid;
		ret->host = j->host;
		ret->view = j->view;
		snprintf(ret->why, sizeof(ret->why), "%s", j->why);
	}
	pthread_mutex_unlock(&lock);
	return done;
}

void
proof_release(struct proof *j, int stuck_now)
{
	struct proof **pp;

	pthread_mutex_lock(&lock);
	for (pp = &jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	if (!j->done && stuck_now) {
		j->abandoned = 1;
		if (nstuck < STUCK_MAX && !stuck_has_locked(j->person))
			stuck[nstuck++] = j->person;
	}
	unref_locked(j);
	pthread_mutex_unlock(&lock);
}
