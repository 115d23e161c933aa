/* SPDX-License-Identifier: ISC */
/*
 * autostart.c: start a broker on demand when none answers.
 *
 * Where no service manager provides the control socket, the first client
 * starts sockbrokerd itself, detached (its own session, not our child),
 * with --idle-exit so that it goes away once nobody uses it. Starts are
 * serialised with an flock(2) on ROOT.lock beside the root, so two
 * clients racing never start two brokers: the second one takes the lock
 * after the first broker is ready, finds it answering, and starts nothing.
 * Nothing is printed: the broker's output goes to /dev/null.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sb-internal.h"
#include "sockbroker.h"

#ifndef SB_SBINDIR
#define SB_SBINDIR "/usr/local/sbin"
#endif

#define START_TIMEOUT_MS	5000
#define DEFAULT_IDLE_EXIT	"60"

int
sb_autostart_allowed(unsigned flags)
{
	const char *v;

	if (flags & SB_OPEN_NO_AUTOSTART)
		return 0;
	v = sb_getenv("SOCKBROKER_AUTOSTART");
	if (v != NULL && v[0] != '\0')
		return strcmp(v, "1") == 0 || strcasecmp(v, "yes") == 0;
	/* root's broker is a system service: never started behind its back */
	return geteuid() != 0;
}

/* Fork a detached sockbrokerd that reports readiness on ready_fd. */
static int
spawn(const char *daemon, char *const argv[], int ready_fd)
{
	pid_t pid, r;
	int status, devnull;

	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(devnull);
		return r;
	}
	if (pid == 0) {
		/* only async-signal-safe calls from here on */
		setsid();
		if (fork() != 0)
			_exit(0);
		if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0 ||
		    dup2(ready_fd, 3) < 0)
			_exit(127);
#ifdef SYS_close_range
		syscall(SYS_close_range, 4, ~0U, 0);
#endif
		execv(daemon, argv);
		_exit(127);
	}
	close(devnull);
	do
		r = waitpid(pid, &status, 0);
	while (r < 0 && errno == EINTR);
	return 0;
}

int
sb_autostart(const char *root)
{
	char lock[SB_SHORT_PATH_SIZE + 8], idle[16], *argv[9];
	const char *daemon, *v;
	struct pollfd pfd;
	int lfd, p[2], r, n;
	char c;

	n = snprintf(lock, sizeof(lock), "%s.lock", root);
	if (n < 0 || (size_t)n >= sizeof(lock))
		return -ENAMETOOLONG;
	daemon = sb_getenv("SOCKBROKERD");
	if (daemon == NULL || daemon[0] != '/')
		daemon = SB_SBINDIR "/sockbrokerd";
	v = sb_getenv("SOCKBROKER_IDLE_EXIT");
	snprintf(idle, sizeof(idle), "%s",
	    v != NULL && strspn(v, "0123456789") == strlen(v) && v[0] != '\0' && strlen(v) < 9 ?
	    v : DEFAULT_IDLE_EXIT);
	if ((lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return -errno;
	do
		r = flock(lfd, LOCK_EX);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = -errno;
		goto out;
	}
	/* someone else may have started it while we waited for the lock */
	if (sb_control_answers(root)) {
		r = 0;
		goto out;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		r = -errno;
		goto out;
	}
	argv[0] = (char *)"sockbrokerd";
	argv[1] = (char *)"--root";
	argv[2] = (char *)root;
	argv[3] = (char *)"--ready-fd";
	argv[4] = (char *)"3";
	argv[5] = (char *)"--idle-exit";
	argv[6] = idle;
	argv[7] = NULL;
	r = spawn(daemon, argv, p[1]);
	close(p[1]);
	if (r == 0) {
		/* the broker writes a newline once its control socket is armed */
		pfd.fd = p[0];
		pfd.events = POLLIN;
		do
			n = poll(&pfd, 1, START_TIMEOUT_MS);
		while (n < 0 && errno == EINTR);
		if (n == 1 && read(p[0], &c, 1) == 1 && c == '\n')
			r = 0;
		else
			r = n == 0 ? -ETIMEDOUT : -ECONNREFUSED;
	}
	close(p[0]);
out:
	close(lfd);	/* releases the lock */
	return r;
}
