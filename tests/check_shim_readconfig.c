/* SPDX-License-Identifier: ISC */
/*
 * check_shim_readconfig.c: the socket paths of QEMU -readconfig files
 * (shims/readconfig.c), with a map that numbers what it was asked.
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
#include <sys/stat.h>
#include <unistd.h>

#include "check-common.h"

#include "readconfig.h"

struct rec {
	int		calls;
	char		seen[8][2048];
	enum sbrw_role	role[8];
};

/* LONG -> /s/N (N: the call number) */
static int
rec_map(void *ctx, const char *long_path, enum sbrw_role role, char *out, size_t size)
{
	struct rec *r = ctx;

	if (r->calls < 8) {
		snprintf(r->seen[r->calls], sizeof(r->seen[0]), "%s", long_path);
		r->role[r->calls] = role;
	}
	snprintf(out, size, "/s/%d", r->calls++);
	return 0;
}

static int
refuse_map(void *ctx, const char *long_path, enum sbrw_role role, char *out, size_t size)
{
	(void)ctx, (void)long_path, (void)role, (void)out, (void)size;
	return -ENAMETOOLONG;
}

/* A directory path of n bytes ending in /name. */
static const char *
long_path(size_t n, const char *name)
{
	static char buf[4][2048];
	static int k;
	char *p = buf[k++ % 4], d[2048];
	size_t m = strlen(name);

	ck_assert(n > m + 2 && n < sizeof(d));
	memset(d, 'd', sizeof(d));
	d[0] = '/';
	d[n - m - 1] = '\0';
	snprintf(p, sizeof(buf[0]), "%s/%s", d, name);
	return p;
}

/* Rewrite text; the result (or NULL: left alone) and the count. */
static char *
rw(const char *text, struct rec *r, int *ret_count)
{
	char *out = NULL;
	size_t len = 0;

	memset(r, 0, sizeof(*r));
	*ret_count = sbrc_rewrite(text, strlen(text), rec_map, r, &out, &len);
	if (out != NULL)
		ck_assert_uint_eq(len, strlen(out));
	return out;
}

