/*
 * check_shim_rewrite.c: the command-line rewriter of the shim and of
 * sockbroker exec, with a map that records what it was asked.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rewrite.h"

struct rec {
	int		calls;
	char		last[8192];
	enum sbrw_role	role;
	const char	*out;		/* the replacement */
};

static int
rec_map(void *ctx, const char *long_path, enum sbrw_role role, char *out, size_t size)
{
	struct rec *r = ctx;

	r->calls++;
	snprintf(r->last, sizeof(r->last), "%s", long_path);
	r->role = role;
	if (r->out == NULL)
		return -ENAMETOOLONG;
	snprintf(out, size, "%s", r->out);
	return 0;
}

/* A path of n bytes: /l/lll...; and the same with a comma in it. */
static char *
long_path(size_t n, int comma)
{
	char *p = malloc(n + 1);

	memset(p, 'l', n);
	p[0] = '/';
	p[2] = '/';
	if (comma)
		p[n / 2] = ',';
	p[n] = '\0';
	return p;
}

/* Rewrite one argument (after a program name); returns the result. */
static char *
rw1(const char *fmt, const char *path, const char *pre, struct rec *r, const struct sbrw_rules *rules)
{
	static char buf[16384];
	char *argv[4];
	int argc = 0;

	/* fmt holds one "%s": the path goes there */
	{
		const char *at = strstr(fmt, "%s");

		ck_assert_ptr_nonnull(at);
		snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - fmt), fmt, path, at + 2);
	}
	argv[argc++] = (char *)"prog";
	if (pre != NULL)
		argv[argc++] = (char *)pre;
	argv[argc++] = buf;
	argv[argc] = NULL;
	sbrw_argv(argc, argv, rules, rec_map, r);
	return buf;
}

