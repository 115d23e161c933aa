/* SPDX-License-Identifier: ISC */
/*
 * closer.h: close fds that came from clients off the event loop.
 */
#ifndef SB_CLOSER_H
#define SB_CLOSER_H

#include <sys/types.h>

/* The uid of fds that are the broker's own (not charged to a client) */
#define CLOSER_BROKER		((uid_t)-1)
/* The uid of fds whose sender is not known (a datagram that did not say) */
#define CLOSER_FOREIGN		((uid_t)-2)
/* fds of one uid waiting to be closed before its requests with fds are refused */
#define CLOSER_PENDING_MAX	64

/* Start the closer threads; 0 or a negative errno. */
int		closer_init(void);
/*
 * Close fd on a closer thread, charged to uid: the last close of a
 * client's fd can block for as long as the client likes (a TCP socket
 * lingering with unsent data, a file on the client's own FUSE mount):
 * never on the event loop, and a stuck close delays only the later closes
 * of its uid. Accepts -1. Never closes on the caller's thread once the
 * threads run.
 */
void		closer_close_uid(int fd, uid_t uid);
/*
 * closer_close_uid of an fd whose only copy is the broker's: an AF_UNIX
 * socket is first shut down for reading and drained (see closer.c), so its
 * queued fds and waiting connections are closed under the uids that sent
 * them, not under uid. Never for an fd others may hold: it takes what they
 * would read.
 */
void		closer_close_last(int fd, uid_t uid);
/*
 * An entry's held fd: closer_close_last if it is an AF_UNIX socket with
 * something queued that no other process has open, else closer_close_uid.
 * manager: the service manager dropping its stored copy (FDSTOREREMOVE),
 * waited for first; 0 for none.
 */
void		closer_close_held(int fd, uid_t uid, pid_t manager);
/*
 * closer_close_last, but then the fd number becomes a copy of src
 * (dup3) and is stored in *publish (atomically): a spare fd comes back
 * only once the fd it made room for is gone.
 */
void		closer_replace_last(int fd, uid_t uid, int src, int *publish);
/* closer_close_uid(fd, CLOSER_BROKER) */
void		closer_close(int fd);
/* fds of uid queued or being closed */
unsigned	closer_pending(uid_t uid);

#endif
