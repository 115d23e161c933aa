/* SPDX-License-Identifier: ISC */
/*
 * shim-argv.c: print the arguments as the program got them, for the shim's
 * rewrite tests. Installed in the test's bin/ under the names of real
 * programs (git, qemu-system-x86_64, curl, ...), whose rules key on argv[0].
 *
 * stdout: each argument after argv[0], NUL-terminated, then "fds N\n" (the
 * open fds, so that a shim that opens one shows). With SHIM_ARGV_WAIT set
 * it then reads stdin to its end (the test reads /proc/PID/cmdline).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct dirent *de;
	DIR *d;
	int i, n = 0;
	char buf[256];

	for (i = 1; i < argc; i++)
		fwrite(argv[i], 1, strlen(argv[i]) + 1, stdout);
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				n++;
		closedir(d);
	}
	printf("fds %d\n", n - 1);	/* less the directory's own */
	fflush(stdout);
	if (getenv("SHIM_ARGV_WAIT") != NULL)
		while (fread(buf, 1, sizeof(buf), stdin) > 0)
			;
	return 0;
}