START_TEST(builtin_rules)
{
	struct rec r = { .out = "/s/short" };
	char *p = long_path(150, 0);

	ck_assert_str_eq(rw1("unix:%s,server=on,wait=off", p, "-qmp", &r, NULL),
	    "unix:/s/short,server=on,wait=off");
	ck_assert_str_eq(r.last, p);
	ck_assert_int_eq(r.role, SBRW_ROLE_SERVER);
	ck_assert_str_eq(rw1("unix:%s", p, "-qmp", &r, NULL), "unix:/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_CLIENT);
	ck_assert_str_eq(rw1("UNIX-LISTEN:%s,fork,unlink-early", p, NULL, &r, NULL),
	    "UNIX-LISTEN:/s/short,fork,unlink-early");
	ck_assert_int_eq(r.role, SBRW_ROLE_SERVER);
	ck_assert_str_eq(rw1("unix-connect:%s", p, NULL, &r, NULL), "unix-connect:/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_CLIENT);
	ck_assert_str_eq(rw1("UNIX:%s", p, NULL, &r, NULL), "UNIX:/s/short");
	ck_assert_str_eq(rw1("UNIX-CLIENT:%s", p, NULL, &r, NULL), "UNIX-CLIENT:/s/short");
	ck_assert_str_eq(rw1("UNIX-SENDTO:%s", p, NULL, &r, NULL), "UNIX-SENDTO:/s/short");
	ck_assert_str_eq(rw1("UNIX-RECV:%s", p, NULL, &r, NULL), "UNIX-RECV:/s/short");
	ck_assert_str_eq(rw1("UNIX-RECVFROM:%s", p, NULL, &r, NULL), "UNIX-RECVFROM:/s/short");
	ck_assert_str_eq(rw1("socket,id=t,path=%s,server=on,wait=off", p, "-chardev", &r, NULL),
	    "socket,id=t,path=/s/short,server=on,wait=off");
	ck_assert_int_eq(r.role, SBRW_ROLE_SERVER);
	ck_assert_str_eq(rw1("socket,id=t,path=%s", p, "-chardev", &r, NULL), "socket,id=t,path=/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_CLIENT);
	ck_assert_str_eq(rw1("type=unixio,path=%s,mode=0600", p, "--ctrl", &r, NULL),
	    "type=unixio,path=/s/short,mode=0600");
	ck_assert_int_eq(r.role, SBRW_ROLE_SERVER);
	ck_assert_str_eq(rw1("path=%s,type=unixio", p, "--server", &r, NULL), "path=/s/short,type=unixio");
	ck_assert_str_eq(rw1("%s", p, "--unix", &r, NULL), "/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_CLIENT);
	ck_assert_str_eq(rw1("--unix=%s", p, NULL, &r, NULL), "--unix=/s/short");
	ck_assert_str_eq(rw1("stream,id=n,addr.type=unix,addr.path=%s,server=on", p, "-netdev", &r, NULL),
	    "stream,id=n,addr.type=unix,addr.path=/s/short,server=on");
	free(p);
}
END_TEST

START_TEST(left_alone)
{
	struct rec r = { .out = "/s/short" };
	char *p = long_path(150, 0), *p108 = long_path(108, 0), *p109 = long_path(109, 0);
	char want[512];

	/* non-socket paths */
	snprintf(want, sizeof(want), "dir=%s", p);
	ck_assert_str_eq(rw1("dir=%s", p, "--tpmstate", &r, NULL), want);
	snprintf(want, sizeof(want), "file=%s,level=20", p);
	ck_assert_str_eq(rw1("file=%s,level=20", p, "--log", &r, NULL), want);
	snprintf(want, sizeof(want), "type=file,path=%s", p);
	ck_assert_str_eq(rw1("type=file,path=%s", p, "--ctrl", &r, NULL), want);
	snprintf(want, sizeof(want), "type=unixiox,path=%s", p);
	ck_assert_str_eq(rw1("type=unixiox,path=%s", p, "--ctrl", &r, NULL), want);
	snprintf(want, sizeof(want), "file,id=f,path=%s", p);
	ck_assert_str_eq(rw1("file,id=f,path=%s", p, "-chardev", &r, NULL), want);
	snprintf(want, sizeof(want), "OPEN:%s", p);
	ck_assert_str_eq(rw1("OPEN:%s", p, NULL, &r, NULL), want);
	ck_assert_str_eq(rw1("%s", p, NULL, &r, NULL), p);
	ck_assert_int_eq(r.calls, 0);
	/* 108 bytes is legal; 109 is not */
	snprintf(want, sizeof(want), "unix:%s", p108);
	ck_assert_str_eq(rw1("unix:%s", p108, NULL, &r, NULL), want);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_str_eq(rw1("unix:%s", p109, NULL, &r, NULL), "unix:/s/short");
	ck_assert_int_eq(r.calls, 1);
	/* the map refuses: untouched */
	r.out = NULL;
	snprintf(want, sizeof(want), "unix:%s", p);
	ck_assert_str_eq(rw1("unix:%s", p, NULL, &r, NULL), want);
	free(p);
	free(p108);
	free(p109);
}
END_TEST

START_TEST(qemu_commas)
{
	struct rec r = { .out = "/s/x,y" };
	char *p = long_path(150, 1), enc[400], want[512];
	size_t i, o = 0;

	for (i = 0; p[i] != '\0'; i++) {
		enc[o++] = p[i];
		if (p[i] == ',')
			enc[o++] = ',';
	}
	enc[o] = '\0';
	/* ",," in a QEMU value is one comma of the path, and so is it written */
	ck_assert_str_eq(rw1("socket,id=t,path=%s,server=on", enc, "-chardev", &r, NULL),
	    "socket,id=t,path=/s/x,,y,server=on");
	ck_assert_str_eq(r.last, p);
	ck_assert_str_eq(rw1("unix:%s", enc, "-qmp", &r, NULL), "unix:/s/x,,y");
	/* socat: the path ends at the first comma (here: too short to matter) */
	snprintf(want, sizeof(want), "UNIX-LISTEN:%s", p);
	r.calls = 0;
	ck_assert_str_eq(rw1("UNIX-LISTEN:%s", p, NULL, &r, NULL), want);
	ck_assert_int_eq(r.calls, 0);
	free(p);
}
END_TEST

START_TEST(extra_rules)
{
	struct sbrw_rules rules;
	struct rec r = { .out = "/s/short" };
	const char *bad = NULL;
	char *p = long_path(150, 0);

	ck_assert_int_eq(sbrw_parse_rules("opt:--socket;prefix:sock=;;", &rules, &bad), 2);
	ck_assert_str_eq(rw1("%s", p, "--socket", &r, &rules), "/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_ANY);
	ck_assert_str_eq(rw1("--socket=%s", p, NULL, &r, &rules), "--socket=/s/short");
	ck_assert_str_eq(rw1("sock=%s", p, NULL, &r, &rules), "sock=/s/short");
	ck_assert_str_eq(rw1("a=1,sock=%s,b=2", p, NULL, &r, &rules), "a=1,sock=/s/short,b=2");
	ck_assert_int_eq(sbrw_parse_rules("opt:--a;bogus:x;opt:--b", &rules, &bad), -EINVAL);
	ck_assert_int_eq(rules.n, 1);
	ck_assert_str_eq(bad, "bogus:x;opt:--b");
	ck_assert_int_eq(sbrw_parse_rules("opt:", &rules, &bad), -EINVAL);
	ck_assert_int_eq(sbrw_parse_rules(NULL, &rules, &bad), 0);
	free(p);
}
END_TEST

START_TEST(whole_argv)
{
	struct rec r = { .out = "/s/short" };
	char *p = long_path(150, 0), a1[400], a2[400], a3[400];
	char *argv[] = { (char *)"swtpm", (char *)"socket", (char *)"--tpmstate", a1,
	    (char *)"--ctrl", a2, (char *)"--unix", a3, (char *)"--unix", NULL };

	snprintf(a1, sizeof(a1), "dir=%s", p);
	snprintf(a2, sizeof(a2), "type=unixio,path=%s", p);
	snprintf(a3, sizeof(a3), "%s", p);
	ck_assert_int_eq(sbrw_argv(9, argv, NULL, rec_map, &r), 2);
	ck_assert_str_eq(a2, "type=unixio,path=/s/short");
	ck_assert_str_eq(a3, "/s/short");
	ck_assert_int_eq(strncmp(a1, "dir=/l/", 7), 0);
	free(p);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("shim-rewrite");
	TCase *tc = tcase_create("rewrite");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, builtin_rules);
	tcase_add_test(tc, left_alone);
	tcase_add_test(tc, qemu_commas);
	tcase_add_test(tc, extra_rules);
	tcase_add_test(tc, whole_argv);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
