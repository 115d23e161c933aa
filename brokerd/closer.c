/*
 * closer.c: a thread that closes fds clients gave us.
 *
 * The event loop hands fds over through a pipe (4 bytes each, written
 * atomically); the thread does nothing but close them, so a close that
 * blocks stalls only this thread, never a client's request.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "closer.h"

static int closer_pipe[2] = { -1, -1 };

static void *
closer_main(void *arg)
{
	int fd;
	ssize_t n;

	(void)arg;
	for (;;) {
		n = read(closer_pipe[0], &fd, sizeof(fd));
		if (n == (ssize_t)sizeof(fd))
			close(fd);
		else if (n == 0 || (n < 0 && errno != EINTR))
			return NULL;
	}
}

int
closer_init(void)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	int r;

	if (closer_pipe[0] >= 0)
		return 0;
	if (pipe2(closer_pipe, O_CLOEXEC) < 0)
		return -errno;
	/* the writer must never block: a full queue falls back to close(2) */
	fcntl(closer_pipe[1], F_SETFL, O_NONBLOCK);
	fcntl(closer_pipe[1], F_SETPIPE_SZ, 1 << 20);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	/* signals stay with the event loop */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&t, &attr, closer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		close(closer_pipe[0]);
		close(closer_pipe[1]);
		closer_pipe[0] = closer_pipe[1] = -1;
		return -r;
	}
	return 0;
}

void
closer_close(int fd)
{
	if (fd < 0)
		return;
	if (closer_pipe[1] >= 0 &&
	    write(closer_pipe[1], &fd, sizeof(fd)) == (ssize_t)sizeof(fd))
		return;
	close(fd);
}
