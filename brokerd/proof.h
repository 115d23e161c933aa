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

/* What a job found (proof_result) */
struct proof_outcome {
	int		 ok;		/* a proof: it holds */
	uid_t		 link_uid;	/* the link's owner: the claim's uid */
	int		 host;		/* a proof: the link is the file the broker sees */
	int		 view;		/* a lookup: the view the caller's link names, or -1 */
	char		 why[256];	/* a proof refused: why */
};

/*
 * Start checking that fd (an O_PATH fd of a symlink) is the proof that uid
 * may create key: a symlink owned by uid (any owner for root) pointing at
 * one of key's short paths (short_path, view 0's, names them in messages),
 * and the very file at key as the client sees it, looked up from rootfd
 * (the client's root directory, in its mount namespace; borrowed). It also
 * says whether that link is the very file at key in the broker's own view
 * (host: the claim is the host's, view 0; else another view's).
 *
 * With fd < 0 the job is a lookup instead: which view's short path the
 * link at key names in the client's view (rootfd), and who owns the link,
 * for a request by key alone of a key claimed in several views; view -1 if
 * there is no such link.
 *
 * Returns the job, or NULL with a positive errno in *ret_err and why
 * filled: EAGAIN if a check of uid's person is stuck or too many run,
 * ENOMEM. proof_event_fd() becomes readable when a job is done.
 */
struct proof	*proof_start(uid_t uid, const char *key, const char *short_path, int fd,
		    int rootfd, int *ret_err, char *why, size_t len);
/* 1 and *ret filled once done, else 0 */
int		 proof_result(struct proof *j, struct proof_outcome *ret);
/*
 * Forget j (done or not). stuck: it ran past the deadline; while it stays
 * stuck in the file system, further checks of that person are refused.
 */
void		 proof_release(struct proof *j, int stuck);
/* readable when some job finished; proof_event_clear() after reading results */
int		 proof_event_fd(void);
void		 proof_event_clear(void);

#endif
