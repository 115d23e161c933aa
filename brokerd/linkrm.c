/* SPDX-License-Identifier: ISC */
/*
 * linkrm.c: remove the link at a long path when its entry goes because
 * its process exited (kill -9, SIGTERM to QEMU, tmux kill-server: nothing
 * of the client is left to do it).
 *
 * The link is in a user's directory, so the work is the user's, never the
 * event loop's: a thread per job, with every signal blocked, takes the
 * entry owner's fsuid and fsgid and drops every supplementary group (per
 * thread on Linux: the raw system calls, which glibc does not broadcast to
 * the other threads), so that it may do no more than the owner could with
 * its own uid and group (a directory writable through a group of the
 * owner's is left alone: the link stays), opens the link's
 * directory beneath the root directory of the client's own mount
 * namespace (an O_PATH fd taken when it bound: /proc/PID/root), refusing
 * every symlink and magic link on the way (openat2 RESOLVE_IN_ROOT |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), and removes the name only
 * if it is still a symlink owned by that uid whose target is this entry's
 * short path, and no new entry of the key has made that short directory
 * again (a restarted server that reused the link keeps it). Nothing is
 * followed. The name checked is the name removed: the link is first renamed
 * aside to a name of the broker's own in the same directory (renameat2
 * RENAME_NOREPLACE), checked again there, and only then unlinked; a file
 * someone put at the name between the check and the rename is renamed back,
 * never removed. A job stuck in a hung file system costs only its person:
 * at most LINKRM_PER_PERSON_MAX are pending per person (person.c: a uid and
 * its subordinate range), further ones are refused with EAGAIN (the link
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
#include "sb-internal.h"
#include "sockbroker.h"

#define LINKRM_PER_PERSON_MAX	8
#define LINKRM_PERSONS_MAX	64

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE	(1 << 0)
#endif

struct job {
	int		 rootfd;	/* the client's /proc/PID/root, ours */
	uid_t		 person;	/* what it is charged to */
	uid_t		 uid;
	gid_t		 gid;
	char		 sp[SB_SHORT_PATH_SIZE];
	char		 rel[SB_SHORT_PATH_SIZE];	/* ROOT-relative "xx/HASH" */
	char		 key[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uid_t		 person;
	unsigned	 n;
} pending[LINKRM_PERSONS_MAX];
static unsigned npending;
static unsigned long serial;	/* for the names links are renamed to */

/* Count a job of person in (+1) or out (-1); 0 if person is at its cap. */
static int
charge(uid_t person, int delta)
{
	int i, free_slot = -1, ok = 0;

	pthread_mutex_lock(&lock);
	for (i = 0; i < LINKRM_PERSONS_MAX; i++) {
		if (pending[i].n > 0 && pending[i].person == person)
			break;
		if (pending[i].n == 0 && free_slot < 0)
			free_slot = i;
	}
	if (i == LINKRM_PERSONS_MAX)
		i = free_slot;
	if (i >= 0 && (delta < 0 || pending[i].n < LINKRM_PER_PERSON_MAX)) {
		pending[i].person = person;
		pending[i].n = (unsigned)((int)pending[i].n + delta);
		npending = (unsigned)((int)npending + delta);
		ok = 1;
	}
	pthread_mutex_unlock(&lock);
	return ok;
}

unsigned
linkrm_pending(void)
{
	unsigned n;

	pthread_mutex_lock(&lock);
	n = npending;
	pthread_mutex_unlock(&lock);
	return n;
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

/* Is dfd/name a symlink of j's owner to j's short path? */
static int
is_ours(const struct job *j, int dfd, const char *name)
{
	char target[SB_SHORT_PATH_SIZE + 1];
	struct stat st;
	ssize_t n;

	n = readlinkat(dfd, name, target, sizeof(target));
	return n > 0 && (size_t)n == strlen(j->sp) && memcmp(target, j->sp, (size_t)n) == 0 &&
	    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode) &&
	    (j->uid == 0 || st.st_uid == j->uid);
}