/* What Incus writes: monitor, console, TPM, spice, virtio-fs; the rest untouched. */
START_TEST(incus_file)
{
	const char *mon = long_path(170, "qemu.monitor"), *con = long_path(171, "qemu.console");
	const char *tpm = long_path(160, "swtpm.sock"), *spice = long_path(165, "qemu.spice");
	const char *fs = long_path(150, "virtiofsd.sock"), *dir = long_path(180, "share");
	char text[8192], want[8192], *out;
	struct rec r;
	int n;

	snprintf(text, sizeof(text),
	    "# Machine\n[machine]\ngraphics = \"off\"\ntype = \"q35\"\n\n"
	    "# Qemu control\n[chardev \"monitor\"]\nbackend = \"socket\"\npath = \"%s\"\n"
	    "server = \"on\"\nwait = \"off\"\n\n[mon]\nchardev = \"monitor\"\nmode = \"control\"\n\n"
	    "[chardev \"console\"]\nbackend = \"socket\"\npath = \"%s\"\nserver = \"on\"\nwait = \"off\"\n\n"
	    "[chardev \"qemu_tpm-chardev_vtpm\"]\nbackend = \"socket\"\npath = \"%s\"\n\n"
	    "[tpmdev \"qemu_tpm-tpmdev_vtpm\"]\ntype = \"emulator\"\nchardev = \"qemu_tpm-chardev_vtpm\"\n\n"
	    "# SPICE\n[spice]\nunix = \"on\"\ndisable-ticketing = \"on\"\naddr = \"%s\"\n\n"
	    "[chardev \"incus_fs\"]\nbackend = \"socket\"\npath = \"%s\"\n\n"
	    "[fsdev \"qemu_config\"]\nfsdriver = \"local\"\nsecurity_model = \"none\"\nreadonly = \"on\"\n"
	    "path = \"%s\"\n", mon, con, tpm, spice, fs, dir);
	out = rw(text, &r, &n);
	ck_assert_int_eq(n, 5);
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(r.seen[0], mon);
	ck_assert_int_eq(r.role[0], SBRW_ROLE_SERVER);
	ck_assert_str_eq(r.seen[2], tpm);
	ck_assert_int_eq(r.role[2], SBRW_ROLE_CLIENT);
	ck_assert_str_eq(r.seen[3], spice);
	ck_assert_str_eq(r.seen[4], fs);
	snprintf(want, sizeof(want),
	    "# Machine\n[machine]\ngraphics = \"off\"\ntype = \"q35\"\n\n"
	    "# Qemu control\n[chardev \"monitor\"]\nbackend = \"socket\"\npath = \"/s/0\"\n"
	    "server = \"on\"\nwait = \"off\"\n\n[mon]\nchardev = \"monitor\"\nmode = \"control\"\n\n"
	    "[chardev \"console\"]\nbackend = \"socket\"\npath = \"/s/1\"\nserver = \"on\"\nwait = \"off\"\n\n"
	    "[chardev \"qemu_tpm-chardev_vtpm\"]\nbackend = \"socket\"\npath = \"/s/2\"\n\n"
	    "[tpmdev \"qemu_tpm-tpmdev_vtpm\"]\ntype = \"emulator\"\nchardev = \"qemu_tpm-chardev_vtpm\"\n\n"
	    "# SPICE\n[spice]\nunix = \"on\"\ndisable-ticketing = \"on\"\naddr = \"/s/3\"\n\n"
	    "[chardev \"incus_fs\"]\nbackend = \"socket\"\npath = \"/s/4\"\n\n"
	    "[fsdev \"qemu_config\"]\nfsdriver = \"local\"\nsecurity_model = \"none\"\nreadonly = \"on\"\n"
	    "path = \"%s\"\n", dir);
	ck_assert_str_eq(out, want);
	free(out);
}
END_TEST

/* Dotted keys beside PFX.type = "unix", vnc unix:, blanks QEMU allows. */
START_TEST(other_groups)
{
	const char *a = long_path(150, "net.sock"), *b = long_path(151, "nbd.sock");
	const char *v = long_path(152, "vnc.sock");
	char text[8192], *out;
	struct rec r;
	int n;

	snprintf(text, sizeof(text),
	    "[netdev \"n0\"]\n  addr.path   =   \"%s\"\ntype = \"stream\"\naddr.type = \"unix\"\n"
	    "[drive \"d0\"]\nfile.driver = \"nbd\"\nfile.server.path = \"%s\"\nfile.server.type = \"unix\"\n"
	    "[vnc \"default\"]\nvnc = \"unix:%s\"\n", a, b, v);
	out = rw(text, &r, &n);
	ck_assert_int_eq(n, 3);
	ck_assert_str_eq(r.seen[0], a);
	ck_assert_str_eq(r.seen[1], b);
	ck_assert_str_eq(r.seen[2], v);
	ck_assert_str_eq(out,
	    "[netdev \"n0\"]\n  addr.path   =   \"/s/0\"\ntype = \"stream\"\naddr.type = \"unix\"\n"
	    "[drive \"d0\"]\nfile.driver = \"nbd\"\nfile.server.path = \"/s/1\"\nfile.server.type = \"unix\"\n"
	    "[vnc \"default\"]\nvnc = \"unix:/s/2\"\n");
	free(out);
}
END_TEST

