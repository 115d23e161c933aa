/* SPDX-License-Identifier: ISC */
/*
 * cli-libtest.c: a small program on the public API of libsockbroker.so, run
 * by cli-library.sh against a real broker. Usage: cli-libtest LONG_PATH
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sockbroker.h"

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "%s:%d: %s failed\n", \
	__FILE__, __LINE__, #cond); exit(1); } } while (0)
#define CHECK_R(expr, want) do { int r_ = (expr); if (r_ != (want)) { \
	fprintf(stderr, "%s:%d: %s = %d (%s), want %d; broker: %s\n", __FILE__, \
	__LINE__, #expr, r_, sb_strerror(r_), want, sb_client_message(c)); exit(1); } } while (0)

static int
count_cb(const struct sb_entry_info *e, void *userdata)
{
	int *n = userdata;

	if (strcmp(e->key, "lib-name") == 0) {
		CHECK(e->kind == SB_KIND_SOCKET_ENTRY && e->type == SOCK_SEQPACKET);
		/* a hold entry has no owner process: pid 0 */
		CHECK(e->uid == geteuid() && e->pid == 0);

		CHECK(e->mode == 0640 && e->listening);
	}
	(*n)++;
	return 0;
}

static void *
resolver(void *arg)
{
	sb_client *c = arg;
	char sp[SB_SHORT_PATH_SIZE], want[SB_SHORT_PATH_SIZE];
	int i;

	for (i = 0; i < 100; i++) {
		if (sb_resolve(c, "lib-name", sp, sizeof(sp)) != 0 ||
		    sb_short_path(NULL, "lib-name", want, sizeof(want)) != 0 || strcmp(sp, want))
			return (void *)1;
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct sb_bind_opts o = SB_BIND_OPTS_INIT;
	char sp[SB_SHORT_PATH_SIZE], sp2[SB_SHORT_PATH_SIZE], target[256];
	struct sockaddr_un sun;
	struct sb_status st;
	struct sb_status_details sd;
	pthread_t t[4];
	sb_client *c = NULL;
	void *ret;
	int fd, fd2, cfd, n = 0, i;
	ssize_t len;

	CHECK(argc == 2);
	CHECK_R(sb_client_open(NULL, &c), 0);

	/* a name: a listening seqpacket socket, mode 0640 */
	o.type = SOCK_SEQPACKET;
	o.flags = SB_BIND_F_LISTEN;
	o.mode = 0640;
	CHECK_R(sb_bind(c, "lib-name", &o, &fd, sp, sizeof(sp)), 0);
	CHECK(fd >= 0);
	CHECK_R(sb_short_path(NULL, "lib-name", sp2, sizeof(sp2)), 0);
	CHECK(strcmp(sp, sp2) == 0);
	/* a client connects at the short path; we accept on the fd we got */
	cfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, sp);
	CHECK(connect(cfd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	CHECK(send(cfd, "hi", 2, 0) == 2);
	fd2 = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	CHECK(fd2 >= 0);
	CHECK(recv(fd2, target, sizeof(target), 0) == 2 && memcmp(target, "hi", 2) == 0);
	close(fd2);
	close(cfd);
	close(fd);

	/* get hands out the held socket */
	CHECK_R(sb_get(c, "lib-name", &fd), 0);
	CHECK(fd >= 0);
	close(fd);

	/* a long path key: a symlink at the path, the socket at the short path */
	o = (struct sb_bind_opts)SB_BIND_OPTS_INIT;
	o.flags = SB_BIND_F_LISTEN;
	o.lifetime = SB_LIFETIME_HOLD;
	CHECK_R(sb_bind(c, argv[1], &o, &fd, sp, sizeof(sp)), 0);
	close(fd);
	len = readlink(argv[1], target, sizeof(target) - 1);
	CHECK(len > 0);
	target[len] = '\0';
	CHECK(strcmp(target, sp) == 0);
	/* binding it again reuses the link and hands back the held socket */
	CHECK_R(sb_bind(c, argv[1], &o, &fd, sp2, sizeof(sp2)), 0);
	CHECK(strcmp(sp, sp2) == 0);
	close(fd);
	CHECK_R(sb_resolve(c, argv[1], sp2, sizeof(sp2)), 0);
	CHECK(strcmp(sp, sp2) == 0);
	CHECK_R(sb_wait(c, argv[1], 0, sp2, sizeof(sp2)), 0);

	/* PREPARE, the caller's own bind, BOUND: what the shim does */
	o = (struct sb_bind_opts)SB_BIND_OPTS_INIT;
	o.flags = SB_BIND_F_PREPARE;
	fd = -5;
	CHECK_R(sb_bind(c, "lib-prepared", &o, &fd, sp, sizeof(sp)), 0);
	CHECK(fd == -1);
	CHECK_R(sb_short_path(NULL, "lib-prepared", sp2, sizeof(sp2)), 0);
	CHECK(strcmp(sp, sp2) == 0);
	/* not ready yet: a wait that does not wait times out */
	CHECK_R(sb_wait(c, "lib-prepared", 0, sp2, sizeof(sp2)), -ETIMEDOUT);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, sp);
	CHECK(bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	CHECK(listen(fd, 4) == 0);
	o.flags = SB_BIND_F_BOUND;
	fd2 = -5;
	CHECK_R(sb_bind(c, "lib-prepared", &o, &fd2, sp2, sizeof(sp2)), 0);
	CHECK(fd2 == -1 && strcmp(sp, sp2) == 0);
	CHECK_R(sb_wait(c, "lib-prepared", 0, sp2, sizeof(sp2)), 0);
	CHECK(strcmp(sp, sp2) == 0);
	cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(connect(cfd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	close(cfd);
	close(fd);
	CHECK_R(sb_release(c, "lib-prepared"), 0);

	/* errors: message from the broker, output untouched */
	fd = -5;
	CHECK_R(sb_get(c, "no-such-entry", &fd), -ENOENT);
	CHECK(fd == -5);
	CHECK(strstr(sb_client_message(c), "no-such-entry") != NULL);
	CHECK_R(sb_wait(c, "no-such-entry", 100, sp2, sizeof(sp2)), -ETIMEDOUT);
	CHECK_R(sb_resolve(c, "bad/key", sp2, sizeof(sp2)), -EINVAL);

	/* list and status */
	CHECK(sb_list(c, count_cb, &n) >= 2);
	CHECK(n >= 2);
	CHECK_R(sb_status(c, &st), 0);
	CHECK(st.entries >= 2 && st.version == 1 && st.pid > 0);
	CHECK_R(sb_status_details(c, &sd), 0);
	CHECK(sd.details && sd.status.entries == st.entries && sd.status.pid == st.pid);
	CHECK(sd.root[0] == '/' && sd.version[0] != '\0' && sd.max_entries > 0);
	CHECK(sd.max_clients > 0 && sd.client_timeout_ms > 0);

	/* one client, four threads */
	for (i = 0; i < 4; i++)
		CHECK(pthread_create(&t[i], NULL, resolver, c) == 0);
	for (i = 0; i < 4; i++) {
		CHECK(pthread_join(t[i], &ret) == 0);
		CHECK(ret == NULL);
	}

	/* release: the link at the path goes too */
	CHECK_R(sb_release(c, argv[1]), 0);
	CHECK(access(argv[1], F_OK) != 0);
	{
		struct stat stb;

		CHECK(lstat(argv[1], &stb) != 0);
	}
	CHECK_R(sb_release(c, "lib-name"), 0);
	CHECK_R(sb_release(c, "lib-name"), -ENOENT);
	sb_client_close(c);
	printf("ok\n");
	return 0;
}
