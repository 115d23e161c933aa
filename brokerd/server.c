/* SPDX-License-Identifier: ISC */
/*
 * server.c: the event loop, the only file of the broker using libevent.
 *
 * The control socket, peers (one object per client connection, with its
 * credentials, a bounded output queue and one request in flight at a
 * time), waiters, list streams, signals and timers live here; request.c
 * decides what to answer, track.c watches the processes of owner entries
 * on this loop (server_event_base()).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "brokerd.h"
#include "closer.h"
#include "proof.h"
#include "sb-internal.h"
#include "sockbroker.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS	59
#endif

#define OUTQ_MAX	64	/* queued replies before a peer is dropped */
#define OUTQ_FDS_MAX	4	/* queued replies with an fd (each a dup we hold) */
#define LIST_ROOM	16	/* list entries queued at a time */
/*
 * Requests read from one peer per wakeup. One: a client with one request
 * in flight (every library call) then costs one recvmsg, not a second one
 * ending in EAGAIN; a client that pipelines is read again on the next turn
 * of the loop (epoll is level-triggered), after the other peers: bench/README.
 */
#define READ_BURST	1
#define GROUPS_MAX	65536

struct outmsg {
	struct outmsg	*next;
	int		 fd;
	size_t		 len;
	uint8_t		 buf[];
};

enum peer_state { P_IDLE, P_WAIT, P_LIST, P_PROOF, P_CLOSING };

struct peer {
	struct peer	*prev, *next;
	int		 fd;
	int		 dead;
	int		 hungup;	/* closed by the client: replies go nowhere */
	int		 arm_late;	/* just accepted: its read event waits for its first reply */
	enum peer_state	 state;
	struct peer_cred cred;
	struct event	*ev_read, *ev_write, *ev_close, *ev_timer;
	struct outmsg	*outq, *outq_tail;
	unsigned	 outq_len;
	uint32_t	 req_id;	/* of the pending WAIT or LIST */
	uint64_t	 active_ms;	/* P_IDLE: when its last request came (idle_ms()) */
	char		*wait_key;
	struct entry	*cursor;	/* next entry of a LIST */
};

static struct event_base *base;
static struct event	*ev_accept, *ev_accept_backoff, *ev_reap, *ev_drain, *ev_proof;
static struct peer	*reap_list;
static struct event	*ev_sigs[4], *ev_watchdog, *ev_status, *ev_idle, *ev_logflush;
static struct event	*ev_prepares, *ev_defer;
#define DEFER_MAX	4
static int		(*defer_steps[DEFER_MAX])(void);	/* the first runs */
static int		 ndefer;
static int		 control_fd = -1, control_made;
static const struct server_ops *up;	/* the layer above: request.c */
/* The type of the request being dispatched, for the log; NULL outside */
static const char	*cur_request;
static int		 spare_fd = -1;	/* given up to refuse a client when out of fds */
static int		 null_fd = -1;	/* /dev/null: what the spare becomes again */
static unsigned		 spare_waits;	/* EMFILE retries while the spare comes back */
static struct peer	*peers;
static unsigned		 npeers, nonroot_peers;
static int		 stopping, reexec_wanted, early_close;
static struct timespec	 start_time;
static uint8_t		 rbuf[SB_MSG_MAX];

static void	peer_read_cb(evutil_socket_t, short, void *);
static void	peer_set_state(struct peer *p, enum peer_state s);
static void	idle_check(void);

const struct peer_cred *
peer_cred(const struct peer *p)
{
	return &p->cred;
}

int
peer_sock(const struct peer *p)
{
	return p->fd;
}

unsigned
server_clients(void)
{
	return npeers;
}

uint64_t
server_uptime(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - start_time.tv_sec);
}

struct event_base *
server_event_base(void)
{
	return base;
}

/*
 * A coarse monotonic clock in ms (the vDSO, no syscall): an idle peer's
 * timer is armed once and moved on only when it fires, not re-armed on
 * each request (an event_add per GET, bench/README).
 */
static uint64_t
idle_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
timer_ms(struct event *ev, unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_add(ev, &tv);
}


/* Peers: teardown */

static void
peer_free(struct peer *p)
{
	struct outmsg *o;

	while ((o = p->outq) != NULL) {
		p->outq = o->next;
		closer_close_uid(o->fd, p->cred.uid);
		free(o);
	}
	event_free(p->ev_read);
	event_free(p->ev_write);
	event_free(p->ev_close);
	event_free(p->ev_timer);
	free(p->wait_key);
	free(p->cred.groups);
	free(p);
}

/* Drop p now (its socket is closed at once); the object is freed later. */
void
peer_drop(struct peer *p)
{
	unsigned *nuid;

	if (p->dead)
		return;
	up->peer_gone(p);	/* its proof check or lookup, if one is pending */
	p->dead = 1;
	event_del(p->ev_read);
	event_del(p->ev_write);
	event_del(p->ev_close);
	event_del(p->ev_timer);
	/* what it queued may carry fds whose last close lingers: drained there */
	closer_close_last(p->fd, p->cred.uid);
	p->fd = -1;
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		peers = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	npeers--;
	if (p->cred.uid != 0) {
		if ((nuid = uid_clients(p->cred.uid)) != NULL)	/* made by peer_new() */
			(*nuid)--;
		nonroot_peers--;
	}
	p->prev = NULL;
	p->next = reap_list;
	reap_list = p;
	event_active(ev_reap, 0, 0);
	log_debug("client pid %ld uid %lu gone", (long)p->cred.pid,
	    (unsigned long)p->cred.uid);
	server_stats_changed();
}

static void
reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p;

	while ((p = reap_list) != NULL) {
		reap_list = p->next;
		peer_free(p);
	}
	if (stopping && peers == NULL)
		event_base_loopbreak(base);
}

