/* SPDX-License-Identifier: ISC */
/*
 * client.c: libsockbroker, the client side of the sockbroker protocol.
 *
 * One connection per client object, one request at a time (a mutex), one
 * reply per request (LIST: entries then END). Every system call on a socket
 * or a link goes through sb_io, so that the LD_PRELOAD shim, which links
 * this file too, never calls back into its own wrappers.
 *
 * A connection that fails in the middle of a conversation is closed and
 * made again at the next call; so is one inherited across fork(), since
 * the broker knows a peer by the pid that connected. A request is sent
 * again on a new connection only when it could not be sent at all.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "sb-internal.h"
#include "sb-proto.h"
#include "sockbroker.h"

/*
 * The public constants (sockbroker.h) go on the wire as they are: each must
 * equal its twin in sb-proto.h.
 */
_Static_assert(SB_BIND_F_LISTEN == SB_BIND_LISTEN, "bind flags");
_Static_assert(SB_BIND_F_PREPARE == SB_BIND_PREPARE, "bind flags");
_Static_assert(SB_BIND_F_BOUND == SB_BIND_BOUND, "bind flags");
_Static_assert((int)SB_LIFETIME_HOLD == (int)SB_LT_HOLD, "lifetimes");
_Static_assert((int)SB_LIFETIME_OWNER == (int)SB_LT_OWNER, "lifetimes");
_Static_assert((int)SB_KIND_SOCKET_ENTRY == (int)SB_KIND_SOCKET, "kinds");
_Static_assert((int)SB_KIND_FD_ENTRY == (int)SB_KIND_FD, "kinds");
_Static_assert(SB_NAME_LEN_MAX == SB_NAME_MAX, "name key length");
_Static_assert(SB_PATH_LEN_MAX == SB_PATH_KEY_MAX, "path key length");

struct sb_client {
	pthread_mutex_t	 lock;
	int		 fd;		/* control connection, or -1 to reconnect */
	pid_t		 pid;		/* process that made the connection */
	unsigned	 flags;		/* SB_OPEN_* */
	dev_t		 dev;		/* of the connection, to notice that */
	ino_t		 ino;		/* a program closed and reused its fd */
	unsigned	 deadline_ms;	/* SO_SNDTIMEO/SO_RCVTIMEO, 0: none */
	uint32_t	 next_id;
	/* requests sent without waiting (oldest first): their replies are dropped */
	uint32_t	 async_ids[SB_ASYNC_MAX];
	unsigned	 async_head, nasync;
	uint64_t	 limit;		/* of the last refused request */
	int		 lifetime;	/* of the last bind's entry, 0: not said */
	int		 no_say;	/* the broker knows no SB_BIND_SAY_LIFETIME */
	char		 root[SB_SHORT_PATH_SIZE];
	char		 message[SB_MESSAGE_SIZE];
	uint8_t		 buf[SB_MSG_MAX];	/* replies are decoded in place */
};

/* Connection */

/*
 * Connect to ROOT/control; returns the fd or a negative errno. With a
 * deadline, connect (a full backlog), every send and every receive on the
 * connection give up after deadline_ms: -ETIMEDOUT.
 */
static int
connect_root(const char *root, unsigned deadline_ms)
{
	struct timeval tv = { (time_t)(deadline_ms / 1000), (suseconds_t)(deadline_ms % 1000) * 1000 };
	struct sockaddr_un sun;
	socklen_t len;
	int fd, r;

	if ((r = sb_control_addr(root, &sun, &len)) < 0)
		return r;
	fd = sb_io->socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (deadline_ms > 0 &&
	    (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)) {
		r = -errno;
		sb_io->close(fd);
		return r;
	}
	do
		r = sb_io->connect(fd, (const struct sockaddr *)&sun, len);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = errno == EAGAIN && deadline_ms > 0 ? -ETIMEDOUT : -errno;
		sb_io->close(fd);
		return r;
	}
	return fd;
}

/* Is c->fd still the connection this client made (same dev/ino)? */
static int
client_fd_ours(const sb_client *c)
{
	struct stat st;

	return c->fd >= 0 && fstat(c->fd, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino;
}

/* Close the connection, if the fd is still ours (never a program's file). */
static void
client_disconnect(sb_client *c)
{
	if (client_fd_ours(c))
		sb_io->close(c->fd);
	c->fd = -1;
	c->nasync = 0;		/* their replies went with the connection */
	c->async_head = 0;
	c->no_say = 0;		/* the next connection may reach another broker */
}

/* Make sure c has a connection of this process (pid, the caller's getpid()). */
static int
client_connect_pid(sb_client *c, pid_t pid)
{
	struct stat st;
	int fd, r;

	/*
	 * The program may have closed our fd (a close-all loop, closefrom in
	 * a child after fork) and the number may be another file now: forget
	 * it, never close it. An inherited connection that is still ours is
	 * closed: the broker knows a peer by the pid that connected.
	 */
	if (c->fd >= 0 && !client_fd_ours(c))
		c->fd = -1;
	if (c->fd >= 0 && c->pid == pid)
		return 0;
	client_disconnect(c);
	fd = connect_root(c->root, c->deadline_ms);
	if ((fd == -ENOENT || fd == -ECONNREFUSED) && sb_autostart_allowed(c->flags) &&
	    sb_autostart(c->root) == 0)
		fd = connect_root(c->root, c->deadline_ms);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		sb_io->close(fd);
		return r;
	}
	c->fd = fd;
	c->pid = pid;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	return 0;
}

