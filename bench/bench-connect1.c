/* SPDX-License-Identifier: ISC */
/*
 * bench-connect1.c: a small dynamic program that makes one short connect
 * (figure 8): socket, connect to the AF_UNIX path in argv[1], close, exit
 * 0. Nothing else: what is timed is a process start, the shim's
 * constructor, one connect through the shim, and exit.
 */
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t n;
	int fd, r;

	if (argc != 2 || (n = strlen(argv[1])) >= sizeof(sun.sun_path))
		return 100;
	memcpy(sun.sun_path, argv[1], n);
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
		return 111;
	r = connect(fd, (struct sockaddr *)&sun, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1));
	close(fd);
	return r == 0 ? 0 : 1;
}