/* Peers: output */

/* 1 if sent, 0 if the peer's buffer is full (try later), or -errno. */
static int
peer_sendmsg(struct peer *p, const uint8_t *buf, size_t len, int fd)
{
	ssize_t n = sb_send_fd(p->fd, buf, len, fd, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n < 0)
		return n == -EAGAIN || n == -ENOBUFS ? 0 : (int)n;
	return 1;
}

/* Send what is queued; -errno if the peer is gone. */
static int
peer_flush(struct peer *p)
{
	struct outmsg *o;
	int r;

	while ((o = p->outq) != NULL) {
		if ((r = peer_sendmsg(p, o->buf, o->len, o->fd)) <= 0)
			return r;
		p->outq = o->next;
		if (p->outq == NULL)
			p->outq_tail = NULL;
		p->outq_len--;
		closer_close_uid(o->fd, p->cred.uid);
		free(o);
	}
	return 0;
}

/* Fds waiting in p's output queue: each is a dup the broker holds for it. */
static int
outq_fds(const struct peer *p)
{
	const struct outmsg *o;
	int n = 0;

	for (o = p->outq; o != NULL; o = o->next)
		n += o->fd >= 0;
	return n;
}

/* The client closed: its replies go nowhere; what it sent is still read. */
static void
peer_hangup(struct peer *p)
{
	struct outmsg *o;

	p->hungup = 1;
	while ((o = p->outq) != NULL) {
		p->outq = o->next;
		closer_close_uid(o->fd, p->cred.uid);
		free(o);
	}
	p->outq_tail = NULL;
	p->outq_len = 0;
	event_del(p->ev_write);
	if (p->state != P_IDLE)
		peer_drop(p);	/* a wait, a list, a close: nobody to answer */
}

void
peer_send(struct peer *p, const struct sb_msg *m, int fd)
{
	uint8_t buf[SB_MSG_MAX];
	struct outmsg *o;
	ssize_t len;
	int r;

	if (p->dead || p->hungup)
		return;
	if ((len = sb_msg_encode(m, buf, sizeof(buf))) < 0) {
		log_warn("unable to encode a %s reply: %s", sb_msg_type_name(m->type),
		    strerror((int)-len));
		peer_drop(p);
		return;
	}
	if (p->outq == NULL) {
		if ((r = peer_sendmsg(p, buf, (size_t)len, fd)) == 1)
			return;
		if (r == -EPIPE || r == -ECONNRESET) {
			/* what it sent before it closed is still read: then the end */
			peer_hangup(p);
			return;
		}
		if (r < 0) {
			peer_drop(p);
			return;
		}
	}
	if (fd >= 0 && outq_fds(p) >= OUTQ_FDS_MAX) {
		log_info("client pid %ld uid %lu does not read the fds it asked for (%d queued): dropped",
		    (long)p->cred.pid, (unsigned long)p->cred.uid, OUTQ_FDS_MAX);
		peer_drop(p);
		return;
	}
	if (p->outq_len >= OUTQ_MAX) {
		log_info("client pid %ld uid %lu does not read its replies (%d queued): dropped",
		    (long)p->cred.pid, (unsigned long)p->cred.uid, OUTQ_MAX);
		peer_drop(p);
		return;
	}
	if ((o = malloc(sizeof(*o) + (size_t)len)) == NULL) {
		peer_drop(p);
		return;
	}
	o->next = NULL;
	o->len = (size_t)len;
	memcpy(o->buf, buf, (size_t)len);
	o->fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	if (fd >= 0 && o->fd < 0) {
		free(o);
		peer_drop(p);
		return;
	}
	if (p->outq_tail != NULL)
		p->outq_tail->next = o;
	else
		p->outq = o;
	p->outq_tail = o;
	p->outq_len++;
	event_add(p->ev_write, NULL);
}

/* Continue a LIST while there is room in the output queue. */
static void
peer_list_more(struct peer *p)
{
	while (!p->dead && p->state == P_LIST && p->outq_len < LIST_ROOM / 2) {
		if (up->list_fill(p, p->req_id, &p->cursor, LIST_ROOM) == 1) {
			peer_set_state(p, P_IDLE);
			return;
		}
	}
}

static void
peer_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	int r;

	if ((r = peer_flush(p)) == -EPIPE || r == -ECONNRESET) {
		peer_hangup(p);
		return;
	}
	if (r < 0) {
		peer_drop(p);
		return;
	}
	if (p->outq != NULL)
		return;
	event_del(p->ev_write);
	if (p->state == P_CLOSING) {
		peer_drop(p);
		return;
	}
	if (p->state == P_LIST) {
		timer_ms(p->ev_timer, cfg.client_timeout_ms);
		peer_list_more(p);
	}
}

/* Peers: states */

/* Read nothing more from p for now; watch only for its close. */
static void
peer_read_aside(struct peer *p)
{
	event_del(p->ev_read);
	if (early_close)
		event_add(p->ev_close, NULL);
}

static void
peer_set_state(struct peer *p, enum peer_state s)
{
	if (p->dead)
		return;
	p->state = s;
	switch (s) {
	case P_IDLE:
		free(p->wait_key);
		p->wait_key = NULL;
		p->cursor = NULL;
		event_del(p->ev_close);
		if (stopping) {
			p->state = P_CLOSING;
			if (p->outq == NULL)
				peer_drop(p);
			return;
		}
		if (!p->arm_late)
			event_add(p->ev_read, NULL);
		p->active_ms = idle_ms();
		timer_ms(p->ev_timer, cfg.client_timeout_ms);
		break;
	case P_PROOF:
		/*
		 * Short (a deadline): the read event stays armed, and is set
		 * aside only if the client sends more or goes first
		 * (peer_read_cb), so a bind's proof costs no epoll_ctl pair.
		 */
		event_del(p->ev_timer);
		break;
	case P_WAIT:
	case P_LIST:
		peer_read_aside(p);
		event_del(p->ev_timer);
		break;
	case P_CLOSING:
		event_del(p->ev_read);
		event_del(p->ev_close);
		/* a client that never reads its last reply must not stay forever */
		timer_ms(p->ev_timer, cfg.client_timeout_ms);
		if (p->outq == NULL)
			peer_drop(p);
		break;
	}
}

