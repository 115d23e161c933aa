/* SPDX-License-Identifier: ISC */
/*
 * cleaner.c: removing entry directories, off the event loop.
 *
 * A released entry's directory is renamed on the event loop (one rename
 * on the broker's own file system) to ROOT/xx/.trash.N, and a thread
 * removes the tree: whatever its depth and file types, holding two fds at
 * a time (a subdirectory is moved up into the trash directory before it is
 * emptied, so no walk goes deeper than one level), never following a
 * symlink, and never entering another file system: a mount a client made
 * inside (fusermount on a directory it owns) is detached first, so a FUSE
 * server that does not answer cannot hold the thread. Trash left by a
 * broker that was killed is removed at the next start (a second after it:
 * the first requests come first).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LINUX_OPENAT2_H
#include <linux/openat2.h>
#endif

#include "brokerd.h"

#ifndef RESOLVE_NO_XDEV
struct open_how {
	uint64_t flags, mode, resolve;
};
#define RESOLVE_NO_XDEV		0x01
#define RESOLVE_NO_MAGICLINKS	0x02
#define RESOLVE_NO_SYMLINKS	0x04
#define RESOLVE_BENEATH		0x08
#endif
#ifndef SYS_openat2
#define SYS_openat2	437
#endif
#define TRASH_PREFIX	".trash."
#define SWEEP_DELAY_S	1	/* the start's sweep of old trash waits this long */

struct job {
	struct job	*next;
	int		 mounted;	/* a mount is on it: detach first */
	char		 xx[3];
	char		 name[64];
};

static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 cond = PTHREAD_COND_INITIALIZER;
static struct job	*head, **tail = &head;
static unsigned long	 counter;	/* of the event loop */
static unsigned long	 tcounter;	/* of the thread */
static int		 running;

/*
 * Open the directory name in dirfd: never through a symlink, never into
 * another mount (EXDEV), never out of dirfd. -errno.
 */
