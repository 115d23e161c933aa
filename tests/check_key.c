/* SPDX-License-Identifier: ISC */
/*
 * check_key.c: key validation, path keys and the short-path function.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check-common.h"
#include "sb-internal.h"
#include "sb-proto.h"
#include "sockbroker.h"

START_TEST(sha256_vectors)
{
	/* FIPS 180-2 test vectors */
	static const struct { const char *in; const char *hex; } v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
		/* the longest inputs of one block (Python's hashlib) */
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnop",
		  "aa353e009edbaebfc6e494c8d847696896cb8b398e0173a4b5c1b636292d87c7" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopno",
		  "71806f0af18dbbe905f8fcaa576b8e687859163cf68b38bc26f32e5120522cc1" },
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t d[32];
		char hex[65];
		int j;

		sb_sha256(v[i].in, strlen(v[i].in), d);
		for (j = 0; j < 32; j++)
			snprintf(hex + 2 * j, 3, "%02x", d[j]);
		ck_assert_str_eq(hex, v[i].hex);
	}
}
END_TEST

/*
 * The SHA-NI block (where the CPU has it) and the portable one give the
 * same digests: every length over several blocks, and the vectors with
 * each (the vectors above ran with the fastest).
 */
START_TEST(sha256_blocks_agree)
{
	static const char million[] = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
	uint8_t in[300], d1[32], d2[32];
	char hex[65];
	size_t n, i;
	uint8_t *big;
	int j;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 131 + 7);
	for (n = 0; n <= sizeof(in); n++) {
		sb_sha256_portable(1);
		sb_sha256(in, n, d1);
		sb_sha256_portable(0);
		sb_sha256(in, n, d2);
		ck_assert_msg(memcmp(d1, d2, 32) == 0, "length %zu: the two blocks differ", n);
	}
	/* FIPS 180-2: a million 'a', with each block */
	ck_assert_ptr_nonnull(big = malloc(1000000));
	memset(big, 'a', 1000000);
	for (i = 0; i < 2; i++) {
		sb_sha256_portable(i == 0);
		sb_sha256(big, 1000000, d1);
		for (j = 0; j < 32; j++)
			snprintf(hex + 2 * j, 3, "%02x", d1[j]);
		ck_assert_str_eq(hex, million);
	}
	sb_sha256_portable(0);
	free(big);
}
END_TEST

START_TEST(names)
{
	char name[SB_NAME_MAX + 2];

	ck_assert_int_eq(sb_key_check("tpm-vm1"), 0);
	ck_assert_int_eq(sb_key_check("a.b_c:d@e+f-g"), 0);
	ck_assert_int_eq(sb_key_check(""), -EINVAL);
	ck_assert_int_eq(sb_key_check(NULL), -EINVAL);
	ck_assert_int_eq(sb_key_check("with space"), -EINVAL);
	ck_assert_int_eq(sb_key_check("semi;colon"), -EINVAL);
	ck_assert_int_eq(sb_key_check("new\nline"), -EINVAL);
	ck_assert_int_eq(sb_key_check("rel/path"), -EINVAL);
	ck_assert_int_eq(sb_key_check("\xc3\xa9t\xc3\xa9"), -EINVAL);
	memset(name, 'n', SB_NAME_MAX);
	name[SB_NAME_MAX] = '\0';
	ck_assert_int_eq(sb_key_check(name), 0);
	name[SB_NAME_MAX] = 'n';
	name[SB_NAME_MAX + 1] = '\0';
	ck_assert_int_eq(sb_key_check(name), -ENAMETOOLONG);
}
END_TEST

START_TEST(paths)
{
	char *p = malloc(SB_PATH_KEY_MAX + 2);

	ck_assert_int_eq(sb_key_check("/a/b/c.sock"), 0);
	ck_assert_int_eq(sb_key_is_path("/a"), 1);
	ck_assert_int_eq(sb_key_is_path("a"), 0);
	ck_assert_int_eq(sb_key_check("/"), -EINVAL);
	ck_assert_int_eq(sb_key_check("/a/"), -EINVAL);
	ck_assert_int_eq(sb_key_check("/a//b"), -EINVAL);
	ck_assert_int_eq(sb_key_check("/a/./b"), -EINVAL);
	ck_assert_int_eq(sb_key_check("/a/../b"), -EINVAL);
	ck_assert_int_eq(sb_key_check("/a/.."), -EINVAL);
	ck_assert_int_eq(sb_key_check("/.."), -EINVAL);
	/* dots inside a component are fine */
	ck_assert_int_eq(sb_key_check("/a/..b/.c/d.."), 0);
	memset(p, 'x', SB_PATH_KEY_MAX);
	p[0] = '/';
	p[SB_PATH_KEY_MAX] = '\0';
	ck_assert_int_eq(sb_key_check(p), 0);
	p[SB_PATH_KEY_MAX] = 'x';
	p[SB_PATH_KEY_MAX + 1] = '\0';
	ck_assert_int_eq(sb_key_check(p), -ENAMETOOLONG);
	free(p);
}
END_TEST