void
peer_wait(struct peer *p, uint32_t id, const char *key, uint32_t timeout_ms)
{
	if ((p->wait_key = strdup(key)) == NULL) {
		refuse(p, id, ENOMEM, 0, "out of memory for a wait on %s", key);
		return;
	}
	p->req_id = id;
	peer_set_state(p, P_WAIT);
	timer_ms(p->ev_timer, timeout_ms);
}

/* p's request waits for a proof check (request.c), at most ms */
void
peer_proof_wait(struct peer *p, uint32_t id, unsigned ms)
{
	p->req_id = id;
	peer_set_state(p, P_PROOF);
	timer_ms(p->ev_timer, ms);
}

/* Does p still wait (for request.c's lookups of a waiter's link)? */
int
peer_is_waiting(const struct peer *p)
{
	return !p->dead && p->state == P_WAIT;
}

/* p's wait is answered (by request.c, after a lookup): take requests again */
void
peer_wait_done(struct peer *p)
{
	if (p->state == P_WAIT)
		peer_set_state(p, P_IDLE);
}

/* p's proof check is answered: take requests again */
void
peer_proof_done(struct peer *p)
{
	if (p->state == P_PROOF)
		peer_set_state(p, P_IDLE);
}

static void
proof_cb(evutil_socket_t fd, short what, void *arg)
{
	proof_event_clear();
	up->proofs_poll();
}

void
peer_list(struct peer *p, uint32_t id)
{
	p->req_id = id;
	p->cursor = entry_first();
	peer_set_state(p, P_LIST);
	timer_ms(p->ev_timer, cfg.client_timeout_ms);
	peer_list_more(p);
}

/* An entry became ready: answer its waiters. */
void
server_wake(const struct entry *e)
{
	struct peer *p, *next;

	for (p = peers; p != NULL; p = next) {
		next = p->next;
		if (p->state == P_WAIT && strcmp(p->wait_key, e->key) == 0 &&
		    up->wait_check(p, p->req_id, p->wait_key, 0))
			peer_set_state(p, P_IDLE);
	}
}

/* e is going away: move list cursors past it. */
void
server_entry_gone(struct entry *e)
{
	struct peer *p;

	for (p = peers; p != NULL; p = p->next)
		if (p->state == P_LIST && p->cursor == e)
			p->cursor = e->next;
}

static void
peer_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	uint64_t idle;

	if (p->state == P_WAIT) {
		up->wait_check(p, p->req_id, p->wait_key, 1);
		peer_set_state(p, P_IDLE);
		return;
	}
	if (p->state == P_PROOF) {
		up->proof_timeout(p);
		peer_set_state(p, P_IDLE);
		return;
	}
	if (p->state == P_IDLE && (idle = idle_ms() - p->active_ms) < cfg.client_timeout_ms) {
		/* it asked something since the timer was armed: the rest of its time */
		timer_ms(p->ev_timer, cfg.client_timeout_ms - (unsigned)idle);
		return;
	}
	/* replies still queued: it stopped reading, whatever its state */
	log_info("client pid %ld uid %lu %s for %u ms: dropped", (long)p->cred.pid,
	    (unsigned long)p->cred.uid, p->state == P_CLOSING || p->outq != NULL ?
	    "did not read its last reply" : "idle", cfg.client_timeout_ms);
	peer_drop(p);
}

static void
peer_close_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;

	log_debug("client pid %ld closed while its request was pending", (long)p->cred.pid);
	peer_drop(p);
}

/* Peers: input */

