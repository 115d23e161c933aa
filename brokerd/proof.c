/*
 * proof.c: the path proof check (see proof.h), on a thread with a deadline.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "brokerd.h"
#include "proof.h"
#include "sb-proto.h"

#define STUCK_MAX	64	/* uids with a check stuck in their file system */

struct job {
	int		 refs;		/* the caller and the thread */
	int		 done;
	int		 abandoned;
	int		 ok;
	uid_t		 uid;
	int		 fd;		/* the thread's own dup */
	char		*key;
	char		 sp[SB_SHORT_PATH_MAX];
	char		 why[256];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static uid_t stuck[STUCK_MAX];
static int nstuck;

/* The check itself: file system calls only, no shared state. */
static int
check(struct job *j)
{
	char target[SB_SHORT_PATH_MAX + 1];
	struct stat st, at;
	ssize_t n;

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
	if (n < 0 || (size_t)n >= sizeof(target) ||
	    (target[n] = '\0', strcmp(target, j->sp) != 0)) {
		snprintf(j->why, sizeof(j->why), "the symlink does not point at %s", j->sp);
		return 0;
	}
	if (fstatat(AT_FDCWD, j->key, &at, AT_SYMLINK_NOFOLLOW) < 0 ||
	    at.st_dev != st.st_dev || at.st_ino != st.st_ino) {
		snprintf(j->why, sizeof(j->why), "the symlink is not at that path");
		return 0;
	}
	return 1;
}

/* Drop a reference (under lock); the last one frees. */
static void
job_unref_locked(struct job *j)
{
	if (--j->refs > 0)
		return;
	close(j->fd);
	free(j->key);
	free(j);
}

static void
stuck_remove_locked(uid_t uid)
{
	int i;

	for (i = 0; i < nstuck; i++)
		if (stuck[i] == uid) {
			stuck[i] = stuck[--nstuck];
			return;
		}
}

static int
stuck_has_locked(uid_t uid)
{
	int i;

	for (i = 0; i < nstuck; i++)
		if (stuck[i] == uid)
			return 1;
	return 0;
}

static void *
job_main(void *arg)
{
	struct job *j = arg;
	int ok = check(j);

	pthread_mutex_lock(&lock);
	j->ok = ok;
	j->done = 1;
	if (j->abandoned)
		stuck_remove_locked(person_of(j->uid));
	pthread_cond_broadcast(&cond);
	job_unref_locked(j);
	pthread_mutex_unlock(&lock);
	return NULL;
}

int
proof_check_bounded(uid_t uid, const char *key, const char *short_path, int fd,
    char *why, size_t len)
{
	pthread_attr_t attr;
	struct timespec deadline;
	sigset_t all, old;
	pthread_t t;
	struct job *j;
	int r;

	/* stuck checks are counted per person: a subordinate range is one */
	pthread_mutex_lock(&lock);
	r = stuck_has_locked(person_of(uid)) || nstuck >= STUCK_MAX;
	pthread_mutex_unlock(&lock);
	if (r) {
		snprintf(why, len, "an earlier check of uid %lu still waits on its file system",
		    (unsigned long)uid);
		return -EAGAIN;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL || (j->key = strdup(key)) == NULL ||
	    (j->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		if (j != NULL)
			free(j->key);
		free(j);
		snprintf(why, len, "out of memory or fds");
		return 0;
	}
	j->uid = uid;
	j->refs = 2;
	snprintf(j->sp, sizeof(j->sp), "%s", short_path);

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&t, &attr, job_main, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		/* no thread: check here, as before */
		r = check(j);
		snprintf(why, len, "%s", j->why);
		close(j->fd);
		free(j->key);
		free(j);
		return r;
	}

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += PROOF_DEADLINE_MS / 1000;
	deadline.tv_nsec += (long)(PROOF_DEADLINE_MS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&lock);
	while (!j->done && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&cond, &lock, &deadline);
	if (j->done) {
		r = j->ok;
		snprintf(why, len, "%s", j->why);
	} else {
		j->abandoned = 1;
		if (nstuck < STUCK_MAX)
			stuck[nstuck++] = person_of(uid);
		snprintf(why, len, "its file system did not answer within %d ms",
		    PROOF_DEADLINE_MS);
		r = -ETIMEDOUT;
	}
	job_unref_locked(j);
	pthread_mutex_unlock(&lock);
	return r;
}