static int
client_connect(sb_client *c)
{
	return client_connect_pid(c, getpid());
}

/* Was the request not delivered because the broker had closed the connection? */
static int
send_failed_closed(int r)
{
	return r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN || r == -ECONNREFUSED;
}

static int client_error(sb_client *c, struct sb_msg *rep);

/*
 * A send failed because the broker closed the connection: if it said why
 * (it refuses a connection over a client cap with an ERROR of id 0), that
 * is the error; otherwise r.
 */
static int
client_refusal(sb_client *c, int r)
{
	struct sb_msg rep;
	int i, q;

	if (c->fd < 0 || !send_failed_closed(r))
		return r;
	/* if our request went unread, ECONNRESET comes before the message */
	for (i = 0; i < 2; i++) {
		q = sb_msg_recv(c->fd, c->buf, sizeof(c->buf), &rep, MSG_DONTWAIT);
		if (q == 0 && rep.type == SB_MSG_ERROR && rep.id == 0)
			return client_error(c, &rep);
		if (rep.fd >= 0)
			sb_io->close(rep.fd);
		if (rep.fd2 >= 0)
			sb_io->close(rep.fd2);
		if (q != -ECONNRESET)
			break;
	}
	return r;
}

/* Send req (with fd, then fd2, attached if >= 0) under a fresh id. */
static int
client_send2(sb_client *c, struct sb_msg *req, int fd, int fd2)
{
	pid_t pid = getpid();	/* once per request: it is a system call */
	int fresh, r;

	c->message[0] = '\0';
	c->limit = 0;
	fresh = c->fd < 0 || c->pid != pid;
	if ((r = client_connect_pid(c, pid)) < 0)
		return r;
	if (++c->next_id == 0)
		c->next_id = 1;		/* 0 is the id of a refusal at connect */
	req->id = c->next_id;
	r = sb_msg_send2(c->fd, req, fd, fd2);
	if (r == -EAGAIN && c->deadline_ms > 0)
		r = -ETIMEDOUT;
	if (r < 0 && !fresh && send_failed_closed(r)) {
		/* an idle connection the broker dropped: it never saw this request */
		client_disconnect(c);
		if ((r = client_connect(c)) < 0)
			return r;
		r = sb_msg_send2(c->fd, req, fd, fd2);
	}
	if (r < 0) {
		r = client_refusal(c, r);
		client_disconnect(c);
	}
	return r;
}

static int
client_send(sb_client *c, struct sb_msg *req, int fd)
{
	return client_send2(c, req, fd, -1);
}

/*
 * Receive the next message of the reply to req. On a transport or protocol
 * failure the connection is dropped (it may be out of step) and any fd
 * that came with the message is closed.
 */
static int
client_recv(sb_client *c, const struct sb_msg *req, struct sb_msg *rep)
{
	int r;

	for (;;) {
		r = sb_msg_recv(c->fd, c->buf, sizeof(c->buf), rep, 0);
		if (r != 0 || c->nasync == 0 || rep->id != c->async_ids[c->async_head])
			break;
		/* the reply to a request sent without waiting (the broker answers in order) */
		if (rep->fd >= 0)
			sb_io->close(rep->fd);
		c->async_head = (c->async_head + 1) % SB_ASYNC_MAX;
		c->nasync--;
	}
	if (r == -EAGAIN && c->deadline_ms > 0)
		r = -ETIMEDOUT;		/* SO_RCVTIMEO: the broker did not answer in time */
	if (r == -ECONNRESET)
		r = client_refusal(c, r);
	if (r == 0 && rep->fd2 >= 0) {
		sb_io->close(rep->fd2);		/* no reply carries two */
		rep->fd2 = -1;
		r = -EPROTO;
	}
	/* id 0: the broker refused the connection itself (a client cap) */
	if (r == 0 && rep->id != req->id && !(rep->id == 0 && rep->type == SB_MSG_ERROR))
		r = -EPROTO;
	if (r < 0) {
		if (rep->fd >= 0)
			sb_io->close(rep->fd);
		rep->fd = -1;
		client_disconnect(c);
	}
	return r;
}