/* A message that is not a request we can take: answer, then close. */
static void __attribute__((format(printf, 4, 5)))
peer_protocol_error(struct peer *p, uint32_t id, int err, const char *fmt, ...)
{
	char msg[SB_MESSAGE_SIZE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_info("client pid %ld uid %lu: %s: dropped", (long)p->cred.pid,
	    (unsigned long)p->cred.uid, msg);
	refuse(p, id, err, 0, "%s", msg);
	peer_set_state(p, P_CLOSING);
}

static void
peer_read_one(struct peer *p, struct sb_msg *m, int r)
{
	char vbuf[128];

	if (r == -EPROTONOSUPPORT) {
		snprintf(vbuf, sizeof(vbuf), "protocol version %u is not supported: this broker speaks "
		    "version %d to %d", (unsigned)m->version, SB_PROTO_VERSION, SB_PROTO_VERSION);
		peer_protocol_error(p, m->id, EPROTONOSUPPORT, "%s", vbuf);
		return;
	}
	if (r == -EMSGSIZE) {
		peer_protocol_error(p, m->id, EMSGSIZE, "message over %d bytes (the limit)",
		    SB_MSG_MAX);
		return;
	}
	if (r == -EPROTO) {
		peer_protocol_error(p, m->id, EPROTO, "protocol error in a %s message: unknown "
		    "type, or a field unknown, repeated, malformed, not allowed or missing",
		    sb_msg_type_name(m->type));
		return;
	}
	if (r < 0) {
		peer_protocol_error(p, m->id, -r, "malformed message: bad magic or length, "
		    "a truncated field, or more than %d fds", SB_FDS_MAX);
		return;
	}
	if (!sb_msg_is_request(m->type)) {
		peer_protocol_error(p, m->id, EPROTO, "a reply (%s) is not a request",
		    sb_msg_type_name(m->type));
		return;
	}
	if (!sb_msg_fd_matches(m)) {
		peer_protocol_error(p, m->id, EBADMSG, "%s", m->fd >= 0 ?
		    "an fd came without HAS_FD=1" : "HAS_FD=1 but no fd came");
		return;
	}
	p->active_ms = idle_ms();	/* the idle timer moves on when it fires */
	/* a handler that keeps m->fd sets it to -1; peer_read_cb closes the rest */
	cur_request = sb_msg_type_name(m->type);
	up->dispatch(p, m);
	cur_request = NULL;
}

/* An fd of a message refused on receipt: its last close may block (closer.c) */
static void
peer_drop_fd(int fd, void *arg)
{
	const struct peer *p = arg;

	closer_close_uid(fd, p->cred.uid);
}

/* Read and handle p's next message: 1 if one was handled, 0 if none came. */
static int
peer_read_next(struct peer *p)
{
	struct sb_msg m;
	int r, reset = 0;

	for (;;) {
		r = sb_msg_recv_drop(p->fd, rbuf, sizeof(rbuf), &m, MSG_DONTWAIT, peer_drop_fd, p);
		if (r != -ECONNRESET || reset)
			break;
		/*
		 * A client that closed with replies unread (one it did not wait
		 * for) resets the connection, and the kernel reports that before
		 * the requests still queued: read on, they were sent before it
		 * went (the shim's RELEASE at unlink). End of file comes after.
		 */
		closer_close_uid(m.fd, p->cred.uid);
		closer_close_uid(m.fd2, p->cred.uid);
		reset = 1;
	}
	if (reset && r == -EAGAIN)
		r = -ECONNRESET;	/* no reset: an empty message, the client still there */
	if (r == -EAGAIN || r == -EINTR)
		return 0;
	if (r == -ECONNRESET || r == -ENOTCONN || r == -EPIPE) {
		closer_close_uid(m.fd, p->cred.uid);
		closer_close_uid(m.fd2, p->cred.uid);
		peer_drop(p);
		return 0;
	}
	if (m.fd >= 0 && p->cred.uid != 0 &&
	    closer_pending(p->cred.uid) >= CLOSER_PENDING_MAX) {
		/* its earlier fds are not closed yet (a close that hangs): no more */
		closer_close_uid(m.fd, p->cred.uid);
		closer_close_uid(m.fd2, p->cred.uid);
		peer_protocol_error(p, m.id, EAGAIN, "uid %lu has %u fds the broker could "
		    "not close yet (the limit is %d): try again later",
		    (unsigned long)p->cred.uid, closer_pending(p->cred.uid),
		    CLOSER_PENDING_MAX);
		return 1;
	}
	peer_read_one(p, &m, r);
	/* what no handler kept: its last close may block (see closer.c) */
	closer_close_uid(m.fd, p->cred.uid);
	closer_close_uid(m.fd2, p->cred.uid);
	/* a wait, a list or a proof for a client that went: nobody to answer */
	if (p->hungup && !p->dead && p->state != P_IDLE)
		peer_drop(p);
	return 1;
}

static void
peer_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	int i;

	if (p->state == P_PROOF && !p->dead) {
		/* more, or the end, while its proof runs: unread until it is answered */
		peer_read_aside(p);
		return;
	}
	for (i = 0; i < READ_BURST && !p->dead && p->state == P_IDLE; i++)
		if (!peer_read_next(p))
			return;
}

/*
 * Has process pid a connection still open? Its exit waits for them
 * (track.c): what it sent before it exited is read in the loop's turn,
 * like any client's, and comes first.
 */
int
server_pid_connected(pid_t pid)
{
	const struct peer *p;

	for (p = peers; p != NULL; p = p->next)
		if (p->cred.pid == pid)
			return 1;
	return 0;
}

/* Accepting */

static int
peer_creds(struct peer *p)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(p->fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	p->cred.uid = uc.uid;
	p->cred.gid = uc.gid;
	p->cred.pid = uc.pid;
	p->cred.ngroups = -1;	/* asked at the first check that needs them */
	return 0;
}

/*
 * The client's supplementary groups (SO_PEERGROUPS: the kernel keeps those
 * of connect time, whenever asked), at the first check that needs them:
 * most requests are a uid's own on its own entries, which never do, and a
 * get on a new connection was a getsockopt and an allocation more. Their
 * number, with *ret pointing at them; 0 if the kernel would not say now
 * (logged; asked again next time): no group, so nothing is allowed by one.
 */