int
dir_open_beneath(int dirfd, const char *name)
{
	struct open_how how;
	int fd;

	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	how.resolve = RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
	    RESOLVE_BENEATH;
	fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/*
 * lstat of name in dirfd that never enters another mount: a client that
 * owns dirfd (a prepared entry) may have mounted a file system that does
 * not answer on name. -EXDEV for a mount point.
 */
int
stat_beneath(int dirfd, const char *name, struct stat *st)
{
	struct open_how how;
	int fd, r = 0;

	memset(&how, 0, sizeof(how));
	how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
	how.resolve = RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
	    RESOLVE_BENEATH;
	fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		return fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Detach a mount a client made at name in dirfd (it may not answer). */
static int
detach(int dirfd, const char *name)
{
	char path[64];
	int fd, r;

	if ((fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = umount2(path, MNT_DETACH);
	if (r < 0)
		r = -errno;
	close(fd);
	if (r == 0)
		log_info("detached a mount a client made in an entry directory of %s", cfg.root);
	return r;
}

/*
 * Empty the directory dfd: files of any type are unlinked, a subdirectory
 * is emptied of its files and its own subdirectories are moved up into dfd
 * (renamed to .trash.N there), then removed; until nothing is left.
 */
static void
empty_dir(int dfd)
{
	char up[32];
	struct dirent *d;
	DIR *dir, *sdir;
	int fd, sub, again, progress;

	do {
		again = progress = 0;
		if ((fd = dup(dfd)) < 0 || (dir = fdopendir(fd)) == NULL) {
			if (fd >= 0)
				close(fd);
			return;
		}
		rewinddir(dir);
		while ((d = readdir(dir)) != NULL) {
			if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
				continue;
			if (unlinkat(dfd, d->d_name, 0) == 0) {
				progress = 1;
				continue;
			}
			if (errno != EISDIR)
				continue;
			if (unlinkat(dfd, d->d_name, AT_REMOVEDIR) == 0) {
				progress = 1;
				continue;
			}
			if ((sub = dir_open_beneath(dfd, d->d_name)) == -EXDEV) {
				if (detach(dfd, d->d_name) == 0)
					progress = 1;
				again = 1;
				continue;
			}
			if (sub < 0)
				continue;
			/* one level: its files go, its directories come up here */
			if ((fd = dup(sub)) >= 0 && (sdir = fdopendir(fd)) != NULL) {
				struct dirent *s;

				while ((s = readdir(sdir)) != NULL) {
					if (strcmp(s->d_name, ".") == 0 || strcmp(s->d_name, "..") == 0)
						continue;
					if (unlinkat(sub, s->d_name, 0) == 0 || errno != EISDIR)
						continue;
					snprintf(up, sizeof(up), TRASH_PREFIX "%lu", tcounter++);
					if (renameat(sub, s->d_name, dfd, up) == 0)
						progress = 1;
					else if (errno == EBUSY && detach(sub, s->d_name) == 0)
						progress = 1;
				}
				closedir(sdir);
			} else if (fd >= 0)
				close(fd);
			close(sub);
			if (unlinkat(dfd, d->d_name, AT_REMOVEDIR) == 0)
				progress = 1;
			again = 1;
		}
		closedir(dir);
	} while (again && progress);
}

/* Remove ROOT/xx/name (a trash directory) and everything in it. */
static void
remove_trash(const char *xx, const char *name, int mounted)
{
	int xfd, dfd;

	if ((xfd = dir_open_beneath(cfg.root_fd, xx)) < 0)
		return;
	if (mounted) {
		/*
		 * Only detach: the directory is then stale, and the next bind of
		 * its key trashes it (removing it here could race with that bind)
		 */
		detach(xfd, name);
		close(xfd);
		return;
	}
	if ((dfd = dir_open_beneath(xfd, name)) == -EXDEV) {
		detach(xfd, name);
		dfd = dir_open_beneath(xfd, name);
	}
	if (dfd >= 0) {
		empty_dir(dfd);
		close(dfd);
	} else if (dfd != -EXDEV && unlinkat(xfd, name, 0) == 0) {
		close(xfd);		/* not a directory (a symlink): gone, its target untouched */
		return;
	}
	if (unlinkat(xfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		log_warn("unable to remove %s/%s/%s: %s", cfg.root, xx, name, strerror(errno));
	close(xfd);
}

static void
queue(const char *xx, const char *name, int mounted)
{
	struct job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return;		/* removed at the next start */
	memcpy(j->xx, xx, 3);
	j->mounted = mounted;
	snprintf(j->name, sizeof(j->name), "%s", name);
	pthread_mutex_lock(&lock);
	*tail = j;
	tail = &j->next;
	pthread_mutex_unlock(&lock);
	/* after the unlock: signalled under it, the thread would wake to wait for it */
	pthread_cond_signal(&cond);
}

/* At start: trash a killed broker left behind. */
static void
sweep(void)
{
	static const char hexd[] = "0123456789abcdef";
	struct dirent *d;
	char xx[3];
	DIR *dir;
	int i, fd;

	for (i = 0; i < 256; i++) {
		xx[0] = hexd[i >> 4];
		xx[1] = hexd[i & 15];
		xx[2] = '\0';
		if ((fd = dir_open_beneath(cfg.root_fd, xx)) < 0)
			continue;
		if ((dir = fdopendir(fd)) == NULL) {
			close(fd);
			continue;
		}
		while ((d = readdir(dir)) != NULL)
			if (strncmp(d->d_name, TRASH_PREFIX, strlen(TRASH_PREFIX)) == 0)
				queue(xx, d->d_name, 0);
		closedir(dir);
	}
}

static void *
cleaner_main(void *arg)
{
	struct timespec until;
	struct job *j;

	(void)arg;
	/*
	 * The old trash can wait a moment: a start or re-exec with 100,000
	 * entries answers its first request in 100-200 ms, and a readdir of
	 * every fan-out directory beside it was a quarter of the broker's CPU
	 * time then (bench/README). Swept after SWEEP_DELAY_S, or at once
	 * when a release brings trash of its own.
	 */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += SWEEP_DELAY_S;
	pthread_mutex_lock(&lock);
	while (head == NULL && pthread_cond_timedwait(&cond, &lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&lock);
	sweep();
	for (;;) {
		pthread_mutex_lock(&lock);
		while (head == NULL)
			pthread_cond_wait(&cond, &lock);
		j = head;
		if ((head = j->next) == NULL)
			tail = &head;
		pthread_mutex_unlock(&lock);
		remove_trash(j->xx, j->name, j->mounted);
		free(j);
	}
	return NULL;
}

int
cleaner_init(void)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	int r;

	if (running)
		return 0;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 128 * 1024);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&t, &attr, cleaner_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r == 0)
		running = 1;
	return -r;
}

/*
 * Move ROOT/xx/name (a directory in xfd, an fd of ROOT/xx) out of the way
 * and have the thread remove it. 0, or -errno (EBUSY: a mount is on it,
 * which the thread detaches; the directory is then stale, and trashed
 * when next asked).
 */
int
cleaner_trash(int xfd, const char *xx, const char *name)
{
	char trash[48];
	int i, r;

	/* a name no trash has yet (a re-executed broker counts from 0 again) */
	for (i = 0; i < 16; i++) {
		snprintf(trash, sizeof(trash), TRASH_PREFIX "%lu.%ld.%ld", counter++,
		    (long)getpid(), (long)time(NULL));
		r = renameat2(xfd, name, xfd, trash, RENAME_NOREPLACE);
		if (r < 0 && errno == EINVAL)		/* no RENAME_NOREPLACE here */
			r = renameat(xfd, name, xfd, trash);
		if (r == 0 || errno != EEXIST)
			break;
	}
	if (r < 0) {
		/* EBUSY: a client's mount is on it; the thread detaches it */
		if (errno == EBUSY && running)
			queue(xx, name, 1);
		return -errno;
	}
	if (running)
		queue(xx, trash, 0);
	else
		remove_trash(xx, trash, 0);
	return 0;
}