/* The directory a path key's socket lives in, and its name there. */
START_TEST(key_dir)
{
	char dir[16];
	const char *base = NULL;

	ck_assert_int_eq(sb_key_dir("/run/user/1000/vm.sock", dir, sizeof(dir), &base), 0);
	ck_assert_str_eq(dir, "/run/user/1000");
	ck_assert_str_eq(base, "vm.sock");
	ck_assert_int_eq(sb_key_dir("/s", dir, sizeof(dir), &base), 0);
	ck_assert_str_eq(dir, "/");
	ck_assert_str_eq(base, "s");
	ck_assert_int_eq(sb_key_dir("/a/b", dir, sizeof(dir), NULL), 0);
	ck_assert_str_eq(dir, "/a");
	/* 15 bytes of directory fit 16, 16 do not */
	ck_assert_int_eq(sb_key_dir("/aaaaaaaaaaaaaa/s", dir, sizeof(dir), &base), 0);
	ck_assert_str_eq(dir, "/aaaaaaaaaaaaaa");
	ck_assert_int_eq(sb_key_dir("/aaaaaaaaaaaaaaa/s", dir, sizeof(dir), &base), -ENAMETOOLONG);
	ck_assert_int_eq(sb_key_dir("name", dir, sizeof(dir), &base), -EINVAL);
	ck_assert_int_eq(sb_key_dir("", dir, sizeof(dir), &base), -EINVAL);
}
END_TEST

START_TEST(from_path)
{
	char dir[] = "/tmp/sbkey.XXXXXX", sub[PATH_MAX], link[PATH_MAX];
	char key[PATH_MAX], want[PATH_MAX], cwd[PATH_MAX];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/real", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	ck_assert_int_eq(symlink(sub, link), 0);

	/* repeated slashes and "." go; a symlinked directory is resolved */
	snprintf(want, sizeof(want), "%s/real/s.sock", dir);
	ck_assert_int_eq(sb_key_from_path(want, key, sizeof(key)), 0);
	ck_assert_str_eq(key, want);
	snprintf(link, sizeof(link), "%s//link/./s.sock", dir);
	ck_assert_int_eq(sb_key_from_path(link, key, sizeof(key)), 0);
	ck_assert_str_eq(key, want);

	/* relative to the working directory */
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir(sub), 0);
	ck_assert_int_eq(sb_key_from_path("s.sock", key, sizeof(key)), 0);
	ck_assert_str_eq(key, want);
	ck_assert_int_eq(sb_key_from_path("./s.sock", key, sizeof(key)), 0);
	ck_assert_str_eq(key, want);
	ck_assert_int_eq(chdir(cwd), 0);

	/* a directory that does not exist is cleaned lexically only */
	ck_assert_int_eq(sb_key_from_path("/nonexistent-sb//x/./y", key, sizeof(key)), 0);
	ck_assert_str_eq(key, "/nonexistent-sb/x/y");
	/* ".." that cannot be resolved is refused, never guessed */
	ck_assert_int_eq(sb_key_from_path("/nonexistent-sb/../y", key, sizeof(key)), -EINVAL);
	/* buffer too small: untouched output, error */
	strcpy(key, "untouched");
	ck_assert_int_eq(sb_key_from_path(want, key, 4), -ENAMETOOLONG);
	ck_assert_str_eq(key, "untouched");
	ck_assert_int_eq(sb_key_from_path("", key, sizeof(key)), -EINVAL);

	snprintf(link, sizeof(link), "%s/link", dir);
	unlink(link);
	rmdir(sub);
	rmdir(dir);
}
END_TEST