int
peer_cred_groups(const struct peer_cred *c, const gid_t **ret)
{
	struct peer *p = (struct peer *)((char *)c - offsetof(struct peer, cred));
	socklen_t len = 64 * sizeof(gid_t);
	gid_t *g;

	while (p->cred.ngroups < 0) {
		if ((g = realloc(p->cred.groups, len)) == NULL) {
			log_warn("client pid %ld: no memory for its groups", (long)c->pid);
			return 0;
		}
		p->cred.groups = g;
		if (getsockopt(p->fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0)
			p->cred.ngroups = (int)(len / sizeof(gid_t));
		else if (errno != ERANGE || len > GROUPS_MAX * sizeof(gid_t)) {
			log_warn("client pid %ld: its groups: %s", (long)c->pid, strerror(errno));
			return 0;
		}
	}
	*ret = p->cred.groups;
	return p->cred.ngroups;
}


static void
logflush_cb(evutil_socket_t fd, short what, void *arg)
{
	log_refusals_flush();
}

void
server_refusal_dropped(void)
{
	struct timeval tv = { (time_t)log_refusals_window(), 0 };

	if (ev_logflush != NULL && !event_pending(ev_logflush, EV_TIMEOUT, NULL))
		event_add(ev_logflush, &tv);
}

/* Log a refusal of a connection (rate-limited, see log.c). */
static void
refusal(uid_t uid, pid_t pid, const char *what, int err, const char *msg)
{
	if (log_refusal(uid, pid, what, err, msg))
		server_refusal_dropped();
}

/*
 * Refuse a new connection with a message, without making a peer of it. Its
 * close drains what the client already sent on a closer thread (closer.c):
 * an AF_UNIX socket closed with unread data resets its peer, and the reset
 * is reported before the queued ERROR that says why; and what it sent may
 * carry fds whose last close lingers. A spare fd given up to accept it
 * comes back once it is closed (publish: &spare_fd), else publish is NULL.
 */
static void
accept_refuse(int fd, uid_t uid, int err, uint64_t limit, const char *msg, int *publish)
{
	struct sb_msg m;

	sb_msg_init(&m, SB_MSG_ERROR, 0);
	sb_msg_set_u32(&m, SB_F_ERRNO, (uint32_t)err);
	sb_msg_set_str(&m, SB_F_MESSAGE, msg);
	sb_msg_set_u64(&m, SB_F_LIMIT, limit);
	sb_msg_send(fd, &m, -1);
	if (publish != NULL)
		closer_replace_last(fd, uid, null_fd, publish);
	else
		closer_close_last(fd, uid);
}

/*
 * A peer of the accepted fd, or NULL (refused or out of memory: fd is taken
 * care of). arm_late: its read event is not added yet (peer_arm()).
 */
static struct peer *
peer_new(int fd, int arm_late)
{
	char msg[SB_MESSAGE_SIZE], who[96];
	struct peer *p;
	unsigned *nuid;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		closer_close_last(fd, CLOSER_FOREIGN);
		return NULL;
	}
	p->fd = fd;
	p->arm_late = arm_late;
	if (peer_creds(p) < 0) {
		closer_close_last(fd, CLOSER_FOREIGN);
		free(p->cred.groups);
		free(p);
		return NULL;
	}
	if ((nuid = uid_clients(p->cred.uid)) == NULL) {
		snprintf(msg, sizeof(msg), "the broker is out of memory");
		refusal(p->cred.uid, p->cred.pid, "connect", ENOMEM, msg);
		accept_refuse(fd, p->cred.uid, ENOMEM, 0, msg, NULL);
		free(p->cred.groups);
		free(p);
		return NULL;
	}
	if (npeers >= cfg.max_clients) {
		snprintf(msg, sizeof(msg), "the broker has %u clients: the limit is %u (--max-clients)",
		    npeers, cfg.max_clients);
		refusal(p->cred.uid, p->cred.pid, "connect", EUSERS, msg);
		accept_refuse(fd, p->cred.uid, EUSERS, cfg.max_clients, msg, NULL);
		free(p->cred.groups);
		free(p);
		return NULL;
	}
	if (p->cred.uid != 0 && nonroot_peers >= cfg.max_clients - ROOT_RESERVE(cfg.max_clients)) {
		snprintf(msg, sizeof(msg), "uids other than root have %u clients: they may have %u "
		    "of the %u (--max-clients), the rest is kept for root", nonroot_peers,
		    cfg.max_clients - ROOT_RESERVE(cfg.max_clients), cfg.max_clients);
		refusal(p->cred.uid, p->cred.pid, "connect", EUSERS, msg);
		accept_refuse(fd, p->cred.uid, EUSERS,
		    cfg.max_clients - ROOT_RESERVE(cfg.max_clients), msg, NULL);
		free(p->cred.groups);
		free(p);
		return NULL;
	}
	if (p->cred.uid != 0 && *nuid >= cfg.max_clients_per_uid) {
		person_name(p->cred.uid, who, sizeof(who));
		snprintf(msg, sizeof(msg), "%s has %u clients: the limit is %u "
		    "(--max-clients-per-uid)", who, *nuid, cfg.max_clients_per_uid);
		refusal(p->cred.uid, p->cred.pid, "connect", EUSERS, msg);
		accept_refuse(fd, p->cred.uid, EUSERS, cfg.max_clients_per_uid, msg, NULL);
		free(p->cred.groups);
		free(p);
		return NULL;
	}
	if (p->cred.uid != 0 && closer_pending(p->cred.uid) >= CLOSER_PENDING_MAX) {
		snprintf(msg, sizeof(msg), "uid %lu has %u fds the broker could not close yet "
		    "(the limit is %d): try again later", (unsigned long)p->cred.uid,
		    closer_pending(p->cred.uid), CLOSER_PENDING_MAX);
		refusal(p->cred.uid, p->cred.pid, "connect", EAGAIN, msg);
		accept_refuse(fd, p->cred.uid, EAGAIN, CLOSER_PENDING_MAX, msg, NULL);
		free(p->cred.groups);
		free(p);
		return NULL;
	}
	p->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, peer_read_cb, p);
	p->ev_write = event_new(base, fd, EV_WRITE | EV_PERSIST, peer_write_cb, p);
	p->ev_close = event_new(base, fd, EV_CLOSED | EV_PERSIST, peer_close_cb, p);
	p->ev_timer = evtimer_new(base, peer_timer_cb, p);
	if (!p->ev_read || !p->ev_write || !p->ev_close || !p->ev_timer) {
		/* its queue may hold fds whose close lingers (closer.c) */
		closer_close_last(fd, p->cred.uid);
		p->fd = -1;
		peer_free(p);
		return NULL;
	}
	if (p->cred.uid != 0) {
		(*nuid)++;
		nonroot_peers++;
	}
	npeers++;
	p->next = peers;
	if (peers != NULL)
		peers->prev = p;
	peers = p;
	log_debug("client pid %ld uid %lu gid %lu connected", (long)p->cred.pid,
	    (unsigned long)p->cred.uid, (unsigned long)p->cred.gid);
	peer_set_state(p, P_IDLE);
	server_stats_changed();
	return p;
}

