/* SPDX-License-Identifier: ISC */
/*
 * check_reexec.c: the re-exec handover (brokerd/reexec.c). A client that
 * waits for a key when the broker re-executes keeps waiting in the new
 * image for the same request id, the same key (up to the longest one) and
 * the time it had left; a wait record that is cut short or damaged is
 * refused whole, never read as a shorter key or another request.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check-common.h"
#include "brokerd.h"

/* Write the wait records of n waiters, re-execute in spirit, adopt them. */
static size_t
handover(const uint32_t *ids, const unsigned long *ms, const char **keys, size_t n,
    struct adopted **ret)
{
	char env[64];
	size_t i, got = 0;
	int mfd = reexec_begin(), fd;

	ck_assert_int_ge(mfd, 3);
	for (i = 0; i < n; i++) {
		fd = open("/dev/null", O_RDONLY);
		ck_assert_int_ge(fd, 3);
		ck_assert_int_eq(reexec_put_wait(fd, ids[i], ms[i], keys[i]), 0);
	}
	ck_assert_int_eq(reexec_flush(mfd), 0);
	snprintf(env, sizeof(env), "%d:%ld", mfd, (long)getpid());
	ck_assert_int_eq(setenv("SOCKBROKERD_REEXEC_FDS", env, 1), 0);
	ck_assert_int_eq(reexec_adopt(ret, &got), 0);
	ck_assert_ptr_null(getenv("SOCKBROKERD_REEXEC_FDS"));
	return got;
}

/* The ARG of one wait record for key, as the handover holds it. */
static char *
wait_arg(const char *key)
{
	struct adopted *a;
	const char *k[1] = { key };
	uint32_t id = 7;
	unsigned long ms = 1000;
	char *arg;

	ck_assert_uint_eq(handover(&id, &ms, k, 1, &a), 1);
	ck_assert_ptr_nonnull(a[0].arg);
	arg = a[0].arg;
	close(a[0].fd);
	free(a);
	return arg;
}

static char longest[SB_KEY_MAX + 1];

static void
setup(void)
{
	memset(longest, 'k', SB_KEY_MAX);
	longest[0] = '/';
	longest[SB_KEY_MAX] = '\0';
}

START_TEST(waits_roundtrip)
{
	const uint32_t ids[] = { 0, 1, 42, UINT32_MAX };
	const unsigned long ms[] = { 1, 0, 30000, SB_WAIT_TIMEOUT_MAX_MS };
	const char *keys[] = { "a", "tpm-vm1", longest, "/run/user/1000/some socket" };
	char key[SB_KEY_MAX + 1];
	struct adopted *a;
	unsigned long gms;
	uint32_t gid;
	size_t i, n;

	n = handover(ids, ms, keys, 4, &a);
	ck_assert_uint_eq(n, 4);
	for (i = 0; i < n; i++) {
		ck_assert_str_eq(a[i].name, "wait");
		ck_assert_ptr_nonnull(a[i].arg);
		ck_assert_int_ne(fcntl(a[i].fd, F_GETFD) & FD_CLOEXEC, 0);
		memset(key, 'x', sizeof(key));
		ck_assert_int_eq(reexec_parse_wait(a[i].arg, &gid, &gms, key), 0);
		ck_assert_uint_eq(gid, ids[i]);
		ck_assert_uint_eq(gms, ms[i]);
		ck_assert_str_eq(key, keys[i]);
		close(a[i].fd);
		free(a[i].arg);
	}
	free(a);
}
END_TEST

START_TEST(wait_truncated)
{
	char key[SB_KEY_MAX + 1], *arg = wait_arg(longest), *cut;
	size_t len = strlen(arg), i;
	unsigned long ms;
	uint32_t id;

	/* every shorter prefix: odd, or a message that ends too soon */
	for (i = 0; i < len; i++) {
		cut = strndup(arg, i);
		ck_assert_ptr_nonnull(cut);
		ck_assert_msg(reexec_parse_wait(cut, &id, &ms, key) == -EINVAL,
		    "a wait record cut to %zu of %zu hex digits is taken", i, len);
		free(cut);
	}
	free(arg);
}
END_TEST

