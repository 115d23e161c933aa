/* SPDX-License-Identifier: ISC */
/*
 * request.c: what the broker answers, one function per request type.
 *
 * Access is denied by default. The owner of an entry and root may do
 * anything to it. Others are judged by the bits of its mode for their class
 * (group, incl. supplementary groups, if they are in the entry's group,
 * other otherwise), like a file:
 *   w  connect: resolve, wait for and list it (connect(2) needs w);
 *   x  get: receive the held fd (accept on a listening socket, receive on
 *      a datagram socket, use a put fd); x also lets one see it;
 *   r  nothing (a socket file's r is meaningless; kept for the file).
 * The right to connect is never the right to accept: mode 0666 lets
 * everyone connect and no one but the owner and root get the socket.
 * A caller with no right at all to an entry is told what it would be told
 * if there were none: ENOENT (wait waits as for an absent key).
 * Every refusal names the key and, where one applies, the limit.
 *
 * A path key may be claimed in several views (mount namespaces), each claim
 * an entry of its own; view 0 is the host's (proved with the very file the
 * broker sees at the path). A request by key alone reaches the caller's own
 * claim, else the one the link at the path in the caller's view stands for
 * (read on the proof thread when the key has a claim of another view),
 * else the host's: never a claim another uid made in another view.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "brokerd.h"
#include "closer.h"
#include "proof.h"
#include "sb-internal.h"
#include "sockbroker.h"

/* A key short enough for a message: long paths keep their head and tail. */
static const char *
kfmt(const char *key)
{
	static char buf[4][200];
	static int i;
	size_t n = strlen(key);
	char *b = buf[i++ % 4];

	if (n < sizeof(buf[0]))
		return key;
	snprintf(b, sizeof(buf[0]), "%.60s...%s", key, key + n - 130);
	return b;
}

static int
is_owner(const struct peer_cred *c, const struct entry *e)
{
	return c->uid == 0 || c->uid == e->uid;
}

static int
in_group(const struct peer_cred *c, gid_t gid)
{
	const gid_t *g;
	int i, n;

	if (c->gid == gid)
		return 1;
	n = peer_cred_groups(c, &g);
	for (i = 0; i < n; i++)
		if (g[i] == gid)
			return 1;
	return 0;
}

#define RIGHT_CONNECT	0x1u	/* resolve, wait, list */
#define RIGHT_GET	0x2u	/* receive the held fd */
#define RIGHT_OWN	0x4u	/* release, put over, bind again */

/* What c may do with e (RIGHT_*); 0: e does not exist for c. */
static unsigned
rights(const struct peer_cred *c, const struct entry *e)
{
	unsigned bits, r = 0;

	if (is_owner(c, e))
		return RIGHT_CONNECT | RIGHT_GET | RIGHT_OWN;
	bits = in_group(c, e->gid) ? (e->mode >> 3) & 7u : e->mode & 7u;
	if (bits & 02)
		r |= RIGHT_CONNECT;
	if (bits & 01)
		r |= RIGHT_GET | RIGHT_CONNECT;
	return r;
}

/* May c resolve, wait for or list e? */
static int
may_use(const struct peer_cred *c, const struct entry *e)
{
	return (rights(c, e) & RIGHT_CONNECT) != 0;
}

/* The OK that names e: its short path, kind, fd if one goes, lifetime if said. */
static void
reply_entry_lt(struct peer *p, uint32_t id, const struct entry *e, int fd, int say_lifetime)
{
	char sp[SB_SHORT_PATH_SIZE];
	struct sb_msg m;

	sb_msg_init(&m, SB_MSG_OK, id);
	if (e->kind == SB_KIND_SOCKET) {
		entry_short_path(e, sp, sizeof(sp));
		sb_msg_set_str(&m, SB_F_SHORT_PATH, sp);
	}
	sb_msg_set_u32(&m, SB_F_KIND, e->kind);
	if (fd >= 0)
		sb_msg_set_u32(&m, SB_F_HAS_FD, 1);
	if (say_lifetime)
		sb_msg_set_u32(&m, SB_F_LIFETIME, e->lifetime);
	peer_send(p, &m, fd);
}

static void
reply_entry(struct peer *p, uint32_t id, const struct entry *e, int fd)
{
	reply_entry_lt(p, id, e, fd, 0);
}

/*
 * The OK of a BIND (req), with the entry's lifetime if asked
 * (SB_BIND_SAY_LIFETIME): a client that knows its socket is an owner
 * entry's can release it at unlink without waiting, a held one's unlink
 * being a no-op (the shim; bench/README).
 */
static void
reply_bind(struct peer *p, const struct sb_msg *req, const struct entry *e, int fd)
{
	reply_entry_lt(p, req->id, e, fd,
	    (sb_msg_u32(req, SB_F_FLAGS, 0) & SB_BIND_SAY_LIFETIME) != 0);
}

static void
reply_ok(struct peer *p, uint32_t id)
{
	struct sb_msg m;

	sb_msg_init(&m, SB_MSG_OK, id);
	peer_send(p, &m, -1);
}

/* The key of m, checked; NULL after a refusal. */
static const char *
req_key(struct peer *p, const struct sb_msg *m)
{
	const char *key = m->str[SB_F_KEY];
	int r;

	if ((r = sb_key_check(key)) < 0) {
		refuse(p, m->id, -r, r == -ENAMETOOLONG ? (sb_key_is_path(key) ?
		    SB_PATH_KEY_MAX : SB_NAME_MAX) : 0, "invalid key '%s': %s%s", kfmt(key),
		    sb_strerror(r), sb_key_is_path(key) ? "" : " (a name is up to 200 of "
		    "A-Z a-z 0-9 . _ : @ + -; a path is absolute and normalised)");
		return NULL;
	}
	return key;
}

static int	lookup_needed(struct peer *p, const struct sb_msg *m, const char *key,
		    const struct proof_outcome *po);
static struct entry *entry_for(const struct peer_cred *c, const char *key,
		    const struct proof_outcome *po, unsigned need);

/*
 * The entry of key on which c has the right need (RIGHT_*), or NULL after
 * a refusal: ENOENT if there is none or c has no right at all to it (a
 * stranger learns nothing more), EACCES if c may see it but not do op. Also
 * NULL when the caller's link must say which claim of a path key it means
 * (lookup_needed): the request is done again with po once it does.
 */
static struct entry *
req_entry(struct peer *p, const struct sb_msg *m, const char *key, unsigned need,
    const char *op, const struct proof_outcome *po)
{
	const struct peer_cred *c = peer_cred(p);
	struct entry *e;
	unsigned r;

	if (lookup_needed(p, m, key, po))
		return NULL;
	if ((e = entry_for(c, key, po, need)) == NULL || (r = rights(c, e)) == 0) {
		refuse(p, m->id, ENOENT, 0, "no entry for %s", kfmt(key));
		return NULL;
	}
	if ((r & need) != need) {
		refuse(p, m->id, EACCES, 0, "uid %lu may not %s %s (owner uid %lu, gid %lu, "
		    "mode %04o%s)", (unsigned long)c->uid, op, kfmt(key), (unsigned long)e->uid,
		    (unsigned long)e->gid, e->mode, need == RIGHT_GET ? ": the fd goes only to "
		    "its owner, root, or a class with the x bit of the mode; w lets one connect, "
		    "never accept" : "");
		return NULL;
	}
	return e;
}

