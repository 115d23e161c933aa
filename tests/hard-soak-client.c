/* SPDX-License-Identifier: ISC */
/*
 * hard-soak-client.c: one client of the soak (hard-soak.sh), on the public
 * API of libsockbroker.
 *
 *   hard-soak-client ID CYCLES
 *
 * Each cycle binds a listening socket for the name "soak-ID-(n % 4)",
 * connects to its short path, gets the socket from the broker, accepts on
 * it, and releases the entry; every 16th cycle also puts an fd and a
 * status. Exit 0 if every call worked, 1 with a message otherwise.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sockbroker.h"

static void __attribute__((noreturn))
die(sb_client *c, const char *what, const char *key, int r)
{
	fprintf(stderr, "hard-soak-client: %s %s: %s: %s\n", what, key, sb_strerror(r),
	    c != NULL ? sb_client_message(c) : "");
	exit(1);
}

int
main(int argc, char **argv)
{
	struct sb_bind_opts opts = SB_BIND_OPTS_INIT;
	char key[64], sp[SB_SHORT_PATH_SIZE];
	struct sockaddr_un sun;
	struct sb_status st;
	unsigned long id, cycles, n;
	sb_client *c;
	int fd, got, s, a, r;

	if (argc != 3) {
		fprintf(stderr, "usage: hard-soak-client ID CYCLES\n");
		return 100;
	}
	id = strtoul(argv[1], NULL, 10);
	cycles = strtoul(argv[2], NULL, 10);
	if ((r = sb_client_open(NULL, &c)) < 0)
		die(NULL, "open", "", r);
	opts.flags = SB_BIND_F_LISTEN;
	for (n = 0; n < cycles; n++) {
		snprintf(key, sizeof(key), "soak-%lu-%lu", id, n % 4);
		if ((r = sb_bind(c, key, &opts, &fd, sp, sizeof(sp))) < 0)
			die(c, "bind", key, r);
		if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			die(c, "socket", key, -errno);
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, sp, strlen(sp));
		if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0)
			die(c, "connect", sp, -errno);
		if ((r = sb_get(c, key, &got)) < 0)
			die(c, "get", key, r);
		if ((a = accept(got, NULL, NULL)) < 0)
			die(c, "accept", key, -errno);
		close(a);
		close(s);
		close(got);
		close(fd);
		if (n % 16 == 0) {
			snprintf(key, sizeof(key), "soak-fd-%lu", id);
			if ((r = sb_put(c, key, 0, 0600, (gid_t)-1)) < 0)
				die(c, "put", key, r);
			if ((r = sb_status(c, &st)) < 0)
				die(c, "status", "", r);
			if ((r = sb_release(c, key)) < 0)
				die(c, "release", key, r);
			snprintf(key, sizeof(key), "soak-%lu-%lu", id, n % 4);
		}
		if ((r = sb_release(c, key)) < 0)
			die(c, "release", key, r);
	}
	sb_client_close(c);
	return 0;
}