/* Turn an ERROR reply into a negative errno, keeping its message and limit. */
static int
client_error(sb_client *c, struct sb_msg *rep)
{
	uint64_t e = sb_msg_u32(rep, SB_F_ERRNO, 0);

	if (SB_HAS(rep, SB_F_MESSAGE))
		snprintf(c->message, sizeof(c->message), "%s", rep->str[SB_F_MESSAGE]);
	if (SB_HAS(rep, SB_F_LIMIT))
		c->limit = sb_msg_u64(rep, SB_F_LIMIT, 0);
	if (rep->fd >= 0) {
		sb_io->close(rep->fd);
		rep->fd = -1;
	}
	if (e == 0 || e > 4095)
		return -EPROTO;
	return -(int)e;
}

/*
 * One request, one reply (OK or ERROR). If want_fd, an fd is accepted with
 * the OK (HAS_FD=1 and the fd must agree) and left in rep->fd; otherwise an
 * attached fd is a protocol error. Returns 0 with rep an OK, or a negative
 * errno.
 */
static int
client_call2(sb_client *c, struct sb_msg *req, int fd, int fd2, struct sb_msg *rep, int want_fd)
{
	int r;

	if ((r = client_send2(c, req, fd, fd2)) < 0)
		return r;
	if ((r = client_recv(c, req, rep)) < 0)
		return r;
	if (rep->type == SB_MSG_ERROR)
		return client_error(c, rep);
	if (rep->type != SB_MSG_OK || !sb_msg_fd_matches(rep) || (rep->fd >= 0 && !want_fd)) {
		if (rep->fd >= 0)
			sb_io->close(rep->fd);
		rep->fd = -1;
		client_disconnect(c);
		return -EPROTO;
	}
	return 0;
}

static int
client_call(sb_client *c, struct sb_msg *req, int fd, struct sb_msg *rep, int want_fd)
{
	return client_call2(c, req, fd, -1, rep, want_fd);
}

/* Copy the SHORT_PATH of rep (or "" if it has none) to buf. */
static int
copy_short_path(const struct sb_msg *rep, char *buf, size_t size)
{
	const char *s = SB_HAS(rep, SB_F_SHORT_PATH) ? rep->str[SB_F_SHORT_PATH] : "";

	if (buf == NULL)
		return 0;
	if (strlen(s) >= size)
		return -ENOBUFS;
	strcpy(buf, s);
	return 0;
}

static void
client_lock(sb_client *c)
{
	pthread_mutex_lock(&c->lock);
}

static void
client_unlock(sb_client *c)
{
	pthread_mutex_unlock(&c->lock);
}

/* Public: clients */

int
sb_client_open(const char *root, sb_client **ret_client)
{
	return sb_client_open_flags(root, 0, ret_client);
}

int
sb_client_open_flags(const char *root, unsigned flags, sb_client **ret_client)
{
	char rootbuf[SB_SHORT_PATH_SIZE];
	sb_client *c;
	size_t n;
	int r;

	if (ret_client == NULL || (flags & ~(SB_OPEN_NO_AUTOSTART | SB_OPEN_DEADLINE)) != 0)
		return -EINVAL;
	if ((r = sb_root_get(root, rootbuf, &root, &n)) < 0)
		return r;
	if (n >= sizeof(c->root))
		return -ENAMETOOLONG;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	memcpy(c->root, root, n);
	c->root[n] = '\0';
	c->fd = -1;
	c->flags = flags & SB_OPEN_NO_AUTOSTART;
	c->deadline_ms = (flags & SB_OPEN_DEADLINE) ? SB_SHIM_DEADLINE_MS : 0;
	if ((r = pthread_mutex_init(&c->lock, NULL)) != 0) {
		free(c);
		return -r;
	}
	if ((r = client_connect(c)) < 0) {
		pthread_mutex_destroy(&c->lock);
		free(c);
		return r;
	}
	*ret_client = c;
	return 0;
}

void
sb_client_close(sb_client *c)
{
	if (c == NULL)
		return;
	client_disconnect(c);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

const char *
sb_client_message(sb_client *c)
{
	return c != NULL ? c->message : "";
}

uint64_t
sb_client_limit(sb_client *c)
{
	return c != NULL ? c->limit : 0;
}

int
sb_client_lifetime(sb_client *c)
{
	return c != NULL ? c->lifetime : 0;
}

/* Path keys: the symlink at the key that proves the caller may create it */

/*
 * Split a path key into its directory (opened O_PATH) and its last
 * component. Returns the directory fd or a negative errno.
 */
static int
key_dir_open(const char *key, const char **ret_base)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(key, '/');
	size_t n = (size_t)(slash - key);
	int dfd;

	if (n == 0)
		n = 1;		/* the directory is "/" */
	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, key, n);
	dir[n] = '\0';
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	*ret_base = slash + 1;
	return dfd;
}