/*
 * Out of fds: close the spare one to accept the next client and tell it
 * why it is refused, rather than leave it hanging in the backlog.
 */
static void
accept_out_of_fds(int lfd)
{
	char msg[SB_MESSAGE_SIZE];
	struct ucred uc;
	socklen_t len = sizeof(uc);
	struct rlimit rl;
	int s;

	spare_waits = 0;
	close(spare_fd);
	__atomic_store_n(&spare_fd, -1, __ATOMIC_RELEASE);
	s = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (s < 0) {
		spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return;
	}
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		uc.uid = CLOSER_FOREIGN;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		rl.rlim_cur = 0;
	snprintf(msg, sizeof(msg), "the broker is out of file descriptors (its limit is "
	    "%llu, RLIMIT_NOFILE): try again later", (unsigned long long)rl.rlim_cur);
	refusal((uid_t)-1, 0, "connect", EMFILE, msg);
	/*
	 * s is closed on a closer thread (what the client sent may linger),
	 * and its fd number then becomes the spare again: the fds the closer
	 * has yet to close never take the one the next refusal needs
	 */
	accept_refuse(s, uc.uid, EMFILE, (uint64_t)rl.rlim_cur, msg, &spare_fd);
}

/*
 * The read event of a peer made with arm_late, once its first request is
 * answered: its epoll_ctl is then no longer between a get on a new
 * connection and its reply. Armed where peer_set_state() would have left
 * it armed (idle, or its proof running: see P_PROOF).
 */
static void
peer_arm(struct peer *p)
{
	p->arm_late = 0;
	if (!p->dead && (p->state == P_IDLE || p->state == P_PROOF) &&
	    !event_pending(p->ev_read, EV_READ, NULL))
		event_add(p->ev_read, NULL);
}

static void
accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p;
	int i, s;

	for (i = 0; i < 32; i++) {
		s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s >= 0) {
			/*
			 * A client sends its first request right after connect(), so
			 * it is usually queued by now: read it at once rather than
			 * sleep in epoll_wait and be woken for it (a get on a new
			 * connection waited for that wakeup). If nothing is there
			 * yet, one recvmsg is lost. Only here: a peer adopted at a
			 * re-exec is read once the broker serves.
			 */
			if ((p = peer_new(s, 1)) != NULL) {
				peer_read_cb(s, EV_READ, p);
				peer_arm(p);
			}
			continue;
		}
		if (errno == EMFILE && __atomic_load_n(&spare_fd, __ATOMIC_ACQUIRE) >= 0) {
			accept_out_of_fds(fd);
			continue;
		}
		if (errno == EMFILE) {
			/*
			 * the spare is on its way back from the closer: 1 ms, then
			 * 100 ms after 100 tries (a drain stuck in a close)
			 */
			event_del(ev_accept);
			timer_ms(ev_accept_backoff, spare_waits++ < 100 ? 1 : 100);
			return;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			log_warn("unable to accept a client: %s: backing off for 100 ms",
			    strerror(errno));
			event_del(ev_accept);
			timer_ms(ev_accept_backoff, 100);
		}
		return;
	}
}

static void
accept_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	if (!stopping)
		event_add(ev_accept, NULL);
}

/* Signals, stop, watchdog, status */

static void
drain_cb(evutil_socket_t fd, short what, void *arg)
{
	log_info("clients did not read their replies within %d ms: stopping anyway",
	    SB_DEFAULT_DRAIN_MS);
	event_base_loopbreak(base);
}

