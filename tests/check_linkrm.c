/* SPDX-License-Identifier: ISC */
/*
 * check_linkrm.c: the removal of a link at a user's long path
 * (brokerd/linkrm.c), which the broker does as the link's owner when the
 * process that bound it is gone: it removes its own link; never a file that
 * replaced the link between the check and the removal (a thread swaps the
 * two names all the while); as root it has none of the broker's
 * supplementary groups (a directory writable only through one keeps its
 * link); at most 8 removals are pending per person (a uid and its
 * subordinate range), the 9th is refused with EAGAIN.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "check-common.h"
#include "brokerd.h"
#include "state-stubs.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE	(1 << 1)
#endif

#define RACE_ROUNDS	300

static char top[] = "/tmp/check_linkrm.XXXXXX";
static char rootdir[64];
static int slashfd = -1;

static void
setup(void)
{
	static int once;

	if (!once) {
		ck_assert_ptr_nonnull(mkdtemp(top));
		ck_assert_int_eq(chmod(top, 0755), 0);
		snprintf(rootdir, sizeof(rootdir), "%s/root", top);
		ck_assert_int_eq(mkdir(rootdir, 0755), 0);
		entries_init();
		once = 1;
	}
	snprintf(cfg.root, sizeof(cfg.root), "%s", rootdir);
	cfg.root_len = strlen(rootdir);
	cfg.root_fd = open(rootdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(cfg.root_fd, 0);
	slashfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(slashfd, 0);
}

static void
teardown(void)
{
	close(cfg.root_fd);
	close(slashfd);
}

/* An entry of key owned by uid, as the broker had it */
static struct entry *
entry_of(const char *key, uid_t uid)
{
	struct entry *e = entry_new(key);

	ck_assert_ptr_nonnull(e);
	e->kind = SB_KIND_SOCKET;
	e->socktype = SOCK_STREAM;
	e->uid = uid;
	e->gid = (gid_t)uid;
	return e;
}

/* Every pending removal has run (they are threads of their own) */
static void
settle(void)
{
	while (linkrm_pending() > 0)
		usleep(1000);
}

static void
remove_now(const struct entry *e)
{
	struct linkrm *job = linkrm_prepare(slashfd, e);

	ck_assert_ptr_nonnull(job);
	linkrm_start(job);
	settle();
}

/* Its own link goes; another file at the name stays */
START_TEST(own_link)
{
	char d[300], key[400], sp[SB_SHORT_PATH_SIZE];
	struct entry *e;
	struct stat st;

	snprintf(d, sizeof(d), "%s/own", top);
	ck_assert_int_eq(mkdir(d, 0755), 0);
	snprintf(key, sizeof(key), "%s/s", d);
	e = entry_of(key, getuid());
	entry_short_path(e, sp, sizeof(sp));
	ck_assert_int_eq(symlink(sp, key), 0);
	remove_now(e);
	ck_assert_int_eq(lstat(key, &st), -1);
	ck_assert_int_eq(symlink("/elsewhere", key), 0);
	remove_now(e);
	ck_assert_int_eq(lstat(key, &st), 0);
	unlink(key);
	rmdir(d);
	entry_free(e);
}
END_TEST

static volatile int swapping;
static int swapdir = -1;

static void *
swapper(void *arg)
{
	(void)arg;
	while (swapping)
		syscall(SYS_renameat2, swapdir, "s", swapdir, "x", RENAME_EXCHANGE);
	return NULL;
}