START_TEST(short_path_shape)
{
	char sp[SB_SHORT_PATH_SIZE], sp2[SB_SHORT_PATH_SIZE];
	const char *root = "/run/sockbroker";
	size_t rl = strlen(root);
	int i;

	ck_assert_int_eq(sb_short_path(root, "tpm-vm1", sp, sizeof(sp)), 0);
	ck_assert_uint_eq(strlen(sp), rl + SB_SHORT_TAIL);
	ck_assert_int_eq(strncmp(sp, root, rl), 0);
	ck_assert_int_eq(sp[rl], '/');
	for (i = 1; i <= 2; i++)
		ck_assert(strchr("0123456789abcdef", sp[rl + i]) != NULL);
	ck_assert_int_eq(sp[rl + 3], '/');
	for (i = 4; i < 4 + SB_HASH_CHARS; i++)
		ck_assert(strchr("0123456789abcdefghijklmnopqrstuv", sp[rl + i]) != NULL);
	ck_assert_str_eq(sp + rl + 4 + SB_HASH_CHARS, "/sock");
	/* stable: the same key, the same path (also with a trailing slash on root) */
	ck_assert_int_eq(sb_short_path("/run/sockbroker/", "tpm-vm1", sp2, sizeof(sp2)), 0);
	ck_assert_str_eq(sp, sp2);
	/* a known value, so that a change of the function is never silent */
	ck_assert_int_eq(sb_short_path("/r", "abc", sp, sizeof(sp)), 0);
	/* sha256("abc") = ba7816bf...: base32hex of bytes 1..10, as Python computes it */
	ck_assert_int_eq(strncmp(sp, "/r/ba/", 6), 0);
	ck_assert_str_eq(sp + 6, "f0bbv3o1pvl42ga0/sock");
}
END_TEST

START_TEST(short_path_distinct)
{
	char a[PATH_MAX], b[PATH_MAX], spa[SB_SHORT_PATH_SIZE], spb[SB_SHORT_PATH_SIZE];
	int i;

	/* paths that share their first 108 (and more) bytes stay distinct */
	memset(a, 'q', 300);
	a[0] = '/';
	a[300] = '\0';
	strcpy(b, a);
	a[299] = '1';
	b[299] = '2';
	ck_assert_int_eq(sb_short_path("/run/sb", a, spa, sizeof(spa)), 0);
	ck_assert_int_eq(sb_short_path("/run/sb", b, spb, sizeof(spb)), 0);
	ck_assert_str_ne(spa, spb);
	/* a name and a path never meet; many names give many paths */
	for (i = 0; i < 1000; i++) {
		char n1[32], n2[32];

		snprintf(n1, sizeof(n1), "vm%d", i);
		snprintf(n2, sizeof(n2), "vm%d", i + 1);
		ck_assert_int_eq(sb_short_path("/r", n1, spa, sizeof(spa)), 0);
		ck_assert_int_eq(sb_short_path("/r", n2, spb, sizeof(spb)), 0);
		ck_assert_str_ne(spa, spb);
	}
}
END_TEST

START_TEST(short_path_bounds)
{
	char root[SB_ROOT_MAX + 2], sp[SB_SHORT_PATH_SIZE];

	memset(root, 'r', sizeof(root));
	root[0] = '/';
	root[SB_ROOT_MAX] = '\0';
	/* the longest root gives a short path of 107 bytes: it fits with its NUL */
	ck_assert_int_eq(sb_short_path(root, "k", sp, sizeof(sp)), 0);
	ck_assert_uint_eq(strlen(sp), SB_SUN_PATH_SIZE - 1);
	root[SB_ROOT_MAX] = 'r';
	root[SB_ROOT_MAX + 1] = '\0';
	ck_assert_int_eq(sb_short_path(root, "k", sp, sizeof(sp)), -ENAMETOOLONG);
	/* bad keys and roots */
	ck_assert_int_eq(sb_short_path("/r", "a b", sp, sizeof(sp)), -EINVAL);
	ck_assert_int_eq(sb_short_path("relative", "k", sp, sizeof(sp)), -EINVAL);
	ck_assert_int_eq(sb_short_path("/r", "k", sp, 10), -ENOBUFS);
}
END_TEST

START_TEST(default_root)
{
	char r[256];

	setenv("SOCKBROKER_ROOT", "/tmp/x-root", 1);
	ck_assert_int_eq(sb_default_root(r, sizeof(r)), 0);
	ck_assert_str_eq(r, "/tmp/x-root");
	unsetenv("SOCKBROKER_ROOT");
	ck_assert_int_eq(sb_default_root(r, sizeof(r)), 0);
	if (geteuid() == 0)
		ck_assert_str_eq(r, "/run/sockbroker");
	ck_assert_int_eq(sb_default_root(r, 4), -ENAMETOOLONG);
}
END_TEST

static Suite *
key_suite(void)
{
	Suite *s = suite_create("key");
	TCase *tc = tcase_create("key");

	tcase_add_test(tc, sha256_vectors);
	tcase_add_test(tc, sha256_blocks_agree);
	tcase_add_test(tc, names);
	tcase_add_test(tc, paths);
	tcase_add_test(tc, key_dir);
	tcase_add_test(tc, from_path);
	tcase_add_test(tc, short_path_shape);
	tcase_add_test(tc, short_path_distinct);
	tcase_add_test(tc, short_path_bounds);
	tcase_add_test(tc, default_root);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(key_suite(), CK_FORK_GETENV);
}