/* Room for one more entry of c? Refuses if not. */
static int
quota_ok(struct peer *p, const struct sb_msg *m, const char *key)
{
	const struct peer_cred *c = peer_cred(p);
	unsigned n;

	unsigned share = cfg.max_entries - ROOT_RESERVE(cfg.max_entries);
	char who[96];

	if (entries_total() >= cfg.max_entries) {
		refuse(p, m->id, ENOSPC, cfg.max_entries, "the broker has %u entries: the limit is "
		    "%u (--max-entries); %s refused", entries_total(), cfg.max_entries, kfmt(key));
		return 0;
	}
	if (c->uid != 0 && entries_nonroot() >= share) {
		refuse(p, m->id, ENOSPC, share, "uids other than root have %u entries: they may "
		    "have %u of the %u (--max-entries), the rest is kept for root; %s refused",
		    entries_nonroot(), share, cfg.max_entries, kfmt(key));
		return 0;
	}
	if (c->uid != 0 && (n = entries_of(c->uid)) >= cfg.max_entries_per_uid) {
		person_name(c->uid, who, sizeof(who));
		refuse(p, m->id, EDQUOT, cfg.max_entries_per_uid, "%s has %u entries: the "
		    "limit is %u (--max-entries-per-uid); %s refused", who, n,
		    cfg.max_entries_per_uid, kfmt(key));
		return 0;
	}
	if (entries_room() < 0) {
		refuse(p, m->id, ENOMEM, 0, "the broker is out of memory for its entry table "
		    "(%u entries); %s refused", entries_total(), kfmt(key));
		return 0;
	}
	return 1;
}

/* A change whose journal record could not be written: refused with that errno. */
static void
refuse_journal(struct peer *p, const struct sb_msg *m, const struct entry *e, int r)
{
	refuse(p, m->id, -r, 0, "unable to record %s in %s/state: %s: nothing was changed "
	    "(the broker is read-only until it can write its state again)", kfmt(e->key),
	    cfg.root, strerror(-r));
}

/* Group and mode options of BIND and PUT; 0 after a refusal. */
static int
req_mode_gid(struct peer *p, const struct sb_msg *m, mode_t *mode, gid_t *gid)
{
	const struct peer_cred *c = peer_cred(p);

	*mode = (mode_t)sb_msg_u32(m, SB_F_MODE, 0600);
	*gid = (gid_t)sb_msg_u32(m, SB_F_GID, (uint32_t)c->gid);
	if (*mode > 0777) {
		refuse(p, m->id, EINVAL, 0777, "mode %04lo is not a permission mode (at most 0777)",
		    (unsigned long)*mode);
		return 0;
	}
	if (c->uid != 0 && !in_group(c, *gid)) {
		refuse(p, m->id, EPERM, 0, "uid %lu is not in group %lu", (unsigned long)c->uid,
		    (unsigned long)*gid);
		return 0;
	}
	return 1;
}

/*
 * Path binds wait for their proof check (proof.c) without holding up the
 * event loop: the request is kept encoded, its peer takes no other request
 * (P_PROOF) until the check answers or its deadline passes.
 */
struct pending {
	struct pending	*next;
	struct peer	*p;
	struct proof	*job;
	int		 waiting;	/* a lookup for a waiter (P_WAIT), not P_PROOF */
	int		 sock;		/* ADOPT: the client's socket, or -1 */
	int		 rootfd;	/* the client's root the job looks from, or -1 */
	size_t		 len;
	uint8_t		 buf[SB_MSG_MAX];
};
static struct pending *pendings;

/* What a proof check or a lookup said, for the second pass of a request */
#define outcome proof_outcome

static void	redo(struct peer *p, struct sb_msg *m, const struct outcome *po, int waiting);

/*
 * A job for p's request m on the proof thread: m is kept encoded and done
 * again (redo) once the job answers. waiting: p waits on the key (P_WAIT,
 * its wait's own deadline), else it takes no other request (P_PROOF) until
 * the job answers or PROOF_DEADLINE_MS pass. 0, or -errno after a refusal.
 */
static int
pending_begin(struct peer *p, const struct sb_msg *m, const char *key, const char *sp,
    int waiting)
{
	const struct peer_cred *c = peer_cred(p);
	const char *what = m->fd >= 0 ? "may not claim" : "cannot be told which claim of";
	struct pending *pd;
	char why[256];
	ssize_t len;
	int rootfd, err;

	if ((pd = malloc(sizeof(*pd))) == NULL ||
	    (len = sb_msg_encode(m, pd->buf, sizeof(pd->buf))) < 0) {
		free(pd);
		if (!waiting)
			refuse(p, m->id, ENOMEM, 0, "out of memory");
		return -ENOMEM;
	}
	pd->len = (size_t)len;
	pd->p = p;
	pd->waiting = waiting;
	pd->sock = -1;
	pd->rootfd = -1;
	/* a waiter is refused nothing here: it waits on, its next wake tries again */
	if ((rootfd = peer_root_open(p)) < 0) {
		free(pd);
		if (!waiting)
			refuse(p, m->id, -rootfd, 0, "uid %lu %s %s: unable to see the file system "
			    "of pid %ld: %s", (unsigned long)c->uid, what, kfmt(key), (long)c->pid,
			    strerror(-rootfd));
		return rootfd;
	}
	pd->job = proof_start(c->uid, key, sp, m->fd, rootfd, &err, why, sizeof(why));
	if (pd->job == NULL) {
		close(rootfd);
		free(pd);
		if (!waiting)
			refuse(p, m->id, err, 0, "uid %lu %s %s: %s", (unsigned long)c->uid, what,
			    kfmt(key), why);
		return -err;
	}
	/* kept for the second pass: the process it tracks is looked at from there too */
	pd->rootfd = rootfd;
	pd->next = pendings;
	pendings = pd;
	if (!waiting)
		peer_proof_wait(p, m->id, PROOF_DEADLINE_MS);
	return 0;
}

/*
 * Start checking the proof of a path bind: fd is an O_PATH fd of a symlink
 * owned by c (any owner for root) pointing at the short path, and it must
 * be the very file at the key's path in c's view of the file system.
 */