static void
server_stop(const char *why)
{
	struct peer *p, *next;

	if (stopping)
		return;
	stopping = 1;
	log_info("%s: stopping", why);
	systemd_stopping();
	event_del(ev_accept);
	event_del(ev_accept_backoff);
	for (p = peers; p != NULL; p = next) {
		next = p->next;
		if (p->state == P_WAIT)
			refuse(p, p->req_id, ESHUTDOWN, 0, "the broker is stopping: wait for %s "
			    "cancelled", p->wait_key);
		peer_set_state(p, P_CLOSING);
	}
	if (peers == NULL)
		event_base_loopbreak(base);
	else
		timer_ms(ev_drain, SB_DEFAULT_DRAIN_MS);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	if (sig == SIGHUP) {
		server_reexec_request();
		return;
	}
	server_stop(sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

void
server_reexec_request(void)
{
	log_info("re-executing");
	reexec_wanted = 1;
	event_base_loopbreak(base);
}

static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	systemd_watchdog_ping();
}

static void
status_cb(evutil_socket_t fd, short what, void *arg)
{
	systemd_status(entries_total(), npeers);
}

void
server_stats_changed(void)
{
	if (ev_status != NULL && !event_pending(ev_status, EV_TIMEOUT, NULL))
		timer_ms(ev_status, 1000);
	idle_check();
}

/* The next PREPAREd entry not bound is due: release those whose time is up */
static void
prepares_cb(evutil_socket_t fd, short what, void *arg)
{
	long ms = entry_prepares_expire();

	if (ms >= 0)
		timer_ms(ev_prepares, (unsigned)ms + 1);
}

void
server_prepares_arm(void)
{
	/* the oldest is due within the timeout; the timer then finds when the next one is */
	if (ev_prepares != NULL && !event_pending(ev_prepares, EV_TIMEOUT, NULL))
		timer_ms(ev_prepares, cfg.prepare_timeout_s * 1000);
}

static void
idle_cb(evutil_socket_t fd, short what, void *arg)
{
	if (entries_total() == 0 && npeers == 0)
		server_stop("idle");
}

static void
idle_check(void)
{
	if (ev_idle == NULL || stopping)
		return;
	if (entries_total() == 0 && npeers == 0) {
		if (!event_pending(ev_idle, EV_TIMEOUT, NULL))
			timer_ms(ev_idle, cfg.idle_exit_s * 1000);
	} else
		event_del(ev_idle);
}

/* The control socket */

static int
control_bind(void)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd;

	if (fstatat(cfg.root_fd, SB_CONTROL_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISSOCK(st.st_mode))
			fatal("%s/%s exists and is not a socket: refusing to replace it",
			    cfg.root, SB_CONTROL_NAME);
		if (unlinkat(cfg.root_fd, SB_CONTROL_NAME, 0) < 0)
			fatal("unable to remove the stale %s/%s: %s", cfg.root, SB_CONTROL_NAME,
			    strerror(errno));
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fatal("unable to create the control socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", cfg.root, SB_CONTROL_NAME) >=
	    (int)sizeof(sa.sun_path))
		fatal("the root %s is too long for its control socket", cfg.root);
	/* 0666, the socket's own mode: the umask is every thread's */
	if (fchmod(fd, 0666) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fatal("unable to bind %s: %s", sa.sun_path, strerror(errno));
	if (listen(fd, SOMAXCONN) < 0)
		fatal("unable to listen on %s: %s", sa.sun_path, strerror(errno));
	control_made = 1;
	return fd;
}

int
server_control_fd(void)
{
	return control_fd;
}

/*
 * Refuse request id of p: log it (rate-limited, naming the request being
 * dispatched) and send ERROR err with the message (and the limit, if any).
 */
void
refuse(struct peer *p, uint32_t id, int err, uint64_t limit, const char *fmt, ...)
{
	char msg[SB_MESSAGE_SIZE];
	struct sb_msg m;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_refusal(peer_cred(p)->uid, peer_cred(p)->pid,
	    cur_request ? cur_request : "request", err, msg))
		server_refusal_dropped();
	sb_msg_init(&m, SB_MSG_ERROR, id);
	sb_msg_set_u32(&m, SB_F_ERRNO, (uint32_t)err);
	sb_msg_set_str(&m, SB_F_MESSAGE, msg);
	if (limit != 0)
		sb_msg_set_u64(&m, SB_F_LIMIT, limit);
	peer_send(p, &m, -1);
}

/*
 * Create the event base and the control socket (listening, not yet served);
 * ops is what the server calls up into.
 */