/* Does dfd/base exist as a symlink pointing at target? 1, 0, or -errno. */
static int
link_points_at(int dfd, const char *base, const char *target)
{
	char buf[SB_SHORT_PATH_SIZE + 1];
	ssize_t n;

	n = readlinkat(dfd, base, buf, sizeof(buf));
	if (n < 0)
		return errno == EINVAL ? 0 : -errno;	/* EINVAL: not a symlink */
	return (size_t)n == strlen(target) && memcmp(buf, target, (size_t)n) == 0;
}

/*
 * Make dfd/base a symlink to target with the caller's rights. An existing
 * link to target is reused (*ret_made 0); another symlink is replaced
 * atomically; anything else is -EADDRINUSE.
 */
static int
link_make(int dfd, const char *base, const char *target, int *ret_made)
{
	static unsigned counter;
	char tmp[64];
	struct stat st;
	int r;

	if (sb_io->symlinkat(target, dfd, base) == 0) {
		*ret_made = 1;
		return 0;
	}
	if (errno != EEXIST)
		return -errno;
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISLNK(st.st_mode))
		return -EADDRINUSE;
	if ((r = link_points_at(dfd, base, target)) < 0)
		return r;
	if (r == 1) {
		*ret_made = 0;
		return 0;
	}
	snprintf(tmp, sizeof(tmp), ".sockbroker.%ld.%u", (long)getpid(),
	    __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
	if (sb_io->symlinkat(target, dfd, tmp) < 0)
		return -errno;
	if (sb_io->renameat(dfd, tmp, dfd, base) < 0) {
		r = -errno;
		sb_io->unlinkat(dfd, tmp, 0);
		return r;
	}
	*ret_made = 1;
	return 0;
}

/* Remove dfd/base if it is a symlink to target. */
static void
link_remove(int dfd, const char *base, const char *target)
{
	if (link_points_at(dfd, base, target) == 1)
		sb_io->unlinkat(dfd, base, 0);
}

/* Remove dfd/base if it is a symlink to a short path of one of key's views. */
static void
link_remove_views(int dfd, const char *base, const char *root, const char *key)
{
	char buf[SB_SHORT_PATH_SIZE + 1];
	ssize_t n;

	n = readlinkat(dfd, base, buf, sizeof(buf));
	if (n <= 0 || (size_t)n >= sizeof(buf))
		return;
	buf[n] = '\0';
	if (sb_short_path_view_of(root, key, buf) >= 0)
		sb_io->unlinkat(dfd, base, 0);
}

/* Public: requests */

/*
 * The refusal of SB_BIND_SAY_LIFETIME by a broker that predates it:
 * "unknown bind flags 0x..." with that bit (one that predates ADOPT too
 * names both).
 */
static int
say_unknown(sb_client *c, int r)
{
	static const char old[] = "unknown bind flags 0x";

	return r == -EINVAL && strncmp(c->message, old, sizeof(old) - 1) == 0 &&
	    (strtoul(c->message + sizeof(old) - 1, NULL, 16) & SB_BIND_SAY_LIFETIME) != 0;
}

/*
 * The refusal of an ADOPT by a broker that predates it: "unknown bind
 * flags 0x8" (a name key), or the connection dropped with EBADMSG, two fds
 * being more than it takes (a path key). A broker that knows ADOPT never
 * says either to the library's well-formed request.
 */
static int
adopt_unknown(sb_client *c, int r)
{
	static const char old[] = "unknown bind flags 0x8";

	return r == -EBADMSG || (r == -EINVAL && strncmp(c->message, old, sizeof(old) - 1) == 0);
}