/* Not a socket context, or not too long: nothing is asked, nothing made. */
START_TEST(left_alone)
{
	const char *p = long_path(160, "x.sock"), *short108 = long_path(108, "s");
	const char *texts[] = {
		"[chardev \"c\"]\nbackend = \"file\"\npath = \"@\"\n",
		"[chardev \"c\"]\nbackend = \"pipe\"\npath = \"@\"\n",
		"[chardev \"c\"]\npath = \"@\"\n",			/* no backend */
		"[spice]\naddr = \"@\"\n",				/* no unix=on */
		"[spice]\nunix = \"off\"\naddr = \"@\"\n",
		"[drive]\nfile = \"@\"\nif = \"virtio\"\n",
		"[fsdev \"f\"]\npath = \"@\"\n",
		"[netdev \"n\"]\naddr.path = \"@\"\naddr.type = \"inet\"\n",
		"[netdev \"n\"]\nfoo.path = \"@\"\naddr.type = \"unix\"\n",
		"[vnc \"v\"]\nvnc = \"@\"\n",
		"[object \"m\"]\nqom-type = \"memory-backend-file\"\nmem-path = \"@\"\n",
		"[machine]\nkernel = \"@\"\n",
		/* what QEMU refuses: left for it to report */
		"backend = \"socket\"\npath = \"@\"\n",			/* no group */
		"[chardev \"c\"]\nbackend = \"socket\"\npath=\"@\"\n",	/* path=" is one word */
		"[chardev \"c\"]\nbackend = \"socket\"\npath = \"@\n",	/* no closing quote */
		"[chardev \"c\"]\nbackend = \"socket\"\n path = '@'\n",
	};
	char text[8192], *out;
	struct rec r;
	size_t i;
	int n;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		const char *at = strchr(texts[i], '@');

		snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - texts[i]), texts[i], p, at + 1);
		out = rw(text, &r, &n);
		ck_assert_msg(n == 0 && out == NULL && r.calls == 0, "rewrote: %s", text);
	}
	snprintf(text, sizeof(text), "[chardev \"c\"]\nbackend = \"socket\"\npath = \"%s\"\n", short108);
	out = rw(text, &r, &n);
	ck_assert_msg(n == 0 && out == NULL && r.calls == 0, "a 108-byte path was rewritten");
}
END_TEST

/* A line QEMU would split (fgets into 1024 bytes): the whole file is left. */
START_TEST(long_line)
{
	const char *p = long_path(160, "x.sock");
	char text[8192], pad[1100], *out;
	struct rec r;
	int n;

	memset(pad, 'x', 1030);
	pad[1030] = '\0';
	snprintf(text, sizeof(text), "# %s\n[chardev \"c\"]\nbackend = \"socket\"\npath = \"%s\"\n",
	    pad, p);
	out = rw(text, &r, &n);
	ck_assert_int_eq(n, 0);
	ck_assert_ptr_null(out);
	/* a map that refuses: the file stays as it is */
	snprintf(text, sizeof(text), "[chardev \"c\"]\nbackend = \"socket\"\npath = \"%s\"\n", p);
	ck_assert_int_eq(sbrc_rewrite(text, strlen(text), refuse_map, NULL, &out, &(size_t){0}), 0);
	ck_assert_ptr_null(out);
	/* a NUL in the text: left */
	ck_assert_int_eq(sbrc_rewrite("[chardev]\n\0x", 12, rec_map, &r, &out, &(size_t){0}), 0);
}
END_TEST

