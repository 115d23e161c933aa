/* SPDX-License-Identifier: ISC */
/*
 * check_shim_rewrite.c: the command-line rewriter of the shim, sockbroker
 * exec and sockbroker explain (libbroker/rewrite.c), with the rule files
 * this tree ships (RULES_DIR) and with rules given as text, and a map that
 * records what it was asked.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check-common.h"
#include "rewrite.h"

#define ARGS_MAX	32

struct rec {
	int		calls;
	char		last[8192];
	char		paths[8][8192];	/* the first eight paths asked */
	enum sbrw_role	role;
	const char	*out;		/* the replacement; NULL: refuse */
	const char	*socket;	/* the path that "exists as a socket" */
	int		events, left;
	char		why[512];
	int		config_calls;
};

static int
rec_map(void *ctx, const char *long_path, enum sbrw_role role, char *out, size_t size)
{
	struct rec *r = ctx;

	if (r->calls < 8)
		snprintf(r->paths[r->calls], sizeof(r->paths[0]), "%s", long_path);
	r->calls++;
	snprintf(r->last, sizeof(r->last), "%s", long_path);
	r->role = role;
	if (r->out == NULL)
		return -ENAMETOOLONG;
	snprintf(out, size, "%s", r->out);
	return 0;
}

static int
rec_is_socket(void *ctx, const char *path)
{
	struct rec *r = ctx;

	return r->socket != NULL && strcmp(path, r->socket) == 0;
}

static void
rec_report(void *ctx, const struct sbrw_event *ev)
{
	struct rec *r = ctx;

	r->events++;
	if (ev->short_path == NULL) {
		r->left++;
		snprintf(r->why, sizeof(r->why), "%s", ev->why);
	}
}

static int
rec_config(void *ctx, char **argp, sbrw_map_fn map, void *map_ctx)
{
	static char repl[] = "/proc/self/fd/9";
	struct rec *r = ctx;

	(void)map;
	(void)map_ctx;
	r->config_calls++;
	*argp = repl;
	return 1;
}

/* A path of n bytes: /l/lll...; with a ',' (or another byte) at n / 2. */
static char *
long_path(size_t n, char mid)
{
	char *p = malloc(n + 1);

	memset(p, 'l', n);
	p[0] = '/';
	p[2] = '/';
	if (mid != 0)
		p[n / 2] = mid;
	p[n] = '\0';
	return p;
}

static struct sbrw_rules rules;

/* Error messages, one a line, into a 4 KiB buffer. */
static void
collect(void *ctx, const char *msg)
{
	char *buf = ctx;

	strncat(buf, msg, 4095 - strlen(buf));
	strncat(buf, "\n", 4095 - strlen(buf));
}

/* The shipped rules for prog, plus extra (a SOCKBROKER_REWRITE value). */
static void
load(const char *prog, const char *extra)
{
	rules.n = 0;
	rules.dropped = 0;
	if (extra != NULL)
		ck_assert_int_eq(sbrw_rules_add_text(&rules, prog, extra, strlen(extra), 1,
		    "SOCKBROKER_REWRITE", NULL, NULL), 0);
	ck_assert_int_gt(sbrw_rules_load(&rules, prog, RULES_DIR, NULL, NULL), 10);
}

/*
 * Run the rewriter on "prog ARG..." (NULL-terminated, each "%s" in an
 * argument replaced by path) with the shipped rules for prog; the results
 * in out[] (static). Returns the count.
 */
static char out[ARGS_MAX][16384];

static int
run(struct rec *r, const char *path, const char *prog, ...)
{
	struct sbrw_ops ops = { rec_map, rec_report, NULL, rec_is_socket, r };
	char *argv[ARGS_MAX + 1];
	const char *a, *at;
	va_list ap;
	int argc = 0;

	load(prog, NULL);
	snprintf(out[argc], sizeof(out[0]), "/usr/bin/%s", prog);
	argv[argc] = out[argc];
	argc++;
	va_start(ap, prog);
	while ((a = va_arg(ap, const char *)) != NULL && argc < ARGS_MAX) {
		if ((at = strstr(a, "%s")) != NULL)
			snprintf(out[argc], sizeof(out[0]), "%.*s%s%s", (int)(at - a), a, path,
			    at + 2);
		else
			snprintf(out[argc], sizeof(out[0]), "%s", a);
		argv[argc] = out[argc];
		argc++;
	}
	va_end(ap);
	argv[argc] = NULL;
	r->calls = 0;
	r->left = 0;
	r->events = 0;
	return sbrw_argv(argc, argv, &rules, &ops);
}

/* fmt with p1 and p2 in place of its first two "%s" ("%%" is not special) */
static const char *
with(const char *fmt, const char *p1, const char *p2)
{
	static char buf[4][16384];
	static int k;

	const char *p[2] = { p1, p2 }, *at;
	size_t o = 0;
	int n = 0;

	k = (k + 1) % 4;
	while ((at = strstr(fmt, "%s")) != NULL && n < 2) {
		o += (size_t)snprintf(buf[k] + o, sizeof(buf[k]) - o, "%.*s%s", (int)(at - fmt), fmt,
		    p[n++]);
		fmt = at + 2;
	}
	snprintf(buf[k] + o, sizeof(buf[k]) - o, "%s", fmt);
	return buf[k];
}