START_TEST(wait_damaged)
{
	char key[SB_KEY_MAX + 1], *arg = wait_arg("tpm-vm1"), *bad;
	size_t len = strlen(arg), i;
	unsigned long ms;
	uint32_t id;
	int r;

	ck_assert_int_eq(reexec_parse_wait(arg, &id, &ms, key), 0);
	/* a character that is no lowercase hex digit, anywhere */
	for (i = 0; i < len; i++) {
		ck_assert_ptr_nonnull(bad = strdup(arg));
		bad[i] = i % 2 ? 'g' : 'A';
		ck_assert_int_eq(reexec_parse_wait(bad, &id, &ms, key), -EINVAL);
		free(bad);
	}
	/* every byte of the header (magic, version, type, length) changed */
	for (i = 0; i < 2 * SB_HDR_SIZE; i += 2) {
		if (i >= 24 && i < 32)	/* the request id: any value is one */
			continue;
		ck_assert_ptr_nonnull(bad = strdup(arg));
		bad[i] = bad[i] == 'f' ? '0' : 'f';
		r = reexec_parse_wait(bad, &id, &ms, key);
		ck_assert_msg(r == -EINVAL, "header byte %zu changed: %d", i / 2, r);
		free(bad);
	}
	/* trailing bytes */
	ck_assert_ptr_nonnull(bad = malloc(len + 3));
	snprintf(bad, len + 3, "%s00", arg);
	ck_assert_int_eq(reexec_parse_wait(bad, &id, &ms, key), -EINVAL);
	free(bad);
	ck_assert_int_eq(reexec_parse_wait("", &id, &ms, key), -EINVAL);
	/* the old format ("RID MS HEXKEY") */
	ck_assert_int_eq(reexec_parse_wait("7 1000 61", &id, &ms, key), -EINVAL);
	free(arg);
}
END_TEST

/* Another message the codec accepts is still no wait. */
START_TEST(wait_other_message)
{
	static const char hex[] = "0123456789abcdef";
	char key[SB_KEY_MAX + 1], arg[2 * SB_MSG_MAX + 1];
	uint8_t buf[SB_MSG_MAX];
	struct sb_msg m;
	unsigned long ms;
	uint32_t id;
	ssize_t n, i;
	int with_timeout;

	for (with_timeout = 0; with_timeout < 2; with_timeout++) {
		sb_msg_init(&m, with_timeout ? SB_MSG_GET : SB_MSG_WAIT, 7);
		sb_msg_set_str(&m, SB_F_KEY, "tpm-vm1");
		n = sb_msg_encode(&m, buf, sizeof(buf));
		ck_assert_int_gt(n, 0);
		for (i = 0; i < n; i++) {
			arg[2 * i] = hex[buf[i] >> 4];
			arg[2 * i + 1] = hex[buf[i] & 0xf];
		}
		arg[2 * n] = '\0';
		/* a GET; a WAIT without the time it had left */
		ck_assert_int_eq(reexec_parse_wait(arg, &id, &ms, key), -EINVAL);
	}
}
END_TEST

/* A key the codec refuses (over SB_KEY_MAX) writes no record. */
START_TEST(wait_key_too_long)
{
	static char key[SB_KEY_MAX + 2];
	int mfd = reexec_begin();

	ck_assert_int_ge(mfd, 3);
	memset(key, 'k', SB_KEY_MAX + 1);
	key[0] = '/';
	ck_assert_int_eq(reexec_put_wait(5, 1, 1, key), -EINVAL);
	ck_assert_int_eq(reexec_flush(mfd), 0);
	ck_assert_int_eq(lseek(mfd, 0, SEEK_END), 0);
	close(mfd);
}
END_TEST

static Suite *
reexec_suite(void)
{
	Suite *s = suite_create("reexec");
	TCase *tc = tcase_create("waits");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, waits_roundtrip);
	tcase_add_test(tc, wait_truncated);
	tcase_add_test(tc, wait_damaged);
	tcase_add_test(tc, wait_other_message);
	tcase_add_test(tc, wait_key_too_long);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(reexec_suite(), CK_FORK_GETENV);
}