/* argv: the FILE of -readconfig becomes /proc/self/fd/N of a sealed memfd. */
START_TEST(argv_memfd)
{
	const char *p = long_path(170, "qemu.monitor");
	char dir[] = "/tmp/check-readconfig.XXXXXX", file[256], text[4096], got[4096];
	char a0[] = "/usr/bin/qemu-system-x86_64", a1[] = "-S", a2[] = "-readconfig";
	char *a3, a4[] = "-pidfile", a5[] = "/tmp/x.pid";
	char *argv[7];
	struct rec r;
	ssize_t n;
	int fd, fl;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/qemu.conf", dir);
	snprintf(text, sizeof(text),
	    "[chardev \"monitor\"]\nbackend = \"socket\"\npath = \"%s\"\nserver = \"on\"\n", p);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	a3 = strdup(file);
	argv[0] = a0, argv[1] = a1, argv[2] = a2, argv[3] = a3, argv[4] = a4, argv[5] = a5;
	argv[6] = NULL;
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(sbrc_argv(6, argv, rec_map, &r, NULL), 1);
	ck_assert_int_eq(sscanf(argv[3], "/proc/self/fd/%d", &fd), 1);
	ck_assert_str_eq(argv[4], "-pidfile");
	ck_assert_str_eq(argv[5], "/tmp/x.pid");
	fl = fcntl(fd, F_GETFD);
	ck_assert(fl >= 0 && (fl & FD_CLOEXEC));
	ck_assert_int_eq(fcntl(fd, F_GET_SEALS) & (F_SEAL_WRITE | F_SEAL_SEAL),
	    F_SEAL_WRITE | F_SEAL_SEAL);
	ck_assert_int_lt(write(fd, "x", 1), 0);
	n = pread(fd, got, sizeof(got) - 1, 0);
	ck_assert_int_gt(n, 0);
	got[n] = '\0';
	ck_assert_str_eq(got, "[chardev \"monitor\"]\nbackend = \"socket\"\npath = \"/s/0\"\nserver = \"on\"\n");
	close(fd);
	/* not QEMU: untouched */
	free(a3);
	a3 = strdup(file);
	argv[3] = a3;
	argv[0] = "/usr/bin/cat";
	ck_assert_int_eq(sbrc_argv(6, argv, rec_map, &r, NULL), 0);
	ck_assert_str_eq(argv[3], file);
	free(a3);
	unlink(file);
	rmdir(dir);
}
END_TEST

/*
 * -readconfig of a FIFO or a device: QEMU's to open, not the shim's. The
 * shim's open must not wait for a FIFO's writer (a hang before main) nor
 * read what a writer sent; argv stays as it is and nothing is mapped.
 */
START_TEST(not_regular)
{
	const char *p = long_path(170, "qemu.monitor");
	char dir[] = "/tmp/check-readconfig.XXXXXX", fifo[256], text[4096], got[4096];
	char a0[] = "qemu-system-x86_64", a1[] = "-readconfig", a2[256];
	char *argv[4];
	struct rec r;
	ssize_t n;
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/qemu.conf", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	argv[0] = a0, argv[1] = a1, argv[2] = a2, argv[3] = NULL;

	/* no writer: an open for reading without O_NONBLOCK waits for one */
	snprintf(a2, sizeof(a2), "%s", fifo);
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(sbrc_argv(3, argv, rec_map, &r, NULL), 0);
	ck_assert_str_eq(argv[2], fifo);
	ck_assert_int_eq(r.calls, 0);

	/* a writer's text is left for QEMU to read */
	snprintf(text, sizeof(text),
	    "[chardev \"monitor\"]\nbackend = \"socket\"\npath = \"%s\"\n", p);
	fd = open(fifo, O_RDWR | O_NONBLOCK);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(sbrc_argv(3, argv, rec_map, &r, NULL), 0);
	ck_assert_str_eq(argv[2], fifo);
	ck_assert_int_eq(r.calls, 0);
	n = read(fd, got, sizeof(got) - 1);
	ck_assert_int_eq(n, (ssize_t)strlen(text));
	got[n] = '\0';
	ck_assert_str_eq(got, text);
	close(fd);

	/* a character device */
	snprintf(a2, sizeof(a2), "/dev/null");
	ck_assert_int_eq(sbrc_argv(3, argv, rec_map, &r, NULL), 0);
	ck_assert_str_eq(argv[2], "/dev/null");
	ck_assert_int_eq(r.calls, 0);
	unlink(fifo);
	rmdir(dir);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("shim-readconfig");
	TCase *tc = tcase_create("readconfig");

	tcase_add_test(tc, incus_file);
	tcase_add_test(tc, other_groups);
	tcase_add_test(tc, left_alone);
	tcase_add_test(tc, long_line);
	tcase_add_test(tc, argv_memfd);
	tcase_add_test(tc, not_regular);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK_GETENV);
}