START_TEST(qemu_keyval)
{
	struct rec r = { .out = "/s/short" };
	char *p = long_path(150, 0);

	ck_assert_int_eq(run(&r, p, "qemu-system-x86_64", "-chardev",
	    "socket,id=c,path=%s,server=on,wait=off", NULL), 1);
	ck_assert_str_eq(out[2], "socket,id=c,path=/s/short,server=on,wait=off");
	ck_assert_str_eq(r.last, p);
	ck_assert_int_eq(r.role, SBRW_ROLE_SERVER);
	run(&r, p, "qemu-system-x86_64", "-chardev", "socket,id=c,path=%s,reconnect=1", NULL);
	ck_assert_str_eq(out[2], "socket,id=c,path=/s/short,reconnect=1");
	ck_assert_int_eq(r.role, SBRW_ROLE_CLIENT);
	run(&r, p, "qemu-system-x86_64", "-qmp", "unix:%s,server=on,wait=off", NULL);
	ck_assert_str_eq(out[2], "unix:/s/short,server=on,wait=off");
	ck_assert_int_eq(r.role, SBRW_ROLE_SERVER);
	run(&r, p, "qemu-system-x86_64", "-monitor", "unix:%s,server,nowait", NULL);
	ck_assert_str_eq(out[2], "unix:/s/short,server,nowait");
	ck_assert_int_eq(r.role, SBRW_ROLE_SERVER);
	run(&r, p, "qemu-system-aarch64", "-serial", "unix:%s", NULL);
	ck_assert_str_eq(out[2], "unix:/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_CLIENT);
	run(&r, p, "qemu-system-x86_64", "-incoming", "unix:%s", NULL);
	ck_assert_str_eq(out[2], "unix:/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_SERVER);	/* the rule says */
	run(&r, p, "qemu-system-x86_64", "--gdb", "unix:%s,server=on", NULL);
	ck_assert_str_eq(out[2], "unix:/s/short,server=on");
	/* dotted keys beside their type=unix */
	run(&r, p, "qemu-system-x86_64", "-netdev",
	    "stream,id=n,server=on,addr.type=unix,addr.path=%s", NULL);
	ck_assert_str_eq(out[2], "stream,id=n,server=on,addr.type=unix,addr.path=/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_SERVER);
	run(&r, p, "qemu-system-x86_64", "-netdev", "stream,id=n,addr.path=%s,addr.type=unix", NULL);
	ck_assert_str_eq(out[2], "stream,id=n,addr.path=/s/short,addr.type=unix");
	run(&r, p, "qemu-system-x86_64", "-blockdev",
	    "driver=nbd,node-name=d,server.type=unix,server.path=%s,export=e", NULL);
	ck_assert_str_eq(out[2], "driver=nbd,node-name=d,server.type=unix,server.path=/s/short,export=e");
	ck_assert_int_eq(r.role, SBRW_ROLE_CLIENT);
	run(&r, p, "qemu-system-x86_64", "-drive",
	    "file.driver=nbd,file.server.type=unix,file.server.path=%s,if=none", NULL);
	ck_assert_str_eq(out[2], "file.driver=nbd,file.server.type=unix,file.server.path=/s/short,if=none");
	run(&r, p, "qemu-system-x86_64", "-chardev",
	    "socket,id=c,addr.type=unix,addr.data.path=%s", NULL);
	ck_assert_str_eq(out[2], "socket,id=c,addr.type=unix,addr.data.path=/s/short");
	/* addresses as values */
	run(&r, p, "qemu-system-x86_64", "-drive", "file=nbd+unix:///exp?socket=%s,format=raw", NULL);
	ck_assert_str_eq(out[2], "file=nbd+unix:///exp?socket=/s/short,format=raw");
	run(&r, p, "qemu-system-x86_64", "-drive", "file=nbd:unix:%s:exportname=e", NULL);
	ck_assert_str_eq(out[2], "file=nbd:unix:/s/short:exportname=e");
	run(&r, p, "qemu-system-x86_64", "-spice", "unix=on,addr=%s,disable-ticketing=on", NULL);
	ck_assert_str_eq(out[2], "unix=on,addr=/s/short,disable-ticketing=on");
	ck_assert_int_eq(r.role, SBRW_ROLE_SERVER);
	run(&r, p, "qemu-system-x86_64", "-vnc", "unix:%s", NULL);
	ck_assert_str_eq(out[2], "unix:/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_SERVER);
	run(&r, p, "qemu-system-x86_64", "-vnc", "vnc=unix:%s,audiodev=a", NULL);
	ck_assert_str_eq(out[2], "vnc=unix:/s/short,audiodev=a");
	run(&r, p, "qemu-system-x86_64", "-audiodev", "pa,id=a,server=unix:%s", NULL);
	ck_assert_str_eq(out[2], "pa,id=a,server=unix:/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_CLIENT);
	free(p);
}
END_TEST

START_TEST(qemu_several_and_escapes)
{
	struct rec r = { .out = "/s/x,y" };
	char *p = long_path(150, ','), *p2 = long_path(160, 0), enc[400];
	size_t i, o = 0;

	for (i = 0; p[i] != '\0'; i++) {
		enc[o++] = p[i];
		if (p[i] == ',')
			enc[o++] = ',';
	}
	enc[o] = '\0';
	/* ",," in a QEMU value is one comma of the path, and so is it written */
	run(&r, enc, "qemu-system-x86_64", "-chardev", "socket,id=t,path=%s,server=on", NULL);
	ck_assert_str_eq(out[2], "socket,id=t,path=/s/x,,y,server=on");
	ck_assert_str_eq(r.last, p);
	run(&r, enc, "qemu-system-x86_64", "-qmp", "unix:%s", NULL);
	ck_assert_str_eq(out[2], "unix:/s/x,,y");
	/* two paths in one argument */
	r.out = "/s/short";
	run(&r, NULL, "qemu-system-x86_64", "-netdev",
	    with("dgram,id=n,local.type=unix,local.path=%s,remote.type=unix,remote.path=%s", p2, p2),
	    NULL);
	ck_assert_str_eq(out[2],
	    "dgram,id=n,local.type=unix,local.path=/s/short,remote.type=unix,remote.path=/s/short");
	ck_assert_int_eq(r.calls, 2);
	free(p);
	free(p2);
}
END_TEST

START_TEST(qemu_json)
{
	struct rec r = { .out = "/s/q\"x" };
	char *p = long_path(150, 0), want[512];

	run(&r, p, "qemu-system-x86_64", "-blockdev",
	    "{\"driver\":\"nbd\",\"node-name\":\"d\",\"server\":{\"type\":\"unix\",\"path\":\"%s\"},"
	    "\"export\":\"e\"}", NULL);
	ck_assert_str_eq(out[2], "{\"driver\":\"nbd\",\"node-name\":\"d\",\"server\":{\"type\":"
	    "\"unix\",\"path\":\"/s/q\\\"x\"},\"export\":\"e\"}");
	ck_assert_str_eq(r.last, p);
	/* JSON escapes in the long path are decoded: \/ and \u006c are / and l */
	r.out = "/s/short";
	run(&r, p + 4, "qemu-system-x86_64", "-netdev",
	    " { \"type\" : \"stream\", \"server\": true, \"addr\": { \"path\": \"\\/l\\/\\u006c%s\","
	    " \"type\": \"unix\" } } ", NULL);
	ck_assert_str_eq(out[2], " { \"type\" : \"stream\", \"server\": true, \"addr\": { \"path\": "
	    "\"/s/short\", \"type\": \"unix\" } } ");
	ck_assert_str_eq(r.last, p);
	ck_assert_int_eq(r.role, SBRW_ROLE_SERVER);
	/* the legacy SocketAddress with "data" */
	run(&r, p, "qemu-system-x86_64", "-chardev",
	    "{\"id\":\"c\",\"backend\":{\"type\":\"socket\",\"data\":{\"addr\":{\"type\":\"unix\","
	    "\"data\":{\"path\":\"%s\"}}}}}", NULL);
	ck_assert_ptr_nonnull(strstr(out[2], "\"data\":{\"path\":\"/s/short\"}"));
	/* qemu-img's json: filenames */
	run(&r, p, "qemu-img", "info",
	    "json:{\"driver\":\"nbd\",\"server\":{\"type\":\"unix\",\"path\":\"%s\"}}", NULL);
	ck_assert_str_eq(out[2], "json:{\"driver\":\"nbd\",\"server\":{\"type\":\"unix\","
	    "\"path\":\"/s/short\"}}");
	/* left alone: not unix, abstract, broken JSON, a path elsewhere */
	r.calls = 0;
	snprintf(want, sizeof(want), "{\"driver\":\"file\",\"filename\":\"%s\"}", p);
	run(&r, p, "qemu-system-x86_64", "-blockdev", "{\"driver\":\"file\",\"filename\":\"%s\"}", NULL);
	ck_assert_str_eq(out[2], want);
	snprintf(want, sizeof(want), "{\"type\":\"inet\",\"path\":\"%s\"}", p);
	run(&r, p, "qemu-system-x86_64", "-netdev", "{\"type\":\"inet\",\"path\":\"%s\"}", NULL);
	ck_assert_str_eq(out[2], want);
	snprintf(want, sizeof(want), "{\"type\":\"unix\",\"abstract\":true,\"path\":\"%s\"}", p);
	run(&r, p, "qemu-system-x86_64", "-netdev",
	    "{\"type\":\"unix\",\"abstract\":true,\"path\":\"%s\"}", NULL);
	ck_assert_str_eq(out[2], want);
	snprintf(want, sizeof(want), "{\"type\":\"unix\",\"path\":\"%s\"", p);
	run(&r, p, "qemu-system-x86_64", "-netdev", "{\"type\":\"unix\",\"path\":\"%s\"", NULL);
	ck_assert_str_eq(out[2], want);
	snprintf(want, sizeof(want), "{\"type\":\"unix\",\"path\":\"%s\"} x", p);
	run(&r, p, "qemu-system-x86_64", "-netdev", "{\"type\":\"unix\",\"path\":\"%s\"} x", NULL);
	ck_assert_str_eq(out[2], want);
	ck_assert_int_eq(r.calls, 0);
	free(p);
}
END_TEST

START_TEST(qemu_never)
{
	struct rec r = { .out = "/s/short" };
	char *p = long_path(150, 0), want[512];

	/* files, whatever they look like, are never touched */
	run(&r, p, "qemu-system-x86_64", "-drive", "file=%s/disk.qcow2,if=virtio",
	    "-pidfile", "%s", "-D", "%s", "-chardev", "file,id=f,path=%s",
	    "-chardev", "socket,id=c,path=%s,abstract=on", "-spice", "addr=%s",
	    "-object", "memory-backend-file,id=m,mem-path=%s", "-fsdev", "local,id=f,path=%s",
	    "-netdev", "stream,id=n,addr.type=inet,addr.path=%s", "%s", NULL);
	ck_assert_int_eq(r.calls, 0);
	snprintf(want, sizeof(want), "file=%s/disk.qcow2,if=virtio", p);
	ck_assert_str_eq(out[2], want);
	ck_assert_str_eq(out[4], p);
	ck_assert_str_eq(out[6], p);
	ck_assert_int_ge(r.left, 9);
	/* swtpm's state and log, qemu-img's backing files */
	run(&r, p, "swtpm", "socket", "--tpmstate", "dir=%s", "--log", "file=%s,level=20",
	    "--ctrl", "type=tcp,path=%s", "--ctrl", "type=unixiox,path=%s", NULL);
	ck_assert_int_eq(r.calls, 0);
	snprintf(want, sizeof(want), "dir=%s", p);
	ck_assert_str_eq(out[3], want);
	run(&r, p, "qemu-img", "create", "-f", "qcow2", "-b", "%s/base.qcow2", "-F", "qcow2",
	    "%s/top.qcow2", NULL);
	ck_assert_int_eq(r.calls, 0);
	run(&r, p, "qemu-img", "create", "-b", "nbd+unix:///e?socket=%s", "-o",
	    "backing_file=nbd+unix:///?socket=%s", "x.qcow2", NULL);
	ck_assert_int_eq(r.calls, 0);
	/* no image is named unix:P; a snapshot name is free text */
	run(&r, p, "qemu-img", "info", "unix:%s", NULL);
	run(&r, p, "qemu-nbd", "--description", "unix:%s", "-k", "/short", "x.img", NULL);
	run(&r, p, "qemu-system-x86_64", "-drive", "file=unix:%s", NULL);
	run(&r, p, "qemu-system-x86_64", "-object", "secret,id=s,data=unix:%s", "-device",
	    "virtio-blk-pci,drive=d,serial=unix:%s", "-netdev", "user,id=n,smb=unix:%s", NULL);
	run(&r, p, "remote-viewer", "--title", "spice+unix://%s", "unix:%s", "x spice+unix://%s", NULL);
	ck_assert_int_eq(r.calls, 0);
	/* an image on an NBD server is a client socket */
	run(&r, p, "qemu-img", "info", "nbd+unix:///e?socket=%s", NULL);
	ck_assert_str_eq(out[2], "nbd+unix:///e?socket=/s/short");
	run(&r, p, "qemu-img", "info", "--image-opts",
	    "driver=nbd,server.type=unix,server.path=%s", NULL);
	ck_assert_str_eq(out[3], "driver=nbd,server.type=unix,server.path=/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_CLIENT);
	free(p);
}
END_TEST

START_TEST(helpers)
{
	struct rec r = { .out = "/s/short" };
	char *p = long_path(150, 0), *p2 = long_path(170, 0);

	run(&r, p, "swtpm", "socket", "--tpm2", "--ctrl", "type=unixio,path=%s,mode=0600",
	    "--server", "path=%s,type=unixio", NULL);
	ck_assert_str_eq(out[4], "type=unixio,path=/s/short,mode=0600");
	ck_assert_str_eq(out[6], "path=/s/short,type=unixio");
	ck_assert_int_eq(r.role, SBRW_ROLE_SERVER);
	r.out = "/s/a,b";	/* a comma cannot be written in swtpm's syntax */
	run(&r, p, "swtpm", "socket", "--ctrl", "type=unixio,path=%s", NULL);
	ck_assert_str_eq(out[3], with("type=unixio,path=%s", p, NULL));
	r.out = "/s/short";
	run(&r, p, "swtpm_ioctl", "--unix", "%s", "-i", NULL);
	ck_assert_str_eq(out[2], "/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_CLIENT);
	run(&r, p, "swtpm_bios", "--tpm2", "--unix=%s", NULL);
	ck_assert_str_eq(out[2], "--unix=/s/short");
	run(&r, p, "qemu-nbd", "--socket=%s", "-f", "qcow2", "disk.qcow2", NULL);
	ck_assert_str_eq(out[1], "--socket=/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_SERVER);
	run(&r, p, "qemu-nbd", "-k", "%s", "disk.qcow2", NULL);
	ck_assert_str_eq(out[2], "/s/short");
	run(&r, p, "qemu-storage-daemon", "--nbd-server", "addr.type=unix,addr.path=%s",
	    "--export", "type=vhost-user-blk,id=e,node-name=d,addr.type=unix,addr.path=%s",
	    "--chardev", "socket,id=m,path=%s,server=on,wait=off", "--blockdev",
	    "{\"driver\":\"nbd\",\"node-name\":\"n\",\"server\":{\"type\":\"unix\",\"path\":\"%s\"}}",
	    NULL);
	ck_assert_int_eq(r.calls, 4);
	ck_assert_str_eq(out[2], "addr.type=unix,addr.path=/s/short");
	run(&r, p, "virtiofsd", "--socket-path=%s", "-o", "source=%s", NULL);
	ck_assert_str_eq(out[1], "--socket-path=/s/short");
	ck_assert_int_eq(r.calls, 1);
	run(&r, p, "passt", "-f", "--socket", "%s", NULL);
	ck_assert_str_eq(out[3], "/s/short");
	run(&r, p, "slirp4netns", "--api-socket", "%s", "1234", "tap0", NULL);
	ck_assert_str_eq(out[2], "/s/short");
	run(&r, p, "slirp4netns", "-a", "%s", "1234", "tap0", NULL);
	ck_assert_str_eq(out[2], "/s/short");
	run(&r, p, "curl", "-s", "--unix-socket", "%s", "http://x/", NULL);
	ck_assert_str_eq(out[3], "/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_CLIENT);
	run(&r, p, "redis-server", "--port", "0", "--unixsocket", "%s", NULL);
	ck_assert_str_eq(out[4], "/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_SERVER);
	run(&r, p, "redis-cli", "-s", "%s", "ping", NULL);
	ck_assert_str_eq(out[2], "/s/short");
	run(&r, p, "tmux", "-S", "%s", "new-session", "-d", "-s", "x", "-S", "%s", NULL);
	ck_assert_str_eq(out[2], "/s/short");
	ck_assert_str_eq(out[8], p);	/* after the tmux command: not tmux's option */
	ck_assert_int_eq(r.calls, 1);
	run(&r, p, "tmux", "-uS%s", "ls", NULL);
	ck_assert_str_eq(out[1], "-uS/s/short");
	run(&r, p, "tmux", "-L", "x", "-S", "%s", "ls", NULL);
	ck_assert_str_eq(out[4], "/s/short");
	/* nc -U: the operand */
	run(&r, p, "nc", "-lU", "%s", NULL);
	ck_assert_str_eq(out[2], "/s/short");
	run(&r, p, "nc", "-U", "-w", "5", "%s", NULL);
	ck_assert_str_eq(out[4], "/s/short");
	run(&r, p, "ncat", "--unixsock", "--listen", "%s", NULL);
	ck_assert_str_eq(out[3], "/s/short");
	run(&r, p, "nc", "-q", "1", "%s", "80", NULL);	/* no -U: a host name */
	ck_assert_int_eq(r.calls, 0);
	/* D-Bus, %-escaped both ways */
	r.out = "/s/sh ort";
	run(&r, NULL, "dbus-daemon", "--print-address",
	    with("--address=unix:path=%s%2cx,guid=0123;unix:tmpdir=/tmp;unix:path=%s", p, p2), NULL);
	ck_assert_str_eq(out[2], "--address=unix:path=/s/sh%20ort,guid=0123;unix:tmpdir=/tmp;"
	    "unix:path=/s/sh%20ort");
	ck_assert_str_eq(r.paths[0], p2);
	ck_assert_str_eq(r.paths[1], with("%s,x", p, NULL));
	r.out = "/s/short";
	run(&r, p, "dbus-send", "--bus", "unix:path=%s", "--print-reply", NULL);
	ck_assert_str_eq(out[2], "unix:path=/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_CLIENT);
	run(&r, p, "dbus-daemon", "--address=unixexec:path=%s", NULL);	/* a program */
	ck_assert_int_eq(r.calls, 0);
	/* URIs */
	run(&r, p, "remote-viewer", "spice+unix://%s", NULL);
	ck_assert_str_eq(out[1], "spice+unix:///s/short");
	run(&r, p, "remote-viewer", "vnc+unix://%s", NULL);
	ck_assert_str_eq(out[1], "vnc+unix:///s/short");
	run(&r, p, "virsh", "-c", "qemu+unix:///system?socket=%s", "list", NULL);
	ck_assert_str_eq(out[2], "qemu+unix:///system?socket=/s/short");
	/* ssh: -S, -o Key=P, clusters, %-tokens, the remote command */
	run(&r, p, "ssh", "-o", "ControlPath=%s", "-o", "IdentityAgent=%s", "-vS", "%s",
	    "host", "ls", "-S", "%s", NULL);
	ck_assert_str_eq(out[2], "ControlPath=/s/short");
	ck_assert_str_eq(out[4], "IdentityAgent=/s/short");
	ck_assert_str_eq(out[6], "/s/short");
	ck_assert_str_eq(out[10], p);
	ck_assert_int_eq(r.calls, 3);
	run(&r, p, "ssh", "-p", "22", "-o", "ControlPath=%s/%%C", "host", NULL);
	ck_assert_int_eq(r.calls, 0);
	free(p);
	free(p2);
}
END_TEST

START_TEST(socat)
{
	struct rec r = { .out = "/s/short" };
	char *p = long_path(150, 0), *p2 = long_path(160, 0), *p108 = long_path(108, 0);

	run(&r, p, "socat", "-d", "-d", "UNIX-LISTEN:%s,fork,unlink-early", "EXEC:cat", NULL);
	ck_assert_str_eq(out[3], "UNIX-LISTEN:/s/short,fork,unlink-early");
	ck_assert_int_eq(r.role, SBRW_ROLE_SERVER);
	run(&r, p, "socat", "-", "unix-connect:%s", NULL);
	ck_assert_str_eq(out[2], "unix-connect:/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_CLIENT);
	/* both addresses, and two paths in one */
	r.calls = 0;
	run(&r, NULL, "socat", with("UNIX-RECVFROM:%s,fork", p, NULL),
	    with("UNIX-SENDTO:%s,bind=%s", p, p2), NULL);
	ck_assert_str_eq(out[1], "UNIX-RECVFROM:/s/short,fork");
	ck_assert_str_eq(out[2], "UNIX-SENDTO:/s/short,bind=/s/short");
	ck_assert_int_eq(r.calls, 3);
	run(&r, NULL, "socat", "-", with("UNIX:%s!!UNIX-CLIENT:%s", p, p2), NULL);
	ck_assert_str_eq(out[2], "UNIX:/s/short!!UNIX-CLIENT:/s/short");
	/* left alone: abstract names, files, 108 bytes, a comma in the short path */
	run(&r, p, "socat", "ABSTRACT-CONNECT:%s", "OPEN:%s,creat", "-L", "%s", NULL);
	ck_assert_int_eq(r.calls, 0);
	run(&r, p108, "socat", "UNIX-LISTEN:%s", "-", NULL);
	ck_assert_int_eq(r.calls, 0);
	r.out = "/s/a,b";
	run(&r, p, "socat", "UNIX-LISTEN:%s", "-", NULL);
	ck_assert_str_eq(out[1], with("UNIX-LISTEN:%s", p, NULL));
	free(p);
	free(p2);
	free(p108);
}
END_TEST

START_TEST(lengths_and_tail)
{
	struct rec r = { .out = "/s/short" };
	struct sbrw_ops ops = { rec_map, NULL, NULL, NULL, &r };
	char *p108 = long_path(108, 0), *p109 = long_path(109, 0), *p = long_path(300, 0);
	char buf[512], *argv[] = { (char *)"curl", (char *)"--unix-socket", buf, NULL };
	size_t i, n;

	run(&r, p108, "curl", "--unix-socket", "%s", NULL);
	ck_assert_int_eq(r.calls, 0);	/* 108 bytes is legal */
	run(&r, p109, "curl", "--unix-socket", "%s", NULL);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_str_eq(out[2], "/s/short");
	/* the bytes the argument frees are zeroed: no fragment of the long path */
	load("curl", NULL);
	memset(buf, 'X', sizeof(buf));
	n = strlen(p);
	memcpy(buf, p, n + 1);
	ck_assert_int_eq(sbrw_argv(3, argv, &rules, &ops), 1);
	ck_assert_str_eq(buf, "/s/short");
	for (i = strlen(buf); i <= n; i++)
		ck_assert_int_eq(buf[i], 0);
	ck_assert_int_eq(buf[n + 1], 'X');
	/* the map refuses: untouched */
	r.out = NULL;
	run(&r, p, "curl", "--unix-socket", "%s", NULL);
	ck_assert_str_eq(out[2], p);
	ck_assert_int_eq(r.left, 1);
	ck_assert_str_eq(r.why, strerror(ENAMETOOLONG));
	free(p108);
	free(p109);
	free(p);
}
END_TEST

START_TEST(generic_client)
{
	struct rec r = { .out = "/s/short" };
	char *p = long_path(150, 0), *q = long_path(151, 0);

	r.socket = p;
	/* an existing socket, as a whole argument or --opt= value, of any program */
	run(&r, p, "go-client", "-addr", "%s", "--sock=%s", NULL);
	ck_assert_str_eq(out[2], "/s/short");
	ck_assert_str_eq(out[3], "--sock=/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_CLIENT);
	/* not a socket; inside other text; relative; a file tool */
	run(&r, q, "go-client", "%s", NULL);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(r.left, 1);
	ck_assert_str_eq(r.why, "no rule names it, and it is not an existing socket");
	run(&r, p, "go-client", "x%s", "-a=%s", "%s,x", NULL);
	ck_assert_int_eq(r.calls, 0);
	run(&r, p + 1, "go-client", "%s", NULL);
	ck_assert_int_eq(r.calls, 0);
	run(&r, p, "rm", "-f", "%s", NULL);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_str_eq(out[2], p);
	run(&r, p, "sockbroker", "release", "%s", NULL);
	ck_assert_int_eq(r.calls, 0);
	free(p);
	free(q);
}
END_TEST

START_TEST(free_text)
{
	struct rec r = { .out = "/s/short" };
	char *p = long_path(150, 0);

	/* issue 10: free text that merely looks like an address is not touched */
	run(&r, p, "git", "commit", "-m", "Unix: fix the handling of %s", NULL);
	run(&r, p, "git", "commit", "-m", "unix:%s", "--", "socket,path=%s", NULL);
	run(&r, p, "echo", "UNIX:%s", "unix-listen:%s", "path=%s", NULL);
	run(&r, p, "grep", "-r", "unix:%s", "type=unixio,path=%s", NULL);
	run(&r, p, "python3", "-c", "print('unix:%s')", NULL);
	run(&r, p, "make", "SOCK=unix:%s", "addr.type=unix,addr.path=%s", NULL);
	run(&r, p, "sed", "-e", "s|unix:%s|x|", NULL);
	run(&r, p, "ssh", "-V", NULL);
	run(&r, p, "ssh", "host", "socat", "-", "UNIX-CONNECT:%s", NULL);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_str_eq(out[4], with("UNIX-CONNECT:%s", p, NULL));
	free(p);
}
END_TEST

START_TEST(rule_text)
{
	struct rec r = { .out = "/s/short" };
	struct sbrw_ops ops = { rec_map, NULL, NULL, NULL, &r };
	char *p = long_path(150, 0), a1[400], a2[400], a3[400];
	char *argv[] = { (char *)"/opt/bin/mydaemon", (char *)"--socket", a1, a2, a3, NULL };
	char msgs[4096] = "";
	static const char text[] =
	    "# a comment\n"
	    "  \n"
	    "mydaemon,other  --socket  server  path\n"
	    "my*  *  either  prefix:listen=\n"
	    "mydaemon  -o  client  kv:Sock\n"
	    "mydaemon  --bad\n"
	    "mydaemon  --x  sideways  path\n"
	    "mydaemon  --x  server  nosuch\n"
	    "mydaemon  --x  server  kv\n"
	    "mydaemon  x  server  path\n"
	    "otherprog  --x  sideways  path\n";

	rules.n = 0;
	ck_assert_int_eq(sbrw_rules_add_text(&rules, "mydaemon", text, strlen(text), 0, "t.rules",
	    collect, msgs), 5);
	ck_assert_int_eq(rules.n, 3);
	ck_assert_str_eq(rules.rule[0].origin, "t.rules:3");
	ck_assert_ptr_nonnull(strstr(msgs, "t.rules:6: want PROGRAMS OPTION ROLE GRAMMAR"));
	ck_assert_ptr_nonnull(strstr(msgs, "t.rules:7: ROLE is"));
	ck_assert_ptr_nonnull(strstr(msgs, "t.rules:8: GRAMMAR is"));
	ck_assert_ptr_nonnull(strstr(msgs, "t.rules:9: this GRAMMAR wants :TEXT"));
	ck_assert_ptr_nonnull(strstr(msgs, "t.rules:10: OPTION is"));
	ck_assert_ptr_null(strstr(msgs, "t.rules:11"));	/* another program's line */
	snprintf(a1, sizeof(a1), "%s", p);
	snprintf(a2, sizeof(a2), "a=1,listen=%s,b=2", p);
	snprintf(a3, sizeof(a3), "listen=%s", p);
	ck_assert_int_eq(sbrw_argv(5, argv, &rules, &ops), 3);
	ck_assert_str_eq(a1, "/s/short");
	ck_assert_int_eq(r.role, SBRW_ROLE_ANY);
	ck_assert_str_eq(a2, "a=1,listen=/s/short,b=2");
	ck_assert_str_eq(a3, "listen=/s/short");
	/* the old SOCKBROKER_REWRITE items, for every program, ';' between */
	rules.n = 0;
	ck_assert_int_eq(sbrw_rules_add_text(&rules, "anything", "opt:--socket;prefix:sock=;;", 27, 1,
	    "SOCKBROKER_REWRITE", NULL, NULL), 0);
	ck_assert_int_eq(rules.n, 2);
	ck_assert_int_eq(sbrw_rules_add_text(&rules, "anything", "opt:--a;bogus:x;opt:", 20, 1,
	    "SOCKBROKER_REWRITE", NULL, NULL), 2);
	ck_assert_int_eq(rules.n, 3);
	/* never, for one option or a whole program */
	rules.n = 0;
	sbrw_rules_add_text(&rules, "mydaemon", "mydaemon --socket never", 23, 1, "E", NULL, NULL);
	snprintf(a1, sizeof(a1), "%s", p);
	ck_assert_int_eq(sbrw_argv(3, argv, &rules, &ops), 0);
	ck_assert_str_eq(a1, p);
	ck_assert_int_eq(sbrw_rules_never(&rules), 0);
	sbrw_rules_add_text(&rules, "mydaemon", "* * never", 9, 1, "E", NULL, NULL);
	ck_assert_int_eq(sbrw_rules_never(&rules), 1);
	free(p);
}
END_TEST

/* Write a file under dir. */
static void
put(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

START_TEST(rule_dirs)
{
	char etc[] = "/tmp/check-rw-etc-XXXXXX", usr[] = "/tmp/check-rw-usr-XXXXXX", dirs[128];

	ck_assert_ptr_nonnull(mkdtemp(etc));
	ck_assert_ptr_nonnull(mkdtemp(usr));
	put(usr, "a.rules", "prog --a server path\n");
	put(usr, "b.rules", "prog --b server path\n");
	put(usr, "c.rules", "prog --c server path\n");
	put(usr, "c.rules~", "prog --tilde server path\n");
	put(etc, "b.rules", "prog --b2 client path\n");	/* overrides usr's b.rules */
	put(etc, "c.rules", "");			/* masks c.rules */
	put(usr, "d.rules", "prog --d server path\n");
	ck_assert_int_eq(symlink("/dev/null", with("%s/d.rules", etc, NULL)), 0);	/* masks */
	put(usr, "e.rules", "prog --e server path\n");
	ck_assert_int_eq(mkfifo(with("%s/e.rules", etc, NULL), 0600), 0);	/* no hang */
	put(usr, "f.rules", "prog --f server path\n");
	ck_assert_int_eq(mkdir(with("%s/f.rules", etc, NULL), 0700), 0);	/* masks */
	{
		/* the last line of a file at the size limit counts; a byte more and none do */
		static char big[SBRW_FILE_MAX + 2];
		const char *last = "prog --g server path\n";

		memset(big, '#', SBRW_FILE_MAX);
		big[0] = '\n';
		big[SBRW_FILE_MAX - strlen(last) - 1] = '\n';
		memcpy(big + SBRW_FILE_MAX - strlen(last), last, strlen(last) + 1);
		ck_assert_uint_eq(strlen(big), SBRW_FILE_MAX);
		put(usr, "g.rules", big);
		memmove(big + 1, big, SBRW_FILE_MAX + 1);
		put(usr, "h.rules", big);
	}
	snprintf(dirs, sizeof(dirs), "%s:/nonexistent:%s", etc, usr);
	rules.n = 0;
	ck_assert_int_eq(sbrw_rules_load(&rules, "prog", dirs, NULL, NULL), 8);
	ck_assert_int_eq(rules.n, 3);
	ck_assert_str_eq(rules.rule[0].opt, "--a");
	ck_assert_str_eq(rules.rule[1].opt, "--b2");
	ck_assert_int_eq(rules.rule[1].role, SBRW_ROLE_CLIENT);
	ck_assert_str_eq(rules.rule[2].opt, "--g");
	rules.n = 0;
	ck_assert_int_eq(sbrw_rules_load(&rules, "other", dirs, NULL, NULL), 8);
	ck_assert_int_eq(rules.n, 0);
	ck_assert_int_eq(system(with("rm -rf %s %s", etc, usr)), 0);
}
END_TEST

START_TEST(shipped_rules_parse)
{
	static const char *progs[] = {
		"qemu-system-x86_64", "qemu-system-aarch64", "qemu-kvm", "qemu-nbd",
		"qemu-storage-daemon", "qemu-img", "virtiofsd", "passt", "pasta", "slirp4netns",
		"swtpm", "swtpm_ioctl", "swtpm_bios", "socat", "tmux", "curl", "nc", "ncat",
		"redis-server", "redis-cli", "dbus-daemon", "dbus-send", "ssh", "virsh",
	};
	char msgs[4096] = "";
	size_t k;

	for (k = 0; k < sizeof(progs) / sizeof(progs[0]); k++) {
		rules.n = 0;
		rules.dropped = 0;
		sbrw_rules_load(&rules, progs[k], RULES_DIR, collect, msgs);
		ck_assert_msg(rules.n > 0, "no rule for %s", progs[k]);
		ck_assert_int_eq(rules.dropped, 0);
	}
	ck_assert_str_eq(msgs, "");
}
END_TEST

START_TEST(readconfig_hook)
{
	struct rec r = { .out = "/s/short" };
	struct sbrw_ops ops = { rec_map, rec_report, rec_config, NULL, &r };
	char a[] = "qemu.conf";
	char *argv[] = { (char *)"qemu-system-x86_64", (char *)"-readconfig", a, NULL };

	ck_assert_int_eq(sbrw_candidates(3, argv), 1);
	load("qemu-system-x86_64", NULL);
	ck_assert_int_eq(sbrw_argv(3, argv, &rules, &ops), 1);
	ck_assert_int_eq(r.config_calls, 1);
	ck_assert_str_eq(argv[2], "/proc/self/fd/9");
	/* no hook: left as it is */
	argv[2] = a;
	ops.config = NULL;
	ck_assert_int_eq(sbrw_argv(3, argv, &rules, &ops), 0);
	ck_assert_str_eq(argv[2], "qemu.conf");
}
END_TEST

START_TEST(candidates)
{
	char *p = long_path(109, 0), *p108 = long_path(108, 0);
	char *a1[] = { (char *)"x", p108, (char *)"unix:", NULL }, *a2[] = { (char *)"x", p, NULL };
	char *a3[] = { p, NULL };

	ck_assert_int_eq(sbrw_candidates(3, a1), 0);
	ck_assert_int_eq(sbrw_candidates(2, a2), 1);
	ck_assert_int_eq(sbrw_candidates(1, a3), 0);	/* argv[0] is never rewritten */
	ck_assert_str_eq(sbrw_program("/usr/lib/qemu/virtiofsd"), "virtiofsd");
	ck_assert_str_eq(sbrw_program("tmux"), "tmux");
	free(p);
	free(p108);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("shim-rewrite");
	TCase *tc = tcase_create("rewrite");

	tcase_add_test(tc, qemu_keyval);
	tcase_add_test(tc, qemu_several_and_escapes);
	tcase_add_test(tc, qemu_json);
	tcase_add_test(tc, qemu_never);
	tcase_add_test(tc, helpers);
	tcase_add_test(tc, socat);
	tcase_add_test(tc, lengths_and_tail);
	tcase_add_test(tc, generic_client);
	tcase_add_test(tc, free_text);
	tcase_add_test(tc, rule_text);
	tcase_add_test(tc, rule_dirs);
	tcase_add_test(tc, shipped_rules_parse);
	tcase_add_test(tc, readconfig_hook);
	tcase_add_test(tc, candidates);
	suite_add_tcase(s, tc);
	return check_run(s, CK_FORK_GETENV);
}
