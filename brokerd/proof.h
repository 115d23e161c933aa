/* SPDX-License-Identifier: ISC */
/*
 * proof.h: checking a client's proof that it may create a path, on a
 * thread, in the client's view of the file system, without ever making the
 * event loop wait.
 */
#ifndef SB_PROOF_H
#define SB_PROOF_H

#include <stddef.h>
#include <sys/types.h>

#define PROOF_DEADLINE_MS	2000
#define PROOF_RUNNING_MAX	4	/* checks of one person at once */

struct proof;

/*
 * Start checking that fd (an O_PATH fd of a symlink) is the proof that uid
 * may create key: a symlink owned by uid (any owner for root) pointing at
 * short_path, and the very file at key as the client sees it, looked up
 * from rootfd (the client's root directory, in its mount namespace;
 * borrowed). Returns the job, or NULL with a positive errno in *ret_err
 * and why filled: EAGAIN if a check of uid's person is stuck or too many
 * run, ENOMEM. proof_event_fd() becomes readable when a job is done.
 */
struct proof	*proof_start(uid_t uid, const char *key, const char *short_path, int fd,
		    int rootfd, int *ret_err, char *why, size_t len);
/*
 * 1 and *ret_ok (1 yes, 0 no; why says what failed) once done, else 0.
 * The link may point at any view's short path of the key (sb-internal.h):
 * *ret_link_uid is its owner, the view's discriminator.
 */
int		 proof_result(struct proof *j, int *ret_ok, uid_t *ret_link_uid, char *why,
		    size_t len);
/*
 * Forget j (done or not). stuck: it ran past the deadline; while it stays
 * stuck in the file system, further checks of that person are refused.
 */
void		 proof_release(struct proof *j, int stuck);
/* readable when some job finished; proof_event_clear() after reading results */
int		 proof_event_fd(void);
void		 proof_event_clear(void);

#endif