static int
bind_locked(sb_client *c, const char *key, const struct sb_bind_opts *o, int sock,
    int *ret_fd, char *ret_short_path, size_t size)
{
	char short_path[SB_SHORT_PATH_SIZE];
	struct sb_msg req, rep;
	const char *base = NULL;
	unsigned flags = o->flags;
	int dfd = -1, proof = -1, made = 0, r;

	c->lifetime = 0;
	if ((r = sb_short_path(c->root, key, short_path, sizeof(short_path))) < 0)
		return r;
	sb_msg_init(&req, SB_MSG_BIND, 0);
	sb_msg_set_str(&req, SB_F_KEY, key);
	if (o->flags & SB_BIND_F_BOUND) {
		/* the caller bound its own socket at the short path: nothing else */
		sb_msg_set_u32(&req, SB_F_FLAGS, SB_BIND_BOUND);
		if ((r = client_call(c, &req, -1, &rep, 0)) < 0)
			return r;
		if (SB_HAS(&rep, SB_F_SHORT_PATH) &&
		    (r = copy_short_path(&rep, ret_short_path, size)) < 0)
			return r;
		if (!SB_HAS(&rep, SB_F_SHORT_PATH) && ret_short_path != NULL)
			strcpy(ret_short_path, short_path);	/* size checked by sb_bind */
		if (ret_fd != NULL)
			*ret_fd = -1;
		return 0;
	}
	if (o->type != 0)
		sb_msg_set_u32(&req, SB_F_SOCKTYPE, (uint32_t)o->type);
	/* an ADOPT asks whether the entry is the socket's own (the shim's unlink) */
	if (sock >= 0)
		flags |= SB_BIND_ADOPT | (c->no_say ? 0 : SB_BIND_SAY_LIFETIME);
	if (flags != 0)
		sb_msg_set_u32(&req, SB_F_FLAGS, flags);
	if (sock >= 0)
		sb_msg_set_u32(&req, SB_F_HAS_FD, 1);
	if (o->mode != 0)
		sb_msg_set_u32(&req, SB_F_MODE, (uint32_t)o->mode);
	if (o->gid != (gid_t)-1)
		sb_msg_set_u32(&req, SB_F_GID, (uint32_t)o->gid);
	if (o->lifetime != SB_LIFETIME_DEFAULT)
		sb_msg_set_u32(&req, SB_F_LIFETIME, (uint32_t)o->lifetime);
	if (sb_key_is_path(key)) {
		if ((dfd = key_dir_open(key, &base)) < 0)
			return dfd;
		if ((r = link_make(dfd, base, short_path, &made)) < 0)
			goto out;
		proof = openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (proof < 0) {
			r = -errno;
			goto out;
		}
		sb_msg_set_u32(&req, SB_F_PROOF, 1);
		sb_msg_set_u32(&req, SB_F_HAS_FD, sock >= 0 ? 2 : 1);
	}
	rep.fd = -1;
	for (;;) {
		/* the proof first, then the socket to adopt */
		if (proof >= 0)
			r = client_call2(c, &req, proof, sock, &rep, 1);
		else
			r = client_call(c, &req, sock, &rep, 1);
		if (r == 0 || !(flags & SB_BIND_SAY_LIFETIME) || !say_unknown(c, r))
			break;
		/* once per connection, to an older broker: ask it without */
		c->no_say = 1;
		flags &= ~SB_BIND_SAY_LIFETIME;
		sb_msg_set_u32(&req, SB_F_FLAGS, flags);
	}
	if (r < 0 && sock >= 0 && adopt_unknown(c, r))
		r = -EOPNOTSUPP;
	if (r == 0 && rep.fd < 0 && !(o->flags & SB_BIND_F_PREPARE) && sock < 0)
		r = -EPROTO;	/* a bound socket must come back */
	if (r == 0 && !SB_HAS(&rep, SB_F_SHORT_PATH))
		r = -EPROTO;
	if (r == 0 && dfd >= 0 && strcmp(rep.str[SB_F_SHORT_PATH], short_path) != 0) {
		/*
		 * Another view of the key: the broker gave this claim a short
		 * path of its own (one of the key's views, nothing else). The
		 * link is what clients in this view read: it names that one.
		 */
		if (sb_short_path_view_of(c->root, key, rep.str[SB_F_SHORT_PATH]) < 0)
			r = -EPROTO;
		else {
			int remade;

			if ((r = link_make(dfd, base, rep.str[SB_F_SHORT_PATH], &remade)) == 0)
				made = 0;
		}
	}
	if (r == 0)
		r = copy_short_path(&rep, ret_short_path, size);
	if (r < 0) {
		if (rep.fd >= 0)
			sb_io->close(rep.fd);
		goto out;
	}
	/* a broker that predates LIFETIME in the reply: 0, not known */
	c->lifetime = (int)sb_msg_u32(&rep, SB_F_LIFETIME, 0);
	if (ret_fd != NULL)
		*ret_fd = rep.fd;
	else if (rep.fd >= 0)
		sb_io->close(rep.fd);
out:
	if (r < 0 && made)
		link_remove(dfd, base, short_path);
	if (proof >= 0)
		sb_io->close(proof);
	if (dfd >= 0)
		close(dfd);
	return r;
}

int
sb_bind(sb_client *c, const char *key, const struct sb_bind_opts *opts,
    int *ret_fd, char *ret_short_path, size_t size)
{
	static const struct sb_bind_opts defaults = SB_BIND_OPTS_INIT;
	int r;

	if (c == NULL || (ret_short_path != NULL && size < SB_SHORT_PATH_SIZE))
		return -EINVAL;
	if ((r = sb_key_check(key)) < 0)
		return r;
	if (opts == NULL)
		opts = &defaults;
	if ((opts->flags & ~(SB_BIND_F_LISTEN | SB_BIND_F_PREPARE | SB_BIND_F_BOUND)) ||
	    opts->mode > 0777 || (unsigned)opts->lifetime > SB_LIFETIME_OWNER)
		return -EINVAL;
	client_lock(c);
	r = bind_locked(c, key, opts, -1, ret_fd, ret_short_path, size);
	client_unlock(c);
	return r;
}

