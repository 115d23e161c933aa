/* SPDX-License-Identifier: ISC */
/*
 * linkrm.c: remove the link at a long path when its entry goes because
 * its process exited (kill -9, SIGTERM to QEMU, tmux kill-server: nothing
 * of the client is left to do it).
 *
 * The link is in a user's directory, so the work is the user's, never the
 * event loop's: a thread per job, with every signal blocked, takes the
 * entry owner's fsuid and fsgid (per thread on Linux), opens the link's
 * directory beneath the root directory of the client's own mount
 * namespace (an O_PATH fd taken when it bound: /proc/PID/root), refusing
 * every symlink and magic link on the way (openat2 RESOLVE_IN_ROOT |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), and removes the name only
 * if it is still a symlink owned by that uid whose target is this entry's
 * short path, and no new entry of the key has made that short directory
 * again (a restarted server that reused the link keeps it). Nothing is
 * followed. A job stuck in a hung file system costs only its uid: at most
 * LINKRM_PER_UID_MAX run per uid, further ones are dropped (the link
 * stays, as it did before).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "brokerd.h"
#include "sockbroker.h"

#define LINKRM_PER_UID_MAX	8
#define LINKRM_UIDS_MAX		64

struct job {
	int		 rootfd;	/* the client's /proc/PID/root, ours */
	uid_t		 uid;
	gid_t		 gid;
	char		 sp[SB_SHORT_PATH_MAX];
	char		 rel[SB_SHORT_PATH_MAX];	/* ROOT-relative "xx/HASH" */
	char		 key[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uid_t		 uid;
	unsigned	 n;
} running[LINKRM_UIDS_MAX];

/* Count a job of uid in (+1) or out (-1); 0 if uid is at its cap. */
static int
charge(uid_t uid, int delta)
{
	int i, free_slot = -1, ok = 0;

	pthread_mutex_lock(&lock);
	for (i = 0; i < LINKRM_UIDS_MAX; i++) {
		if (running[i].n > 0 && running[i].uid == uid)
			break;
		if (running[i].n == 0 && free_slot < 0)
			free_slot = i;
	}
	if (i == LINKRM_UIDS_MAX)
		i = free_slot;
	if (i >= 0 && (delta < 0 || running[i].n < LINKRM_PER_UID_MAX)) {
		running[i].uid = uid;
		running[i].n = (unsigned)((int)running[i].n + delta);
		ok = 1;
	}
	pthread_mutex_unlock(&lock);
	return ok;
}

static int
open_beneath(int rootfd, const char *rel)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long r = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));

	return r < 0 ? -errno : (int)r;
}

/* The removal itself, with the owner's file system identity. */
static void
run(struct job *j)
{
	char dir[PATH_MAX], target[SB_SHORT_PATH_MAX + 1];
	const char *slash = strrchr(j->key, '/'), *base = slash + 1;
	struct stat st;
	ssize_t n;
	size_t dlen;
	int dfd;

	/* per thread (the raw calls: glibc broadcasts nothing for these) */
	syscall(SYS_setfsgid, j->gid);
	syscall(SYS_setfsuid, j->uid);
	if ((uid_t)syscall(SYS_setfsuid, -1) != j->uid)
		return;
	dlen = (size_t)(slash - j->key);
	if (dlen == 0)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)dlen - 1, j->key + 1);
	if ((dfd = open_beneath(j->rootfd, dir)) < 0)
		return;
	n = readlinkat(dfd, base, target, sizeof(target));
	if (n > 0 && (size_t)n == strlen(j->sp) && memcmp(target, j->sp, (size_t)n) == 0 &&
	    fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode) &&
	    (j->uid == 0 || st.st_uid == j->uid) &&
	    /* a new entry of the key made its directory again: the link is its own */
	    fstatat(cfg.root_fd, j->rel, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
		unlinkat(dfd, base, 0);
	close(dfd);
}

static void *
linkrm_main(void *arg)
{
	struct job *j = arg;

	run(j);
	close(j->rootfd);
	charge(j->uid, -1);
	free(j);
	return NULL;
}

struct linkrm *
linkrm_prepare(int rootfd, const struct entry *e)
{
	struct job *j;

	if (rootfd < 0 || e->kind != SB_KIND_SOCKET || !sb_key_is_path(e->key))
		return NULL;
	if (!charge(e->uid, +1)) {
		log_info("entry %s: too many link removals of uid %lu under way: its link stays",
		    e->key, (unsigned long)e->uid);
		return NULL;
	}
	if ((j = calloc(1, sizeof(*j) + strlen(e->key) + 1)) == NULL)
		goto fail;
	strcpy(j->key, e->key);
	j->uid = e->uid;
	j->gid = e->gid != (gid_t)-1 ? e->gid : (gid_t)e->uid;
	entry_short_path(e, j->sp, sizeof(j->sp));
	snprintf(j->rel, sizeof(j->rel), "%.2s/%s", e->id, e->id + 2);
	if ((j->rootfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0)) < 0)
		goto fail;
	return (struct linkrm *)j;
fail:
	free(j);
	charge(e->uid, -1);
	return NULL;
}

void
linkrm_start(struct linkrm *job)
{
	struct job *j = (struct job *)job;
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	int r;

	if (j == NULL)
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&t, &attr, linkrm_main, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r == 0)
		return;
	close(j->rootfd);
	charge(j->uid, -1);
	free(j);
}
