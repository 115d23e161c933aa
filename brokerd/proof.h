/*
 * proof.h: checking a client's proof that it may create a path, with a
 * deadline.
 */
#ifndef SB_PROOF_H
#define SB_PROOF_H

#include <stddef.h>
#include <sys/types.h>

#define PROOF_DEADLINE_MS	2000

/*
 * Is fd (an O_PATH fd of a symlink) the proof that uid may create key: a
 * symlink owned by uid (any owner for root) pointing at short_path, and the
 * very file at key? Returns 1 yes, 0 no, -ETIMEDOUT if the file system did
 * not answer within PROOF_DEADLINE_MS, -EAGAIN if a check of uid is still
 * stuck; why says what failed. The stat/readlink calls run on a thread of
 * their own: a path on a client's FUSE mount or a hung NFS server can delay
 * that thread, never the event loop for more than the deadline, and at
 * most one stuck check per uid.
 */
int	proof_check_bounded(uid_t uid, const char *key, const char *short_path, int fd,
	    char *why, size_t len);

#endif