int
sb_bind_socket(sb_client *c, const char *key, int fd, const struct sb_bind_opts *opts,
    int *ret_fd, char *ret_short_path, size_t size)
{
	static const struct sb_bind_opts defaults = SB_BIND_OPTS_INIT;
	struct sb_bind_opts o;
	socklen_t len = sizeof(o.type);
	int r, held = -1;

	if (c == NULL || fd < 0 || ret_fd == NULL ||
	    (ret_short_path != NULL && size < SB_SHORT_PATH_SIZE))
		return -EINVAL;
	if ((r = sb_key_check(key)) < 0)
		return r;
	o = opts != NULL ? *opts : defaults;
	if (o.flags != 0 || o.mode > 0777 || (unsigned)o.lifetime > SB_LIFETIME_OWNER)
		return -EINVAL;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &o.type, &len) < 0)
		return -errno;
	client_lock(c);
	r = bind_locked(c, key, &o, fd, &held, ret_short_path, size);
	client_unlock(c);
	if (r == 0)
		*ret_fd = held;
	return r;
}

/* The RELEASE of key with flags for c in req: 0, or -errno. */
static int
release_msg(const sb_client *c, struct sb_msg *req, const char *key, unsigned flags)
{
	int r;

	if (c == NULL)
		return -EINVAL;
	if ((r = sb_key_check(key)) < 0)
		return r;
	sb_msg_init(req, SB_MSG_RELEASE, 0);
	sb_msg_set_str(req, SB_F_KEY, key);
	if (flags != 0)
		sb_msg_set_u32(req, SB_F_FLAGS, flags);
	return 0;
}

/* Remove the link at path key key if it names one of the key's views. */
static void
release_link_locked(sb_client *c, const char *key)
{
	char short_path[SB_SHORT_PATH_SIZE];
	const char *base;
	int dfd;

	if (sb_key_is_path(key) && sb_short_path(c->root, key, short_path, sizeof(short_path)) == 0 &&
	    (dfd = key_dir_open(key, &base)) >= 0) {
		link_remove_views(dfd, base, c->root, key);
		close(dfd);
	}
}

/*
 * Send req and leave its reply for the next call to drop. With
 * SB_ASYNC_MAX replies outstanding, wait for this one like any call.
 */
static int
send_async_locked(sb_client *c, struct sb_msg *req)
{
	struct sb_msg rep;
	int r;

	if (c->nasync >= SB_ASYNC_MAX)
		return client_call(c, req, -1, &rep, 0);
	if ((r = client_send(c, req, -1)) == 0) {
		c->async_ids[(c->async_head + c->nasync) % SB_ASYNC_MAX] = req->id;
		c->nasync++;
	}
	return r;
}

/*
 * BOUND for key without waiting for the reply (the next call reads and
 * drops it): the shim tells the broker at listen, and the program's listen
 * need not wait a round trip. The broker handles a connection's requests
 * in order, so every later request of c sees the entry ready. With
 * SB_ASYNC_MAX replies outstanding, it waits like any call.
 */
int
sb_bound_async(sb_client *c, const char *key)
{
	struct sb_msg req;
	int r;

	if (c == NULL)
		return -EINVAL;
	if ((r = sb_key_check(key)) < 0)
		return r;
	sb_msg_init(&req, SB_MSG_BIND, 0);
	sb_msg_set_str(&req, SB_F_KEY, key);
	sb_msg_set_u32(&req, SB_F_FLAGS, SB_BIND_BOUND);
	client_lock(c);
	r = send_async_locked(c, &req);
	client_unlock(c);
	return r;
}

/*
 * RELEASE of key without waiting for the reply (the next call reads and
 * drops it), for the shim's unlink of its own owner entry: the broker
 * removes the entry and its socket after this returns, in order before
 * any later request of c (a bind of the same path again gets a new
 * entry). With remove_link, the link at a path key that names one of its
 * views goes now, as sb_release() removes it after the broker's answer.
 */
int
sb_release_async(sb_client *c, const char *key, unsigned flags, int remove_link)
{
	struct sb_msg req;
	int r;

	if ((r = release_msg(c, &req, key, flags)) < 0)
		return r;
	client_lock(c);
	if ((r = send_async_locked(c, &req)) == 0 && remove_link)
		release_link_locked(c, key);
	client_unlock(c);
	return r;
}

