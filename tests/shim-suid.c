/* SPDX-License-Identifier: ISC */
/*
 * shim-suid.c: the setuid-root program of tests/shim-suid.sh. The test
 * copies it, makes the copy setuid root and runs it as another uid with
 * the shim in ld.so.preload and an attacker's SOCKBROKER_* environment.
 *
 *   shim-suid CONNECT BIND [ARG...]
 *
 * It prints what the shim may have changed: whether it runs in secure
 * mode (AT_SECURE), whether the shim is loaded, its arguments and
 * SOCKBROKER_SHIM_KEYS as main() sees them; then the answers of connect
 * and sendto to CONNECT and of bind to BIND, over-long addresses in a
 * larger buffer, which the kernel refuses (EINVAL) without the shim. It
 * does nothing else with its privilege: never run it setuid elsewhere.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct big_addr {
	sa_family_t	family;
	char		path[PATH_MAX];
};

static socklen_t
big(struct big_addr *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->family = AF_UNIX;
	snprintf(a->path, sizeof(a->path), "%s", path);
	return (socklen_t)(offsetof(struct big_addr, path) + strlen(a->path) + 1);
}

static void
answer(const char *what, long r)
{
	printf("%s %ld %d\n", what, r, r < 0 ? errno : 0);
}

static int
shim_loaded(void)
{
	char line[4096];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "libsockbroker-shim") != NULL)
			found = 1;
	fclose(f);
	return found;
}

int
main(int argc, char **argv)
{
	const char *keys = getenv("SOCKBROKER_SHIM_KEYS");
	struct big_addr a;
	socklen_t len;
	int i, fd;

	printf("secure %lu\n", getauxval(AT_SECURE));
	printf("shim %d\n", shim_loaded());
	for (i = 0; i < argc; i++)
		printf("argv %d %s\n", i, argv[i]);
	printf("keys %s\n", keys != NULL ? keys : "(unset)");
	if (argc < 3)
		return 2;
	fflush(stdout);

	len = big(&a, argv[1]);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
		return 1;
	answer("connect", connect(fd, (struct sockaddr *)&a, len));
	close(fd);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM, 0)) < 0)
		return 1;
	answer("sendto", (long)sendto(fd, "x", 1, 0, (struct sockaddr *)&a, len));
	close(fd);
	len = big(&a, argv[2]);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
		return 1;
	answer("bind", bind(fd, (struct sockaddr *)&a, len));
	close(fd);
	return 0;
}