/* Take the owner's file system identity, this thread only; 0 or -1. */
static int
become_owner(const struct job *j)
{
	/* no supplementary group of the broker's: only what the owner may do */
	if (syscall(SYS_setgroups, 0, NULL) < 0 && geteuid() == 0)
		return -1;
	syscall(SYS_setfsgid, j->gid);
	syscall(SYS_setfsuid, j->uid);
	if ((uid_t)syscall(SYS_setfsuid, -1) != j->uid ||
	    (gid_t)syscall(SYS_setfsgid, -1) != j->gid ||
	    (geteuid() == 0 && syscall(SYS_getgroups, 0, NULL) != 0))
		return -1;
	return 0;
}

/* The removal itself, with the owner's file system identity. */
static void
run(struct job *j)
{
	char dir[PATH_MAX], aside[64];
	const char *base;
	struct stat st;
	unsigned long n;
	int dfd;

	if (sb_key_dir(j->key, dir, sizeof(dir), &base) < 0 || become_owner(j) < 0)
		return;
	/* beneath the process's root: the directory without its leading '/' */
	if ((dfd = open_beneath(j->rootfd, dir[1] != '\0' ? dir + 1 : ".")) < 0)
		return;
	if (!is_ours(j, dfd, base) ||
	    /* a new entry of the key made its directory again: the link is its own */
	    fstatat(cfg.root_fd, j->rel, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
		goto out;
	/* the name checked is the name removed: aside first, checked again there */
	pthread_mutex_lock(&lock);
	n = ++serial;
	pthread_mutex_unlock(&lock);
	snprintf(aside, sizeof(aside), ".sockbroker-rm.%ld.%lu", (long)getpid(), n);
	if (syscall(SYS_renameat2, dfd, base, dfd, aside, RENAME_NOREPLACE) < 0)
		goto out;
	if (is_ours(j, dfd, aside))
		unlinkat(dfd, aside, 0);
	else if (syscall(SYS_renameat2, dfd, aside, dfd, base, RENAME_NOREPLACE) < 0)
		/* what replaced the link, and a new file at its name since: both stay */
		log_warn("entry %s: a file replaced its link while it was removed; it is kept "
		    "as %s beside it (%s)", j->key, aside, strerror(errno));
out:
	close(dfd);
}

static void *
linkrm_main(void *arg)
{
	struct job *j = arg;

	run(j);
	close(j->rootfd);
	charge(j->person, -1);
	free(j);
	return NULL;
}

struct linkrm *
linkrm_prepare(int rootfd, const struct entry *e)
{
	uid_t person = person_of(e->uid);
	char who[96];
	struct job *j;

	if (rootfd < 0 || e->kind != SB_KIND_SOCKET || !sb_key_is_path(e->key)) {
		errno = EINVAL;
		return NULL;
	}
	if (!charge(person, +1)) {
		person_name(e->uid, who, sizeof(who));
		log_info("entry %s: %d link removals of %s are pending (the limit): its link "
		    "stays (EAGAIN)", e->key, LINKRM_PER_PERSON_MAX, who);
		errno = EAGAIN;
		return NULL;
	}
	if ((j = calloc(1, sizeof(*j) + strlen(e->key) + 1)) == NULL)
		goto fail;
	strcpy(j->key, e->key);
	j->person = person;
	j->uid = e->uid;
	j->gid = e->gid != (gid_t)-1 ? e->gid : (gid_t)e->uid;
	entry_short_path(e, j->sp, sizeof(j->sp));
	snprintf(j->rel, sizeof(j->rel), "%.2s/%s", e->id, e->id + 2);
	if ((j->rootfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0)) < 0)
		goto fail;
	return (struct linkrm *)j;
fail:
	free(j);
	charge(person, -1);
	errno = ENOMEM;
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
	charge(j->person, -1);
	free(j);
}