int
sb_get(sb_client *c, const char *key, int *ret_fd)
{
	struct sb_msg req, rep;
	int r;

	if (c == NULL || ret_fd == NULL)
		return -EINVAL;
	if ((r = sb_key_check(key)) < 0)
		return r;
	sb_msg_init(&req, SB_MSG_GET, 0);
	sb_msg_set_str(&req, SB_F_KEY, key);
	client_lock(c);
	r = client_call(c, &req, -1, &rep, 1);
	client_unlock(c);
	if (r < 0)
		return r;
	if (rep.fd < 0)
		return -EPROTO;
	*ret_fd = rep.fd;
	return 0;
}

int
sb_put(sb_client *c, const char *name, int fd, mode_t mode, gid_t gid)
{
	struct sb_msg req, rep;
	int r;

	if (c == NULL || fd < 0 || mode > 0777)
		return -EINVAL;
	if ((r = sb_key_check(name)) < 0)
		return r;
	if (sb_key_is_path(name))
		return -EINVAL;		/* only names hold arbitrary fds */
	sb_msg_init(&req, SB_MSG_PUT, 0);
	sb_msg_set_str(&req, SB_F_KEY, name);
	sb_msg_set_u32(&req, SB_F_HAS_FD, 1);
	if (mode != 0)
		sb_msg_set_u32(&req, SB_F_MODE, (uint32_t)mode);
	if (gid != (gid_t)-1)
		sb_msg_set_u32(&req, SB_F_GID, (uint32_t)gid);
	client_lock(c);
	r = client_call(c, &req, fd, &rep, 0);
	client_unlock(c);
	return r;
}

/* RESOLVE and WAIT: a key in, a short path out. */
static int
key_to_short_path(sb_client *c, struct sb_msg *req, char *ret_short_path, size_t size)
{
	struct sb_msg rep;
	int r;

	client_lock(c);
	r = client_call(c, req, -1, &rep, 0);
	if (r == 0)
		r = copy_short_path(&rep, ret_short_path, size);
	client_unlock(c);
	return r;
}

int
sb_resolve(sb_client *c, const char *key, char *ret_short_path, size_t size)
{
	struct sb_msg req;
	int r;

	if (c == NULL)
		return -EINVAL;
	if ((r = sb_key_check(key)) < 0)
		return r;
	sb_msg_init(&req, SB_MSG_RESOLVE, 0);
	sb_msg_set_str(&req, SB_F_KEY, key);
	return key_to_short_path(c, &req, ret_short_path, size);
}

int
sb_wait(sb_client *c, const char *key, int timeout_ms, char *ret_short_path, size_t size)
{
	struct sb_msg req;
	uint32_t t;
	int r;

	if (c == NULL)
		return -EINVAL;
	if ((r = sb_key_check(key)) < 0)
		return r;
	if (timeout_ms < 0 || (unsigned)timeout_ms > SB_WAIT_TIMEOUT_MAX_MS)
		t = SB_WAIT_TIMEOUT_MAX_MS;
	else
		t = (uint32_t)timeout_ms;
	sb_msg_init(&req, SB_MSG_WAIT, 0);
	sb_msg_set_str(&req, SB_F_KEY, key);
	sb_msg_set_u32(&req, SB_F_TIMEOUT_MS, t);
	return key_to_short_path(c, &req, ret_short_path, size);
}

int
sb_release(sb_client *c, const char *key)
{
	return sb_release_flags(c, key, 0);
}

int
sb_release_flags(sb_client *c, const char *key, unsigned flags)
{
	struct sb_msg req, rep;
	int r;

	if ((r = release_msg(c, &req, key, flags)) < 0)
		return r;
	client_lock(c);
	r = client_call(c, &req, -1, &rep, 0);
	/* the link at a path key is ours to remove, also when the entry is gone */
	if (r == 0 || r == -ENOENT)
		release_link_locked(c, key);
	client_unlock(c);
	return r;
}

/* Fill an entry description from an ENTRY message. */
static void
entry_info(const struct sb_msg *m, struct sb_entry_info *e)
{
	memset(e, 0, sizeof(*e));
	e->key = m->str[SB_F_KEY];
	e->short_path = SB_HAS(m, SB_F_SHORT_PATH) ? m->str[SB_F_SHORT_PATH] : NULL;
	e->kind = (enum sb_kind)sb_msg_u32(m, SB_F_KIND, 0);
	e->lifetime = (enum sb_lifetime)sb_msg_u32(m, SB_F_LIFETIME, 0);
	e->type = (int)sb_msg_u32(m, SB_F_SOCKTYPE, 0);
	e->uid = (uid_t)sb_msg_u32(m, SB_F_UID, 0);
	e->pid = (pid_t)sb_msg_u32(m, SB_F_PID, 0);
	e->gid = (gid_t)sb_msg_u32(m, SB_F_GID, 0);
	e->mode = (mode_t)sb_msg_u32(m, SB_F_MODE, 0);
	e->ctime = sb_msg_u64(m, SB_F_CTIME, 0);
	e->holders = sb_msg_u32(m, SB_F_HOLDERS, 0);
	e->listening = sb_msg_u32(m, SB_F_LISTENING, 0) != 0;
}

