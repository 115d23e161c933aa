/*
 * closer.h: close fds that came from clients off the event loop.
 */
#ifndef SB_CLOSER_H
#define SB_CLOSER_H

/* Start the closer thread; 0 or a negative errno. */
int	closer_init(void);
/*
 * Close fd on the closer thread. The last close of a client's fd can block
 * for as long as the client likes (a TCP socket lingering with unsent data,
 * a file on the client's own FUSE mount): never on the event loop.
 * Accepts -1. Falls back to close(2) here only if the thread is not running
 * or its queue is full.
 */
void	closer_close(int fd);

#endif