/* A file swapped in for the link between the check and the removal stays */
START_TEST(swapped_in)
{
	char d[300], key[400], sp[SB_SHORT_PATH_SIZE];
	struct entry *e;
	struct stat st;
	pthread_t t;
	int i, fd, lost = 0;

	snprintf(d, sizeof(d), "%s/race", top);
	ck_assert_int_eq(mkdir(d, 0755), 0);
	snprintf(key, sizeof(key), "%s/s", d);
	e = entry_of(key, getuid());
	entry_short_path(e, sp, sizeof(sp));
	swapdir = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(swapdir, 0);
	for (i = 0; i < RACE_ROUNDS && !lost; i++) {
		unlinkat(swapdir, "s", 0);
		unlinkat(swapdir, "x", 0);
		ck_assert_int_eq(symlinkat(sp, swapdir, "s"), 0);
		fd = openat(swapdir, "x", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		ck_assert_int_ge(fd, 0);
		close(fd);
		swapping = 1;
		ck_assert_int_eq(pthread_create(&t, NULL, swapper, NULL), 0);
		remove_now(e);
		swapping = 0;
		pthread_join(t, NULL);
		/* the regular file is at one of the two names, whatever happened */
		lost = !((fstatat(swapdir, "s", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode)) || (fstatat(swapdir, "x", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode)));
	}
	ck_assert_msg(!lost, "round %d: the file swapped in for the link was removed", i);
	unlinkat(swapdir, "s", 0);
	unlinkat(swapdir, "x", 0);
	close(swapdir);
	ck_assert_int_eq(rmdir(d), 0);	/* nothing was left aside */
	entry_free(e);
}
END_TEST

/* As root: the owner's rights, none of the broker's supplementary groups */
START_TEST(no_groups)
{
	char d[300], key[400], sp[SB_SHORT_PATH_SIZE];
	gid_t g = 4244, old[64];
	struct entry *e;
	struct stat st;
	int n;

	if (geteuid() != 0) {
		fprintf(stderr, "# no_groups: not root, skipped\n");
		return;
	}
	n = getgroups(64, old);
	ck_assert_int_ge(n, 0);
	/* the broker in group g; a directory only group g may enter */
	ck_assert_int_eq(setgroups(1, &g), 0);
	snprintf(d, sizeof(d), "%s/group", top);
	ck_assert_int_eq(mkdir(d, 0770), 0);
	ck_assert_int_eq(chown(d, 0, g), 0);
	ck_assert_int_eq(chmod(d, 0770), 0);
	snprintf(key, sizeof(key), "%s/s", d);
	e = entry_of(key, 4242);
	entry_short_path(e, sp, sizeof(sp));
	ck_assert_int_eq(symlink(sp, key), 0);
	ck_assert_int_eq(lchown(key, 4242, 4242), 0);
	remove_now(e);
	ck_assert_int_eq(setgroups((size_t)n, old), 0);
	ck_assert_msg(lstat(key, &st) == 0, "uid 4242's link was removed through the broker's "
	    "group %lu", (unsigned long)g);
	/* where the owner itself may write, it goes */
	ck_assert_int_eq(chown(d, 4242, 4242), 0);
	remove_now(e);
	ck_assert_int_eq(lstat(key, &st), -1);
	rmdir(d);
	entry_free(e);
}
END_TEST

/* At most 8 pending per person: a subordinate uid is its owner's */
START_TEST(per_person)
{
	struct linkrm *jobs[9], *other;
	struct entry *e[9], *o;
	char key[400];
	int i;

	for (i = 0; i < 9; i++) {
		snprintf(key, sizeof(key), "%s/none/%d", top, i);
		/* uids of one person (state-stubs.c: 200000.. are uid 1000's) */
		e[i] = entry_of(key, i == 8 ? 200001 : 1000);
	}
	for (i = 0; i < 8; i++)
		ck_assert_ptr_nonnull(jobs[i] = linkrm_prepare(slashfd, e[i]));
	errno = 0;
	jobs[8] = linkrm_prepare(slashfd, e[8]);
	ck_assert_ptr_null(jobs[8]);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_msg(strstr(stub_log, "(EAGAIN)") != NULL, "not logged: %s", stub_log);
	o = entry_of("/tmp/check_linkrm-other", 4242);
	ck_assert_ptr_nonnull(other = linkrm_prepare(slashfd, o));
	for (i = 0; i < 8; i++)
		linkrm_start(jobs[i]);
	linkrm_start(other);
	settle();
	ck_assert_ptr_nonnull(jobs[8] = linkrm_prepare(slashfd, e[8]));
	linkrm_start(jobs[8]);
	settle();
	for (i = 0; i < 9; i++)
		entry_free(e[i]);
	entry_free(o);
}
END_TEST

static Suite *
linkrm_suite(void)
{
	Suite *s = suite_create("linkrm");
	TCase *tc = tcase_create("remove");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, own_link);
	tcase_add_test(tc, swapped_in);
	tcase_add_test(tc, no_groups);
	tcase_add_test(tc, per_person);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int r = check_run(linkrm_suite(), CK_NOFORK);

	rmdir(rootdir);
	rmdir(top);
	return r;
}