static int
list_locked(sb_client *c, sb_list_cb cb, void *userdata)
{
	struct sb_entry_info e;
	struct sb_msg req, rep;
	int r, n = 0, stop = 0;

	sb_msg_init(&req, SB_MSG_LIST, 0);
	if ((r = client_send(c, &req, -1)) < 0)
		return r;
	for (;;) {
		if ((r = client_recv(c, &req, &rep)) < 0)
			return r;
		if (rep.type == SB_MSG_END && rep.fd < 0)
			return n;
		if (rep.type == SB_MSG_ERROR)
			return client_error(c, &rep);
		if (rep.type != SB_MSG_ENTRY || rep.fd >= 0) {
			if (rep.fd >= 0)
				sb_io->close(rep.fd);
			client_disconnect(c);
			return -EPROTO;
		}
		/* keep reading after a stop, so that the connection stays in step */
		if (n < INT_MAX)
			n++;
		if (!stop && cb != NULL) {
			entry_info(&rep, &e);
			stop = cb(&e, userdata) != 0;
		}
	}
}

int
sb_list(sb_client *c, sb_list_cb cb, void *userdata)
{
	int r;

	if (c == NULL)
		return -EINVAL;
	client_lock(c);
	r = list_locked(c, cb, userdata);
	client_unlock(c);
	return r;
}

static void
status_from(const struct sb_msg *rep, struct sb_status *st)
{
	memset(st, 0, sizeof(*st));
	st->version = sb_msg_u32(rep, SB_F_VERSION_MAX, rep->version);
	st->entries = sb_msg_u32(rep, SB_F_ENTRIES, 0);
	st->clients = sb_msg_u32(rep, SB_F_CLIENTS, 0);
	st->uptime = sb_msg_u64(rep, SB_F_UPTIME, 0);
	st->pid = (pid_t)sb_msg_u32(rep, SB_F_PID, 0);
}

int
sb_status(sb_client *c, struct sb_status *ret_status)
{
	struct sb_msg req, rep;
	int r;

	if (c == NULL || ret_status == NULL)
		return -EINVAL;
	sb_msg_init(&req, SB_MSG_STATUS, 0);
	client_lock(c);
	r = client_call(c, &req, -1, &rep, 0);
	if (r == 0)
		status_from(&rep, ret_status);
	client_unlock(c);
	return r;
}

static void
copy_str(const struct sb_msg *rep, enum sb_field f, char *buf, size_t size)
{
	snprintf(buf, size, "%s", SB_HAS(rep, f) ? rep->str[f] : "");
}

int
sb_status_details(sb_client *c, struct sb_status_details *ret_details)
{
	struct sb_status_details d;
	struct sb_msg req, rep;
	int r;

	if (c == NULL || ret_details == NULL)
		return -EINVAL;
	sb_msg_init(&req, SB_MSG_STATUS, 0);
	sb_msg_set_u32(&req, SB_F_FLAGS, SB_STATUS_DETAILS);
	client_lock(c);
	r = client_call(c, &req, -1, &rep, 0);
	if (r == -EPROTO) {
		/* a broker older than the flag: ask again without it */
		client_disconnect(c);
		sb_msg_init(&req, SB_MSG_STATUS, 0);
		r = client_call(c, &req, -1, &rep, 0);
	}
	if (r == 0) {
		memset(&d, 0, sizeof(d));
		status_from(&rep, &d.status);
		d.details = SB_HAS(&rep, SB_F_ROOT);
		copy_str(&rep, SB_F_BROKER_VERSION, d.version, sizeof(d.version));
		copy_str(&rep, SB_F_ROOT, d.root, sizeof(d.root));
		d.max_clients = sb_msg_u32(&rep, SB_F_MAX_CLIENTS, 0);
		d.max_clients_per_uid = sb_msg_u32(&rep, SB_F_MAX_CLIENTS_PER_UID, 0);
		d.max_entries = sb_msg_u32(&rep, SB_F_MAX_ENTRIES, 0);
		d.max_entries_per_uid = sb_msg_u32(&rep, SB_F_MAX_ENTRIES_PER_UID, 0);
		d.client_timeout_ms = sb_msg_u32(&rep, SB_F_CLIENT_TIMEOUT_MS, 0);
		*ret_details = d;
	}
	client_unlock(c);
	return r;
}

int
sb_reexec(sb_client *c)
{
	struct sb_msg req, rep;
	int r;

	if (c == NULL)
		return -EINVAL;
	sb_msg_init(&req, SB_MSG_REEXEC, 0);
	client_lock(c);
	r = client_call(c, &req, -1, &rep, 0);
	/* the broker is about to re-execute: the next call connects again */
	client_disconnect(c);
	client_unlock(c);
	return r;
}