static void
proof_begin(struct peer *p, struct sb_msg *m, const char *key, const struct entry *e)
{
	const struct peer_cred *c = peer_cred(p);
	char sp[SB_SHORT_PATH_SIZE];
	struct entry *probe = NULL;
	int fl;

	if (m->fd < 0 || (fl = fcntl(m->fd, F_GETFL)) < 0 || !(fl & O_PATH)) {
		/* nothing but an O_PATH fd: any other kind could make us wait on its owner */
		refuse(p, m->id, EACCES, 0, "uid %lu may not claim %s: %s", (unsigned long)c->uid,
		    kfmt(key), m->fd < 0 ? "a path key needs a proof (a symlink at the path)" :
		    "the proof is not a symlink (not an O_PATH fd)");
		return;
	}
	if (e == NULL && (e = probe = entry_new(key)) == NULL) {
		refuse(p, m->id, ENOMEM, 0, "out of memory");
		return;
	}
	entry_short_path(e, sp, sizeof(sp));
	entry_free(probe);
	if (pending_begin(p, m, key, sp, 0) == 0) {
		pendings->sock = m->fd2;	/* ADOPT: kept until the second pass */
		m->fd2 = -1;
	}
}

/*
 * A request by key alone (get, resolve, wait, release, BOUND) of a path key
 * that has a claim in a view other than the host's and none of the caller:
 * which one it means is what the caller's own view shows, the link at the
 * long path, read on the proof thread (a user's path: never here). 1 if a
 * lookup was started (or refused): the request is done again with its
 * outcome; 0 if the key needs none.
 */
static int
lookup_needed(struct peer *p, const struct sb_msg *m, const char *key, const struct outcome *po)
{
	if (po != NULL || !sb_key_is_path(key) || !entry_views_other(key, peer_cred(p)->uid))
		return 0;
	pending_begin(p, m, key, NULL, 0);
	return 1;
}

/*
 * The entry a request of c by key alone reaches: c's own, else the claim
 * the link in c's view stands for (po, after a lookup: its owner's claim,
 * as a bind judges it, else the view its target names; a client repoints
 * its proof link at its view's short path only after the reply), else the
 * host's (view 0), never a claim of another view by another uid; root may
 * release a key's only claim, whatever its view (an admin cleans up).
 */
static struct entry *
entry_for(const struct peer_cred *c, const char *key, const struct outcome *po, unsigned need)
{
	struct entry *e = entry_find_uid(key, c->uid);

	if (e == NULL && po != NULL && po->view >= 0 &&
	    (e = entry_find_uid(key, po->link_uid)) == NULL)
		e = entry_find_view(key, (unsigned)po->view);
	if (e == NULL && (po == NULL || po->view < 0))
		e = entry_find_view(key, 0);
	if (e == NULL && c->uid == 0 && need == RIGHT_OWN)
		e = entry_find_sole(key);
	return e;
}

static struct pending *
pending_take(struct pending **pp)
{
	struct pending *pd = *pp;

	*pp = pd->next;
	return pd;
}

/* A pending bind goes: the socket it kept (ADOPT) with it */
static void
pending_free(struct pending *pd)
{
	if (pd->sock >= 0)
		closer_close_uid(pd->sock, peer_cred(pd->p)->uid);
	if (pd->rootfd >= 0)
		close(pd->rootfd);	/* an O_PATH fd of a directory: no file system's close */
	free(pd);
}

void
request_proofs_poll(void)
{
	struct pending **pp, *pd;
	struct outcome o;
	struct sb_msg m;

	for (pp = &pendings; (pd = *pp) != NULL; ) {
		if (!proof_result(pd->job, &o)) {
			pp = &pd->next;
			continue;
		}
		pending_take(pp);
		proof_release(pd->job, 0);
		m.fd = -1;
		m.fd2 = pd->sock;
		pd->sock = -1;
		if (sb_msg_decode(&m, pd->buf, pd->len) == 0) {
			/* the root the proof was checked from, for proc_track */
			peer_root_lend(pd->p, &pd->rootfd);
			redo(pd->p, &m, &o, pd->waiting);
			peer_root_lend(NULL, NULL);
		}
		pd->sock = m.fd2;	/* unless the bind kept it */
		if (!pd->waiting)
			peer_proof_done(pd->p);
		pending_free(pd);
		/* redo may have changed the list (a waiter answered): from the top */
		pp = &pendings;
	}
}

void
request_proof_timeout(struct peer *p)
{
	const struct peer_cred *c = peer_cred(p);
	struct pending **pp, *pd;
	struct sb_msg m;

	for (pp = &pendings; (pd = *pp) != NULL; pp = &pd->next)
		if (pd->p == p && !pd->waiting)
			break;
	if (pd == NULL)
		return;
	pending_take(pp);
	proof_release(pd->job, 1);
	m.fd = m.fd2 = -1;
	if (sb_msg_decode(&m, pd->buf, pd->len) == 0)
		refuse(p, m.id, ETIMEDOUT, 0, "uid %lu %s %s: its file system did not answer "
		    "within %d ms", (unsigned long)c->uid, m.type == SB_MSG_BIND &&
		    !(sb_msg_u32(&m, SB_F_FLAGS, 0) & SB_BIND_BOUND) ? "may not claim" :
		    "cannot be told which claim of", kfmt(m.str[SB_F_KEY]), PROOF_DEADLINE_MS);
	pending_free(pd);
}

/* Forget p's pending job; stuck: it ran past p's deadline */
static void
pending_drop(struct peer *p, int stuck)
{
	struct pending **pp, *pd;

	for (pp = &pendings; (pd = *pp) != NULL; pp = &pd->next)
		if (pd->p == p) {
			pending_take(pp);
			proof_release(pd->job, stuck);
			pending_free(pd);
			return;
		}
}

void
request_peer_gone(struct peer *p)
{
	pending_drop(p, 0);
}

/* Socket type of a BIND, 0 after a refusal. */
static int
req_socktype(struct peer *p, const struct sb_msg *m, unsigned flags)
{
	int t = (int)sb_msg_u32(m, SB_F_SOCKTYPE, SOCK_STREAM);

	if (t != SOCK_STREAM && t != SOCK_SEQPACKET && t != SOCK_DGRAM) {
		refuse(p, m->id, EINVAL, 0, "socket type %d is not stream (%d), seqpacket (%d) "
		    "or dgram (%d)", t, SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM);
		return 0;
	}
	if (t == SOCK_DGRAM && (flags & SB_BIND_LISTEN)) {
		refuse(p, m->id, EINVAL, 0, "a dgram socket cannot listen");
		return 0;
	}
	return t;
}

/*
 * Make e's directory and, unless prepared, its socket (or bind the
 * client's, *adopt: ADOPT, taken if e holds it); reply; keep e.
 */