int
server_init(const struct server_ops *ops)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	size_t i;
	int r;

	up = ops;
	clock_gettime(CLOCK_MONOTONIC, &start_time);
	if ((r = closer_init()) < 0)
		fatal("unable to start the closer thread: %s", strerror(-r));
	if ((base = event_base_new()) == NULL)
		fatal("unable to create the event loop");
	early_close = (event_base_get_features(base) & EV_FEATURE_EARLY_CLOSE) != 0;
	if (cfg.control_fd >= 0) {
		control_fd = cfg.control_fd;
		if (fcntl(control_fd, F_SETFL, fcntl(control_fd, F_GETFL) | O_NONBLOCK) < 0 ||
		    fcntl(control_fd, F_SETFD, FD_CLOEXEC) < 0)
			fatal("unable to set up the inherited control socket: %s", strerror(errno));
	} else
		control_fd = control_bind();
	ev_accept = event_new(base, control_fd, EV_READ | EV_PERSIST, accept_cb, NULL);
	ev_accept_backoff = evtimer_new(base, accept_backoff_cb, NULL);
	if (spare_fd < 0 && (spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		fatal("unable to open /dev/null: %s", strerror(errno));
	if (null_fd < 0 && (null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		fatal("unable to open /dev/null: %s", strerror(errno));
	ev_reap = event_new(base, -1, 0, reap_cb, NULL);
	ev_drain = evtimer_new(base, drain_cb, NULL);
	ev_status = evtimer_new(base, status_cb, NULL);
	ev_logflush = evtimer_new(base, logflush_cb, NULL);
	ev_prepares = evtimer_new(base, prepares_cb, NULL);
	if (proof_event_fd() < 0)
		fatal("unable to make an eventfd: %s", strerror(errno));
	ev_proof = event_new(base, proof_event_fd(), EV_READ | EV_PERSIST, proof_cb, NULL);
	if (!ev_accept || !ev_accept_backoff || !ev_reap || !ev_drain || !ev_status || !ev_proof ||
	    !ev_logflush || !ev_prepares || event_add(ev_proof, NULL) < 0)
		fatal("unable to allocate events");
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		ev_sigs[i] = evsignal_new(base, sigs[i], signal_cb, NULL);
		if (ev_sigs[i] == NULL || event_add(ev_sigs[i], NULL) < 0)
			fatal("unable to handle signal %d", sigs[i]);
	}
	if (cfg.idle_exit_s > 0 && (ev_idle = evtimer_new(base, idle_cb, NULL)) == NULL)
		fatal("unable to allocate events");
	return 0;
}

/* Before a re-exec: send what can be sent, waiting a little for slow readers. */
static void
flush_all(void)
{
	struct pollfd pfd;
	struct peer *p;
	int i;

	for (p = peers; p != NULL; p = p->next)
		for (i = 0; i < 100 && !p->dead && p->outq != NULL; i++) {
			if (peer_flush(p) < 0)
				break;
			pfd.fd = p->fd;
			pfd.events = POLLOUT;
			pfd.revents = 0;
			if (p->outq != NULL)
				poll(&pfd, 1, 10);
		}
}

/*
 * A re-exec keeps every client connection that has no reply queued: idle
 * ones ("FD peer"; requests not read yet stay in their socket) and pending
 * waits ("FD wait HEXMSG"). Their lines go to the handover; the fds lose CLOEXEC.
 */
void
server_reexec_peers(void)
{
	struct timeval tv, now;
	struct peer *p;
	unsigned long ms;

	for (p = peers; p != NULL; p = p->next) {
		if (p->dead || p->outq != NULL)
			continue;
		if (p->state == P_IDLE) {
			fcntl(p->fd, F_SETFD, 0);
			reexec_put(p->fd, "peer", NULL);
		} else if (p->state == P_WAIT) {
			ms = 0;
			if (event_pending(p->ev_timer, EV_TIMEOUT, &tv)) {
				evutil_gettimeofday(&now, NULL);
				if (timercmp(&tv, &now, >)) {
					timersub(&tv, &now, &tv);
					ms = (unsigned long)tv.tv_sec * 1000 +
					    (unsigned long)tv.tv_usec / 1000;
				}
			}
			/* a wait that cannot be written closes with the exec */
			if (reexec_put_wait(p->fd, p->req_id, ms, p->wait_key) == 0)
				fcntl(p->fd, F_SETFD, 0);
		}
	}
}

/* The re-exec failed: the peers are ours again. */
void
server_reexec_failed(void)
{
	struct peer *p;

	for (p = peers; p != NULL; p = p->next)
		if (!p->dead)
			fcntl(p->fd, F_SETFD, FD_CLOEXEC);
}

/* Take over a client connection of the previous image (arg: its wait). */
void
server_adopt_peer(int fd, const char *arg)
{
	char key[SB_KEY_MAX + 1];
	unsigned long ms;
	uint32_t id;

	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		close(fd);
		return;
	}
	peer_new(fd, 0);
	if (arg == NULL || peers == NULL || peers->fd != fd)
		return;
	if (reexec_parse_wait(arg, &id, &ms, key) < 0 || sb_key_check(key) < 0 ||
	    ms > SB_WAIT_TIMEOUT_MAX_MS) {
		peer_drop(peers);
		return;
	}
	if (!up->wait_check(peers, id, key, 0))
		peer_wait(peers, id, key, ms > 0 ? (uint32_t)ms : 1);
}

/* Start serving: accept, arm the watchdog, say that the broker is ready. */
void
server_start(void)
{
	uint64_t wd;
	char nl = '\n';

	if (event_add(ev_accept, NULL) < 0)
		fatal("unable to watch the control socket");
	if ((wd = systemd_watchdog_usec()) > 0) {
		struct timeval tv = { (time_t)(wd / 2 / 1000000), (suseconds_t)(wd / 2 % 1000000) };

		ev_watchdog = event_new(base, -1, EV_PERSIST, watchdog_cb, NULL);
		if (ev_watchdog == NULL || event_add(ev_watchdog, &tv) < 0)
			fatal("unable to arm the watchdog timer");
	}
	idle_check();
	server_prepares_arm();	/* prepared entries of the journal */
	log_info("ready on %s/%s: %u entries", cfg.root, SB_CONTROL_NAME, entries_total());
	if (cfg.ready_fd >= 0) {
		/*
		 * Close the readiness fd by putting /dev/null in its place: the
		 * reader sees the newline and EOF, and the broker's fd count
		 * does not change once it has announced readiness.
		 */
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (write(cfg.ready_fd, &nl, 1) < 0)
			log_warn("unable to write to the readiness fd %d: %s", cfg.ready_fd,
			    strerror(errno));
		if (null < 0 || dup3(null, cfg.ready_fd, O_CLOEXEC) < 0)
			close(cfg.ready_fd);
		if (null >= 0)
			close(null);
		cfg.ready_fd = -1;
	}
	systemd_ready();
	systemd_status(entries_total(), npeers);
}

/* One step of the first deferred work; that work leaves the queue when it is done. */
static void
defer_run(void)
{
	if (!defer_steps[0]())
		memmove(defer_steps, defer_steps + 1, (size_t)--ndefer * sizeof(defer_steps[0]));
}

static void
defer_cb(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval now = { 0, 0 };

	if (ndefer > 0)
		defer_run();
	if (ndefer > 0 && event_add(ev_defer, &now) < 0)
		while (ndefer > 0)
			defer_run();
}

/*
 * Work that waits until the broker serves: step() once per turn of the
 * event loop, between the requests, until it returns 0 (then the next
 * such work). Without an event for it, it all runs now.
 */
void
server_defer(int (*step)(void))
{
	static const struct timeval now = { 0, 0 };

	if (ndefer < DEFER_MAX &&
	    (ev_defer != NULL || (ev_defer = evtimer_new(base, defer_cb, NULL)) != NULL) &&
	    event_add(ev_defer, &now) == 0) {
		defer_steps[ndefer++] = step;
		return;
	}
	while (step())
		;
}

/*
 * Serve until stopped (0) or until a re-exec is asked for (1: the output
 * queues are flushed; the caller re-executes, and calls this again if that
 * failed).
 */
int
server_run(void)
{
	if (event_base_dispatch(base) < 0)
		fatal("the event loop failed");
	if (!reexec_wanted || stopping)
		return 0;
	reexec_wanted = 0;
	flush_all();
	return 1;
}

/* Stopped: remove the control socket this broker made. */
void
server_remove_control(void)
{
	if (control_made && cfg.control_fd < 0)
		unlinkat(cfg.root_fd, SB_CONTROL_NAME, 0);
}