static int
bind_create(struct peer *p, const struct sb_msg *m, struct entry *e, int *adopt)
{
	char err[SB_MESSAGE_SIZE];
	int dirfd = -1, fd = -1, r;

	if ((r = entry_dir_make(e, e->uid, &dirfd, err, sizeof(err))) < 0) {
		refuse(p, m->id, -r, 0, "%s", err);
		return r;
	}
	if (adopt != NULL)
		r = entry_sock_adopt(e, dirfd, *adopt, err, sizeof(err));
	else if (!(e->flags & EF_PREPARED))
		r = entry_sock_make(e, dirfd, &fd, err, sizeof(err));
	if (r < 0) {
		refuse(p, m->id, -r, 0, "%s", err);
		goto fail;
	}
	if ((r = entry_dir_finish(e, dirfd)) < 0) {
		refuse(p, m->id, -r, 0, "unable to give the directory of %s to uid %lu: %s",
		    kfmt(e->key), (unsigned long)e->uid, strerror(-r));
		goto fail;
	}
	close(dirfd);
	dirfd = -1;
	if (e->lifetime == SB_LT_OWNER && e->proc == NULL && (r = proc_track(e, p)) < 0) {
		refuse(p, m->id, ESRCH, 0, "unable to track process %ld for %s: %s",
		    (long)e->pid, kfmt(e->key), strerror(-r));
		goto fail;
	}
	if (fd >= 0)
		e->flags |= EF_READY | (e->lifetime == SB_LT_HOLD ? EF_HELD : 0);
	if (adopt != NULL) {
		/* a datagram socket is ready once bound; others once BOUND (listening) */
		if (e->socktype == SOCK_DGRAM)
			e->flags |= EF_READY;
		if (e->lifetime == SB_LT_HOLD)
			e->flags |= EF_HELD;
	}
	if ((r = state_set(e)) < 0) {
		e->flags &= (uint8_t)~(EF_READY | EF_HELD);
		refuse_journal(p, m, e, r);
		goto fail;
	}
	entry_prepare_update(e);
	if (adopt != NULL && e->lifetime == SB_LT_HOLD) {
		e->fd = *adopt;		/* the client listens on it: the same socket */
		*adopt = -1;
		systemd_fdstore_add(e);
	}
	if (fd >= 0 && e->lifetime == SB_LT_HOLD) {
		e->fd = fd;
		systemd_fdstore_add(e);
	}
	reply_bind(p, m, e, fd);
	if (fd >= 0 && e->fd != fd)
		close(fd);
	if (e->flags & EF_READY)
		server_wake(e);
	if (e->prep_pending)
		server_prepares_arm();
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (dirfd >= 0)
		close(dirfd);
	proc_untrack(e);
	entry_files_remove(e);
	return r;
}

/*
 * Room for one more pending PREPARE of c? Refuses if not: a prepared
 * directory is its client's until BOUND (or --prepare-timeout).
 */
static int
prepare_ok(struct peer *p, const struct sb_msg *m, const char *key)
{
	const struct peer_cred *c = peer_cred(p);
	char who[96];
	unsigned n;

	if (c->uid == 0)
		return 1;
	if (prepares_nonroot() >= SB_PREPARES_MAX) {
		refuse(p, m->id, EAGAIN, SB_PREPARES_MAX, "uids other than root have %u prepared "
		    "entries not bound yet (the limit is %d); %s refused: try again later",
		    prepares_nonroot(), SB_PREPARES_MAX, kfmt(key));
		return 0;
	}
	if ((n = prepares_of(c->uid)) >= SB_PREPARES_PER_PERSON) {
		person_name(c->uid, who, sizeof(who));
		refuse(p, m->id, EAGAIN, SB_PREPARES_PER_PERSON, "%s has %u prepared entries not "
		    "bound yet (the limit is %d, each released after %u s, --prepare-timeout); "
		    "%s refused", who, n, SB_PREPARES_PER_PERSON, cfg.prepare_timeout_s, kfmt(key));
		return 0;
	}
	return 1;
}

/* The socket an ADOPT brings (after the proof, for a path key), or -1 */
static int *
adopt_sock(struct sb_msg *m)
{
	int *s = SB_HAS(m, SB_F_PROOF) ? &m->fd2 : &m->fd;

	return *s >= 0 ? s : NULL;
}

/*
 * May s be ADOPTed as a socket of type? An AF_UNIX socket of that type,
 * neither bound nor connected (nor listening). 0 after a refusal.
 */
static int
adopt_ok(struct peer *p, const struct sb_msg *m, int s, int type, const char *key)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(int), slen = sizeof(sa);
	struct stat st;
	int v;

	if (fstat(s, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		refuse(p, m->id, ENOTSOCK, 0, "the fd sent to adopt for %s is not a socket",
		    kfmt(key));
		return 0;
	}
	if (getsockopt(s, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || v != AF_UNIX) {
		refuse(p, m->id, EAFNOSUPPORT, 0, "the socket sent to adopt for %s is not "
		    "AF_UNIX", kfmt(key));
		return 0;
	}
	len = sizeof(int);
	if (getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != type) {
		refuse(p, m->id, EPROTOTYPE, 0, "the socket sent to adopt for %s is of type %d, "
		    "the request says %d", kfmt(key), v, type);
		return 0;
	}
	if (getsockname(s, (struct sockaddr *)&sa, &slen) < 0 || slen > sizeof(sa_family_t)) {
		refuse(p, m->id, EINVAL, 0, "the socket sent to adopt for %s is bound already",
		    kfmt(key));
		return 0;
	}
	slen = sizeof(sa);
	if (getpeername(s, (struct sockaddr *)&sa, &slen) == 0) {
		refuse(p, m->id, EISCONN, 0, "the socket sent to adopt for %s is connected",
		    kfmt(key));
		return 0;
	}
	return 1;
}

/* BIND of a key that has an entry. */
static void
bind_existing(struct peer *p, struct sb_msg *m, struct entry *e, unsigned flags, int type)
{
	const struct peer_cred *c = peer_cred(p);
	int r;

	if (!is_owner(c, e)) {
		if (rights(c, e) == 0)
			refuse(p, m->id, EACCES, 0, "uid %lu may not bind %s: the key is taken",
			    (unsigned long)c->uid, kfmt(e->key));
		else
			refuse(p, m->id, EACCES, 0, "uid %lu may not bind %s: it belongs to uid %lu",
			    (unsigned long)c->uid, kfmt(e->key), (unsigned long)e->uid);
		return;
	}
	if (e->kind != SB_KIND_SOCKET) {
		refuse(p, m->id, EADDRINUSE, 0, "%s holds an fd stored with put, not a socket",
		    kfmt(e->key));
		return;
	}
	if (SB_HAS(m, SB_F_SOCKTYPE) && type != e->socktype) {
		refuse(p, m->id, EADDRINUSE, 0, "%s is a socket of type %d, not %d", kfmt(e->key),
		    e->socktype, type);
		return;
	}
	if (e->lifetime == SB_LT_OWNER && e->proc != NULL && e->pid != c->pid) {
		refuse(p, m->id, EADDRINUSE, 0, "%s is in use by pid %ld", kfmt(e->key),
		    (long)e->pid);
		return;
	}
	if (e->lingering) {
		/* natively too: the socket file is there and a process serves on it */
		refuse(p, m->id, EADDRINUSE, 0, "%s is in use: pid %ld bound it and exited, "
		    "another process still holds its socket", kfmt(e->key), (long)e->pid);
		return;
	}
	if (e->fd >= 0 && e->adopted && (flags & SB_BIND_LISTEN) && !(e->flags & EF_LISTENING) &&
	    e->socktype != SOCK_DGRAM) {
		/* the broker's listen() would make it the peer connectors see */
		refuse(p, m->id, EINVAL, 0, "%s is a socket its client ADOPTed: the broker does not "
		    "listen on it; its process listens, then binds with BOUND", kfmt(e->key));
		return;
	}
	if (e->fd >= 0) {
		/* a restarted server gets its socket back, queue and all */
		if ((flags & SB_BIND_LISTEN) && !(e->flags & EF_LISTENING) &&
		    e->socktype != SOCK_DGRAM && listen(e->fd, SOMAXCONN) == 0) {
			e->flags |= EF_LISTENING;
			if ((r = state_set(e)) < 0) {
				refuse_journal(p, m, e, r);
				return;
			}
		}
		reply_bind(p, m, e, e->fd);
		return;
	}
	/* nothing held (prepared, or owner lifetime of this very process): again */
	if ((flags & SB_BIND_PREPARE) && !e->prep_counted && !prepare_ok(p, m, e->key))
		return;
	proc_untrack(e);
	e->pid = c->pid;
	e->flags = (uint8_t)((flags & (SB_BIND_PREPARE | SB_BIND_ADOPT)) ? EF_PREPARED :
	    ((flags & SB_BIND_LISTEN) ? EF_LISTENING : 0));
	e->adopted = (flags & SB_BIND_ADOPT) != 0;
	entry_prepare_update(e);
	if (bind_create(p, m, e, (flags & SB_BIND_ADOPT) ? adopt_sock(m) : NULL) < 0) {
		entry_destroy(e, "bind failed");
		return;
	}
}

/* BIND FLAGS=BOUND: the client bound its socket in a prepared directory. */
static void
bind_bound(struct peer *p, const struct sb_msg *m, const char *key, const struct outcome *po)
{
	char sp[SB_SHORT_PATH_SIZE];
	struct sockaddr_un sa;
	socklen_t salen = sizeof(sa);
	struct stat st;
	struct entry *e;
	int dirfd, fd = -1, r;
	uint8_t old;

	if (m->present & ~((UINT64_C(1) << SB_F_KEY) | (UINT64_C(1) << SB_F_FLAGS) |
	    (UINT64_C(1) << SB_F_HAS_FD))) {
		refuse(p, m->id, EINVAL, 0, "a BOUND bind carries only KEY and FLAGS");
		return;
	}
	if ((e = req_entry(p, m, key, RIGHT_OWN, "bind", po)) == NULL)
		return;
	entry_short_path(e, sp, sizeof(sp));
	if (!(e->flags & EF_PREPARED)) {
		refuse(p, m->id, EINVAL, 0, "%s was not prepared", kfmt(key));
		return;
	}
	/*
	 * An ADOPTed entry's directory was never the client's and its socket
	 * is the one the broker bound there (entry_dir_finish): nothing to
	 * check or take back. A prepared one's was the client's until now:
	 * never into a mount it made there.
	 */
	if (e->adopted)
		goto bound;
	if ((dirfd = entry_dir_open(e)) < 0 ||
	    stat_beneath(dirfd, SB_SOCK_NAME, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		if (dirfd >= 0)
			close(dirfd);
		refuse(p, m->id, ENOENT, 0, "no socket is bound at %s for %s", sp, kfmt(key));
		return;
	}
	/* bound: the directory is the broker's again, the client may not write there */
	if ((r = entry_dir_reclaim(e, dirfd)) < 0) {
		close(dirfd);
		refuse(p, m->id, -r, 0, "unable to take the directory of %s back: %s", kfmt(key),
		    strerror(-r));
		return;
	}
	close(dirfd);
bound:
	if (m->fd >= 0) {
		/* the client's own socket, to hold: it must be the one at sp */
		if (getsockname(m->fd, (struct sockaddr *)&sa, &salen) < 0 ||
		    sa.sun_family != AF_UNIX || salen <= offsetof(struct sockaddr_un, sun_path) ||
		    strncmp(sa.sun_path, sp, sizeof(sa.sun_path)) != 0) {
			refuse(p, m->id, EINVAL, 0, "the socket sent with BOUND is not bound at %s", sp);
			return;
		}
		if (e->lifetime == SB_LT_HOLD && e->fd < 0)
			fd = fcntl(m->fd, F_DUPFD_CLOEXEC, 0);
	}
	old = e->flags;
	e->flags |= EF_READY | (fd >= 0 ? EF_HELD : 0);
	if ((r = state_set(e)) < 0) {
		e->flags = old;
		if (fd >= 0)
			close(fd);	/* a dup: the client's copy is still open */
		refuse_journal(p, m, e, r);
		return;
	}
	if (fd >= 0) {
		e->fd = fd;
		systemd_fdstore_add(e);
	}
	entry_prepare_update(e);
	reply_bind(p, m, e, -1);
	server_wake(e);
}

/* BIND; po is NULL, or what the proof check of a path key said (second pass). */
static void
bind_request(struct peer *p, struct sb_msg *m, const struct outcome *po)
{
	const struct peer_cred *c = peer_cred(p);
	unsigned flags = sb_msg_u32(m, SB_F_FLAGS, 0);
	struct entry *e, *coll;
	const char *key;
	mode_t mode;
	gid_t gid;
	int type, lifetime, is_path, view;

	if ((key = req_key(p, m)) == NULL)
		return;
	if (flags & ~SB_BIND__ALL) {
		refuse(p, m->id, EINVAL, 0, "unknown bind flags 0x%x", flags & ~SB_BIND__ALL);
		return;
	}
	is_path = sb_key_is_path(key);
	if (m->fd2 >= 0 && !((flags & SB_BIND_ADOPT) && is_path)) {
		refuse(p, m->id, EINVAL, 0, "two fds go only with an ADOPT of a path key");
		return;
	}
	if (flags & SB_BIND_BOUND) {
		bind_bound(p, m, key, po);
		return;
	}
	if ((flags & SB_BIND_ADOPT) &&
	    (flags & (SB_BIND_LISTEN | SB_BIND_PREPARE | SB_BIND_BOUND))) {
		refuse(p, m->id, EINVAL, 0, "ADOPT goes without LISTEN, PREPARE or BOUND: the "
		    "client listens on its socket itself");
		return;
	}
	if ((type = req_socktype(p, m, flags)) == 0 || !req_mode_gid(p, m, &mode, &gid))
		return;
	lifetime = (int)sb_msg_u32(m, SB_F_LIFETIME, is_path ? SB_LT_OWNER : SB_LT_HOLD);
	if (lifetime != SB_LT_HOLD && lifetime != SB_LT_OWNER) {
		refuse(p, m->id, EINVAL, 0, "lifetime %d is not hold (1) or owner (2)", lifetime);
		return;
	}
	if ((int)SB_HAS(m, SB_F_PROOF) != is_path || sb_msg_u32(m, SB_F_PROOF, 1) != 1) {
		refuse(p, m->id, is_path ? EACCES : EINVAL, 0, is_path ? "uid %lu may not claim "
		    "%s: a path key needs PROOF=1 with a symlink at the path" : "uid %lu: %s is a "
		    "name: no proof goes with it", (unsigned long)c->uid, kfmt(key));
		return;
	}
	if ((e = entry_find(key, &coll)) == NULL && coll != NULL) {
		refuse(p, m->id, EEXIST, 0, "short path collision: %s and %s share %s/%.2s/%s",
		    kfmt(key), kfmt(coll->key), cfg.root, coll->id, coll->id + 2);
		return;
	}
	if ((flags & SB_BIND_ADOPT) && (is_path ? m->fd2 < 0 && po == NULL :
	    m->fd < 0)) {
		refuse(p, m->id, EINVAL, 0, "ADOPT of %s: no socket came with it (HAS_FD=%d: "
		    "the proof first, then the socket, for a path key)", kfmt(key), is_path ? 2 : 1);
		return;
	}
	/* checked once: what the client does to it meanwhile costs only its own bind */
	if ((flags & SB_BIND_ADOPT) && po == NULL && adopt_sock(m) != NULL &&
	    !adopt_ok(p, m, *adopt_sock(m), type, key))
		return;
	if (is_path && po == NULL) {
		proof_begin(p, m, key, e);	/* bind_request again once it is checked */
		return;
	}
	if (is_path && !po->ok) {
		refuse(p, m->id, EACCES, 0, "uid %lu may not claim %s: %s",
		    (unsigned long)c->uid, kfmt(key), po->why);
		return;
	}
	view = 0;
	if (is_path && (e != NULL || !po->host)) {
		/*
		 * The link proved in the caller's view decides which claim of
		 * the string this is: the one of the link's owner. Another
		 * uid's entry of the key was proved with another file (that
		 * uid's link), so in another view: this claim gets a view of
		 * its own, at a short path of its own (sockbrokerd(8), VIEWS).
		 * View 0 is the host's: only a link the broker sees at that
		 * path in its own view gets it, so that a request by key alone
		 * (which reaches view 0) never meets a claim made in a private
		 * view.
		 */
		if ((e = entry_find_uid(key, po->link_uid)) == NULL &&
		    (view = entry_view_free(key, po->host ? 0 : 1)) < 0) {
			refuse(p, m->id, EADDRINUSE, SB_VIEW_MAX + 1, "%s is claimed in every view "
			    "already (%d views, the limit)", kfmt(key), SB_VIEW_MAX + 1);
			return;
		}
	}
	if (e != NULL) {
		bind_existing(p, m, e, flags, type);
		return;
	}
	if (!quota_ok(p, m, key) || ((flags & SB_BIND_PREPARE) && !prepare_ok(p, m, key)))
		return;
	if ((flags & SB_BIND_ADOPT) && adopt_sock(m) == NULL) {
		refuse(p, m->id, EINVAL, 0, "ADOPT of %s: no socket came with it", kfmt(key));
		return;
	}
	if ((e = entry_new_view(key, (unsigned)view)) == NULL) {
		refuse(p, m->id, ENOMEM, 0, "out of memory");
		return;
	}
	e->kind = SB_KIND_SOCKET;
	e->socktype = (uint8_t)type;
	e->lifetime = (uint8_t)lifetime;
	e->uid = c->uid;
	e->gid = gid;
	e->pid = c->pid;
	e->mode = (uint16_t)mode;
	e->ctime = (int64_t)time(NULL);
	if (flags & (SB_BIND_PREPARE | SB_BIND_ADOPT))
		e->flags = EF_PREPARED;
	else if (flags & SB_BIND_LISTEN)
		e->flags = EF_LISTENING;
	e->adopted = (flags & SB_BIND_ADOPT) != 0;
	entry_insert(e);
	if (bind_create(p, m, e, (flags & SB_BIND_ADOPT) ? adopt_sock(m) : NULL) < 0) {
		entry_unlink(e);
		entry_free(e);
		return;
	}
	log_debug("bind %s by uid %lu pid %ld (view %u)", key, (unsigned long)c->uid,
	    (long)c->pid, e->view);
	server_stats_changed();
}

static void
get_request(struct peer *p, struct sb_msg *m, const struct outcome *po)
{
	char sp[SB_SHORT_PATH_SIZE];
	const char *key;
	struct entry *e;

	if ((key = req_key(p, m)) == NULL ||
	    (e = req_entry(p, m, key, RIGHT_GET, "get", po)) == NULL)
		return;
	if (e->fd < 0) {
		entry_short_path(e, sp, sizeof(sp));
		refuse(p, m->id, ENXIO, 0, "the broker holds no socket for %s (lifetime %s%s): "
		    "connect to %s", kfmt(key), e->lifetime == SB_LT_OWNER ? "owner" : "hold",
		    (e->flags & EF_READY) ? "" : ", not bound yet", sp);
		return;
	}
	reply_entry(p, m->id, e, e->fd);
}

static void
req_put(struct peer *p, struct sb_msg *m)
{
	const struct peer_cred *c = peer_cred(p);
	struct entry *e, *coll, *prev;
	int r;
	const char *key;
	mode_t mode;
	gid_t gid;

	if ((key = req_key(p, m)) == NULL || !req_mode_gid(p, m, &mode, &gid))
		return;
	if (sb_key_is_path(key)) {
		refuse(p, m->id, EINVAL, 0, "put takes a name, not a path: %s", kfmt(key));
		return;
	}
	if ((e = entry_find(key, &coll)) == NULL && coll != NULL) {
		refuse(p, m->id, EEXIST, 0, "short path collision: %s and %s", key, kfmt(coll->key));
		return;
	}
	if (e != NULL) {
		if (!is_owner(c, e)) {
			if (rights(c, e) == 0)
				refuse(p, m->id, EACCES, 0, "uid %lu may not put over %s: the key "
				    "is taken", (unsigned long)c->uid, key);
			else
				refuse(p, m->id, EACCES, 0, "uid %lu may not put over %s: it "
				    "belongs to uid %lu", (unsigned long)c->uid, key,
				    (unsigned long)e->uid);
			return;
		}
	} else if (!quota_ok(p, m, key))
		return;
	prev = e;
	if ((e = entry_new(key)) == NULL) {
		refuse(p, m->id, ENOMEM, 0, "out of memory");
		return;
	}
	e->kind = SB_KIND_FD;
	e->lifetime = SB_LT_HOLD;
	e->uid = c->uid;
	e->gid = gid;
	e->pid = c->pid;
	e->mode = (uint16_t)mode;
	e->ctime = (int64_t)time(NULL);
	e->flags = EF_HELD | EF_READY;
	/* the new entry replaces prev in the table, then in the journal (one SET) */
	if (prev != NULL) {
		server_entry_gone(prev);
		entry_unlink(prev);
	}
	entry_insert(e);
	if ((r = state_set(e)) < 0) {
		entry_unlink(e);
		if (prev != NULL)
			entry_insert(prev);
		refuse_journal(p, m, e, r);
		entry_free(e);
		return;
	}
	if (prev != NULL)
		entry_teardown(prev, "replaced by put");
	e->fd = m->fd;
	m->fd = -1;
	systemd_fdstore_add(e);
	reply_ok(p, m->id);
	server_wake(e);
	server_stats_changed();
}

static void
resolve_request(struct peer *p, struct sb_msg *m, const struct outcome *po)
{
	const char *key;
	struct entry *e;

	if ((key = req_key(p, m)) != NULL &&
	    (e = req_entry(p, m, key, RIGHT_CONNECT, "resolve", po)) != NULL)
		reply_entry(p, m->id, e, -1);
}

/* The entry of key a waiter c may be answered with now, or NULL */
static struct entry *
wait_ready(const struct peer_cred *c, const char *key, const struct outcome *po)
{
	struct entry *e = entry_for(c, key, po, RIGHT_CONNECT);

	/* an entry c has no right to is, for c, not there: wait on */
	return e != NULL && (e->flags & EF_READY) && may_use(c, e) ? e : NULL;
}

/* Is a claim of key ready that only the waiter's link can say is its own? */
static int
wait_other_ready(const struct peer_cred *c, const char *key)
{
	unsigned v;

	if (!sb_key_is_path(key) || !entry_views_other(key, c->uid))
		return 0;
	for (v = 1; v <= SB_VIEW_MAX; v++) {
		const struct entry *e = entry_find_view(key, v);

		if (e != NULL && (e->flags & EF_READY) && may_use(c, e))
			return 1;
	}
	return 0;
}

static int
pending_of(const struct peer *p)
{
	const struct pending *pd;

	for (pd = pendings; pd != NULL; pd = pd->next)
		if (pd->p == p)
			return 1;
	return 0;
}

int
request_wait_check(struct peer *p, uint32_t id, const char *key, int final)
{
	const struct peer_cred *c = peer_cred(p);
	struct entry *e = wait_ready(c, key, NULL);
	struct sb_msg m;

	if (e != NULL || final)
		pending_drop(p, final);	/* its lookup, if one runs: answered without it */
	if (e != NULL) {
		reply_entry(p, id, e, -1);
		return 1;
	}
	if (final) {
		refuse(p, id, ETIMEDOUT, 0, "%s did not appear in time", kfmt(key));
		return 1;
	}
	if (!pending_of(p) && wait_other_ready(c, key)) {
		/* another view's claim is ready: is it the one c's view shows? */
		sb_msg_init(&m, SB_MSG_WAIT, id);
		sb_msg_set_str(&m, SB_F_KEY, key);
		m.fd = -1;
		pending_begin(p, &m, key, NULL, 1);
	}
	return 0;
}

static void
wait_request(struct peer *p, struct sb_msg *m, const struct outcome *po, int waiting)
{
	const struct peer_cred *c = peer_cred(p);
	uint64_t t = sb_msg_u32(m, SB_F_TIMEOUT_MS, 0);
	const char *key;
	struct entry *e;

	if ((key = req_key(p, m)) == NULL)
		return;
	if (waiting) {
		/* the lookup of a waiter: answered if its view names a ready claim */
		if (peer_is_waiting(p) && (e = wait_ready(c, key, po)) != NULL) {
			reply_entry(p, m->id, e, -1);
			peer_wait_done(p);
		}
		return;
	}
	if (lookup_needed(p, m, key, po))
		return;
	if ((e = wait_ready(c, key, po)) != NULL) {
		reply_entry(p, m->id, e, -1);
		return;
	}
	if (t == 0) {
		refuse(p, m->id, ETIMEDOUT, 0, "%s did not appear in time", kfmt(key));
		return;
	}
	if (t > SB_WAIT_TIMEOUT_MAX_MS)
		t = SB_WAIT_TIMEOUT_MAX_MS;
	peer_wait(p, m->id, key, (uint32_t)t);
}

static void
release_request(struct peer *p, struct sb_msg *m, const struct outcome *po)
{
	const char *key;
	struct entry *e;
	int r;

	uint32_t flags = sb_msg_u32(m, SB_F_FLAGS, 0);

	if (flags & ~SB_RELEASE__ALL) {
		refuse(p, m->id, EINVAL, 0, "unknown release flags 0x%x", flags & ~SB_RELEASE__ALL);
		return;
	}
	if ((key = req_key(p, m)) == NULL || (e = req_entry(p, m, key, RIGHT_OWN, "release", po)) == NULL)
		return;
	if ((flags & SB_RELEASE_IF_OWNER) && e->lifetime == SB_LT_HOLD) {
		/* a server's unlink of a held socket: the socket stays for the next one */
		refuse(p, m->id, EBUSY, 0, "%s is held by the broker (lifetime hold): "
		    "sockbroker release releases it", kfmt(key));
		return;
	}
	if ((r = entry_release(e, "released")) < 0) {
		refuse_journal(p, m, e, r);
		return;
	}
	reply_ok(p, m->id);
}

static int
may_see(const struct peer_cred *c, const struct entry *e)
{
	return rights(c, e) != 0;
}

int
request_list_fill(struct peer *p, uint32_t id, struct entry **cursor, int room)
{
	const struct peer_cred *c = peer_cred(p);
	char sp[SB_SHORT_PATH_SIZE];
	struct entry *e;
	struct sb_msg m;

	for (e = *cursor; e != NULL && room > 0; e = e->next) {
		if (!may_see(c, e))
			continue;
		sb_msg_init(&m, SB_MSG_ENTRY, id);
		sb_msg_set_str(&m, SB_F_KEY, e->key);
		sb_msg_set_u32(&m, SB_F_KIND, e->kind);
		sb_msg_set_u32(&m, SB_F_UID, e->uid);
		/* the live owner: a hold entry's creator is not tracked, often gone */
		sb_msg_set_u32(&m, SB_F_PID, e->proc != NULL ? (uint32_t)e->pid : 0);
		sb_msg_set_u32(&m, SB_F_GID, e->gid);
		sb_msg_set_u32(&m, SB_F_MODE, e->mode);
		sb_msg_set_u32(&m, SB_F_LIFETIME, e->lifetime);
		sb_msg_set_u64(&m, SB_F_CTIME, (uint64_t)e->ctime);
		sb_msg_set_u32(&m, SB_F_HOLDERS, e->fd >= 0 ? 1 : 0);
		sb_msg_set_u32(&m, SB_F_LISTENING, (e->flags & EF_LISTENING) ? 1 : 0);
		if (e->kind == SB_KIND_SOCKET) {
			sb_msg_set_u32(&m, SB_F_SOCKTYPE, e->socktype);
			entry_short_path(e, sp, sizeof(sp));
			sb_msg_set_str(&m, SB_F_SHORT_PATH, sp);
		}
		peer_send(p, &m, -1);
		room--;
	}
	*cursor = e;
	if (e != NULL)
		return 0;
	sb_msg_init(&m, SB_MSG_END, id);
	peer_send(p, &m, -1);
	return 1;
}

static void
req_status(struct peer *p, struct sb_msg *m)
{
	uint32_t flags = sb_msg_u32(m, SB_F_FLAGS, 0);
	struct sb_msg r;

	sb_msg_init(&r, SB_MSG_OK, m->id);
	sb_msg_set_u32(&r, SB_F_VERSION_MIN, SB_PROTO_VERSION);
	sb_msg_set_u32(&r, SB_F_VERSION_MAX, SB_PROTO_VERSION);
	sb_msg_set_u32(&r, SB_F_ENTRIES, entries_total());
	sb_msg_set_u32(&r, SB_F_CLIENTS, server_clients());
	sb_msg_set_u64(&r, SB_F_UPTIME, server_uptime());
	sb_msg_set_u32(&r, SB_F_PID, (uint32_t)getpid());
	if (flags & ~SB_STATUS__ALL) {
		refuse(p, m->id, EINVAL, 0, "unknown status flags 0x%llx",
		    (unsigned long long)flags);
		return;
	}
	if (flags & SB_STATUS_DETAILS) {
		sb_msg_set_str(&r, SB_F_BROKER_VERSION, PACKAGE_VERSION);
		sb_msg_set_str(&r, SB_F_ROOT, cfg.root);
		sb_msg_set_u32(&r, SB_F_MAX_CLIENTS, cfg.max_clients);
		sb_msg_set_u32(&r, SB_F_MAX_CLIENTS_PER_UID, cfg.max_clients_per_uid);
		sb_msg_set_u32(&r, SB_F_MAX_ENTRIES, cfg.max_entries);
		sb_msg_set_u32(&r, SB_F_MAX_ENTRIES_PER_UID, cfg.max_entries_per_uid);
		sb_msg_set_u32(&r, SB_F_CLIENT_TIMEOUT_MS, cfg.client_timeout_ms);
	}
	peer_send(p, &r, -1);
}

static void
req_hello(struct peer *p, struct sb_msg *m)
{
	uint64_t lo = sb_msg_u32(m, SB_F_VERSION_MIN, SB_PROTO_VERSION);
	uint64_t hi = sb_msg_u32(m, SB_F_VERSION_MAX, SB_PROTO_VERSION);
	struct sb_msg r;

	if (lo > SB_PROTO_VERSION || hi < SB_PROTO_VERSION) {
		refuse(p, m->id, EPROTONOSUPPORT, 0, "the client speaks versions %llu to %llu, this "
		    "broker version %d", (unsigned long long)lo, (unsigned long long)hi,
		    SB_PROTO_VERSION);
		return;
	}
	sb_msg_init(&r, SB_MSG_OK, m->id);
	sb_msg_set_u32(&r, SB_F_VERSION_MIN, SB_PROTO_VERSION);
	sb_msg_set_u32(&r, SB_F_VERSION_MAX, SB_PROTO_VERSION);
	peer_send(p, &r, -1);
}

static void
req_reexec(struct peer *p, struct sb_msg *m)
{
	reply_ok(p, m->id);
	server_reexec_request();
}

static void
req_bind(struct peer *p, struct sb_msg *m)
{
	bind_request(p, m, NULL);
}

static void
req_get(struct peer *p, struct sb_msg *m)
{
	get_request(p, m, NULL);
}

static void
req_resolve(struct peer *p, struct sb_msg *m)
{
	resolve_request(p, m, NULL);
}

static void
req_wait(struct peer *p, struct sb_msg *m)
{
	wait_request(p, m, NULL, 0);
}

static void
req_release(struct peer *p, struct sb_msg *m)
{
	release_request(p, m, NULL);
}

/* A request again, with what its job on the proof thread found */
static void
redo(struct peer *p, struct sb_msg *m, const struct outcome *po, int waiting)
{
	switch (m->type) {
	case SB_MSG_BIND:
		bind_request(p, m, po);
		break;
	case SB_MSG_GET:
		get_request(p, m, po);
		break;
	case SB_MSG_RESOLVE:
		resolve_request(p, m, po);
		break;
	case SB_MSG_WAIT:
		wait_request(p, m, po, waiting);
		break;
	case SB_MSG_RELEASE:
		release_request(p, m, po);
		break;
	}
}

static void
req_list(struct peer *p, struct sb_msg *m)
{
	peer_list(p, m->id);
}

#define RQ_FD		0x1u	/* may come with an fd */
#define RQ_ADMIN	0x2u	/* root or the broker's own uid only */

/* Every request a client may send, what it may carry and who may send it. */
static const struct request_desc {
	uint16_t	 type;
	unsigned	 flags;
	void		(*handler)(struct peer *p, struct sb_msg *m);
} requests[] = {
	{ SB_MSG_HELLO,		0,		req_hello },
	{ SB_MSG_BIND,		RQ_FD,		req_bind },	/* a proof, BOUND's, ADOPT's */
	{ SB_MSG_GET,		0,		req_get },
	{ SB_MSG_PUT,		RQ_FD,		req_put },
	{ SB_MSG_RESOLVE,	0,		req_resolve },
	{ SB_MSG_WAIT,		0,		req_wait },
	{ SB_MSG_RELEASE,	0,		req_release },
	{ SB_MSG_LIST,		0,		req_list },
	{ SB_MSG_STATUS,	0,		req_status },
	{ SB_MSG_REEXEC,	RQ_ADMIN,	req_reexec },
};

static const struct request_desc *
request_lookup(uint16_t type)
{
	size_t i;

	for (i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
		if (requests[i].type == type)
			return &requests[i];
	return NULL;
}

void
request_dispatch(struct peer *p, struct sb_msg *m)
{
	const struct request_desc *rq = request_lookup(m->type);
	const struct peer_cred *c = peer_cred(p);

	if (m->fd >= 0 && (rq == NULL || !(rq->flags & RQ_FD)))
		refuse(p, m->id, EINVAL, 0, "a %s request takes no fd", sb_msg_type_name(m->type));
	else if (m->fd2 >= 0 && m->type != SB_MSG_BIND)
		refuse(p, m->id, EINVAL, 0, "a %s request takes one fd at most",
		    sb_msg_type_name(m->type));
	else if (rq == NULL)
		refuse(p, m->id, EPROTO, 0, "%s is not a request", sb_msg_type_name(m->type));
	else if ((rq->flags & RQ_ADMIN) && c->uid != 0 && c->uid != geteuid())
		/* REEXEC is the one admin request */
		refuse(p, m->id, EPERM, 0, "uid %lu may not re-execute the broker (root or uid %lu "
		    "only)", (unsigned long)c->uid, (unsigned long)geteuid());
	else
		rq->handler(p, m);
}

/* What server.c calls up into (main.c hands it to server_init) */
const struct server_ops request_ops = {
	.dispatch = request_dispatch,
	.wait_check = request_wait_check,
	.proofs_poll = request_proofs_poll,
	.proof_timeout = request_proof_timeout,
	.peer_gone = request_peer_gone,
	.list_fill = request_list_fill,
};
