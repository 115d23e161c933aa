/* SPDX-License-Identifier: ISC */
/*
 * fdholder.c: keep the held fds in an s6-fdholderd (--fdholder PATH), the
 * s6 counterpart of systemd's fd store, so that a restart of the broker
 * under s6 (s6-svc -r) loses no socket, and the control socket too, so
 * that clients that connect meanwhile wait in its backlog.
 *
 * The few messages of s6-fdholderd's protocol we speak, as s6's libs6
 * sends them. Each message on the SOCK_STREAM socket is a 6-byte header,
 * the data length (u32) and the number of fds (u16), both big endian, then
 * the data; the fds ride as SCM_RIGHTS on the first bytes.
 *
 *   store     'S', deadline (TAI64N: u64 2^62 + seconds, u32 nanoseconds,
 *             big endian), u8 id length, id, NUL; one fd -> one byte errno
 *   retrieve  'R', u8 delete (0), u8 id length, id, NUL
 *             -> 0 with one fd, or one byte errno
 *   delete    'D', u8 id length, id, NUL -> one byte errno
 *   list      'L' -> 0, u32 count, count NUL-terminated ids; or one byte errno
 *
 * Our ids are "sockbroker:ROOT/NAME", NAME an entry id or "control", so
 * that brokers of several roots can share one holder; the holder's rules
 * must let the broker's uid store, retrieve and list ids matching
 * ^sockbroker: (S6_FDHOLDER_STORE_REGEX, S6_FDHOLDER_RETRIEVE_REGEX,
 * S6_FDHOLDER_LIST). The holder is the administrator's, not a client's:
 * talking to it on the event loop is like sd_notify(), but each exchange
 * has a deadline, and a holder that fails is left alone for a while.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "brokerd.h"

#define FDH_HDR		6
#define FDH_ID_MAX	255		/* S6_FDHOLDER_ID_SIZE */
#define FDH_REPLY_MAX	(8u << 20)	/* a list of every id fits easily */
#define FDH_TIMEOUT_MS	1000		/* one exchange */
#define FDH_BACKOFF_S	10		/* after a failure */
#define TAI_MAGIC	(UINT64_C(1) << 62)

static int	 hfd = -1;		/* connection to the holder */
static int64_t	 down_until;		/* monotonic seconds */
static int	 full_warned;
static int	 control_kept;		/* the control socket is in the holder */
static int	 control_stale;		/* the one it had is no longer at its path */

/* The ids of ours the holder had at start, until reconciled. */
static char	**start_ids;
static size_t	 start_n;

static int64_t
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

static void
put32be(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
get32be(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* "sockbroker:ROOT/name"; -ENAMETOOLONG past the holder's limit. */
static int
make_id(const char *name, char *buf, size_t size)
{
	int n = snprintf(buf, size, "sockbroker:%s/%s", cfg.root, name);

	return n < 0 || (size_t)n >= size || n > FDH_ID_MAX ? -ENAMETOOLONG : n;
}

/* The name in one of our ids, or NULL if it is not ours. */
static const char *
id_name(const char *id)
{
	size_t n = strlen("sockbroker:");

	if (strncmp(id, "sockbroker:", n) != 0 || strncmp(id + n, cfg.root, cfg.root_len) != 0 ||
	    id[n + cfg.root_len] != '/')
		return NULL;
	return id + n + cfg.root_len + 1;
}

static void
hclose(void)
{
	if (hfd >= 0)
		close(hfd);
	hfd = -1;
}

/* A failed exchange: say it once per outage, leave the holder alone a while. */
static void
failed(const char *what, int err)
{
	if (down_until == 0 || mono_s() >= down_until)
		log_warn("s6-fdholderd at %s: unable to %s: %s (the next tries in %d s)",
		    cfg.fdholder, what, strerror(err), FDH_BACKOFF_S);
	down_until = mono_s() + FDH_BACKOFF_S;
	hclose();
}

static int
hconnect(void)
{
	struct sockaddr_un sa;

	if (hfd >= 0)
		return 0;
	if (down_until != 0 && mono_s() < down_until)
		return -EAGAIN;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(cfg.fdholder) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, cfg.fdholder);
	if ((hfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return -errno;
	if (connect(hfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		int e = errno;

		hclose();
		return -e;
	}
	return 0;
}

/* Wait for events on hfd until the deadline; -ETIMEDOUT past it. */
static int
hwait(short events, int64_t deadline_ms)
{
	struct pollfd pfd = { .fd = hfd, .events = events };
	struct timespec ts;
	int64_t now;
	int r;

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		if (now >= deadline_ms)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)(deadline_ms - now));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static int64_t
deadline_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + FDH_TIMEOUT_MS;
}

/* Send one message (data of len bytes, fd if >= 0). */
static int
hsend(const void *data, size_t len, int fd, int64_t dl)
{
	union {
		struct cmsghdr	 h;
		char		 buf[CMSG_SPACE(sizeof(int))];
	} cm;
	unsigned char hdr[FDH_HDR];
	struct iovec iov[2];
	struct msghdr mh;
	size_t off = 0, total = FDH_HDR + len;
	ssize_t n;
	int r;

	put32be(hdr, (uint32_t)len);
	hdr[4] = 0;
	hdr[5] = fd >= 0 ? 1 : 0;
	while (off < total) {
		memset(&mh, 0, sizeof(mh));
		if (off < FDH_HDR) {
			iov[0].iov_base = hdr + off;
			iov[0].iov_len = FDH_HDR - off;
			iov[1].iov_base = (void *)data;
			iov[1].iov_len = len;
			mh.msg_iovlen = 2;
		} else {
			iov[0].iov_base = (char *)data + (off - FDH_HDR);
			iov[0].iov_len = total - off;
			mh.msg_iovlen = 1;
		}
		mh.msg_iov = iov;
		if (off == 0 && fd >= 0) {
			memset(&cm, 0, sizeof(cm));
			mh.msg_control = cm.buf;
			mh.msg_controllen = sizeof(cm.buf);
			CMSG_FIRSTHDR(&mh)->cmsg_level = SOL_SOCKET;
			CMSG_FIRSTHDR(&mh)->cmsg_type = SCM_RIGHTS;
			CMSG_FIRSTHDR(&mh)->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(CMSG_FIRSTHDR(&mh)), &fd, sizeof(int));
		}
		n = sendmsg(hfd, &mh, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if ((r = hwait(POLLOUT, dl)) < 0)
				return r;
			continue;
		}
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		off += (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes; the first fd that comes with them into *ret_fd. */
static int
hread(void *buf, size_t len, int *ret_fd, int64_t dl)
{
	union {
		struct cmsghdr	 h;
		char		 buf[CMSG_SPACE(sizeof(int) * 4)];
	} cm;
	struct cmsghdr *c;
	struct msghdr mh;
	struct iovec iov;
	size_t off = 0;
	ssize_t n;
	int r, fd, i, nfd;

	while (off < len) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = (char *)buf + off;
		iov.iov_len = len - off;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		n = recvmsg(hfd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if ((r = hwait(POLLIN, dl)) < 0)
				return r;
			continue;
		}
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			nfd = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (i = 0; i < nfd; i++) {
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (ret_fd != NULL && *ret_fd < 0)
					*ret_fd = fd;
				else
					close(fd);
			}
		}
		if (mh.msg_flags & MSG_CTRUNC)
			return -EPROTO;
		off += (size_t)n;
	}
	return 0;
}

/*
 * One exchange: send, read the reply into *ret_data (malloc'd, *ret_len
 * bytes) and its fd (if any) into *ret_fd. The reply's fd count must match
 * what came.
 */
static int
exchange(const void *data, size_t len, int fd, unsigned char **ret_data, size_t *ret_len,
    int *ret_fd)
{
	unsigned char hdr[FDH_HDR], *rep;
	int64_t dl = deadline_ms();
	uint32_t rlen;
	int r, got = -1, retried = 0;

again:
	if ((r = hconnect()) < 0)
		return r;
	if ((r = hsend(data, len, fd, dl)) < 0 || (r = hread(hdr, sizeof(hdr), &got, dl)) < 0) {
		hclose();
		if (got >= 0)
			close(got);
		got = -1;
		/* a connection the holder dropped while idle: once more, fresh */
		if (!retried++ && (r == -EPIPE || r == -ECONNRESET))
			goto again;
		return r;
	}
	rlen = get32be(hdr);
	if (rlen == 0 || rlen > FDH_REPLY_MAX || hdr[4] != 0 || hdr[5] > 1 ||
	    (rep = malloc(rlen)) == NULL) {
		if (got >= 0)
			close(got);
		hclose();
		return -EPROTO;
	}
	if ((r = hread(rep, rlen, &got, dl)) < 0 || (hdr[5] == 1) != (got >= 0)) {
		free(rep);
		if (got >= 0)
			close(got);
		hclose();
		return r < 0 ? r : -EPROTO;
	}
	*ret_data = rep;
	*ret_len = rlen;
	if (ret_fd != NULL)
		*ret_fd = got;
	else if (got >= 0)
		close(got);
	return 0;
}

/* Requests that take an id: op 'S' (with fd), 'R', 'D'. 0 or -errno. */
static int
id_request(char op, const char *id, int fd, int *ret_fd)
{
	unsigned char msg[2 + 12 + 1 + FDH_ID_MAX + 1], *rep = NULL, *p = msg;
	size_t idlen = strlen(id), rlen;
	uint64_t sec = TAI_MAGIC + (UINT64_C(1) << 61);	/* never expires */
	int r, got = -1, i;

	*p++ = (unsigned char)op;
	if (op == 'S') {
		for (i = 7; i >= 0; i--)
			*p++ = (unsigned char)(sec >> (8 * i));
		put32be(p, 0);
		p += 4;
	} else if (op == 'R')
		*p++ = 0;	/* do not delete */
	*p++ = (unsigned char)idlen;
	memcpy(p, id, idlen + 1);
	p += idlen + 1;
	if ((r = exchange(msg, (size_t)(p - msg), fd, &rep, &rlen, &got)) < 0)
		return r;
	r = rlen == 1 ? -(int)rep[0] : -EPROTO;
	if (r == 0 && op == 'R' && got < 0)
		r = -EPROTO;
	free(rep);
	if (r == 0 && ret_fd != NULL) {
		*ret_fd = got;
		got = -1;
	}
	if (got >= 0)
		close(got);
	return r;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The ids of ours in the holder, sorted, into start_ids. */
static int
list_ours(void)
{
	unsigned char *rep = NULL;
	size_t rlen, off;
	uint32_t n, i;
	int r;

	if ((r = exchange("L", 1, -1, &rep, &rlen, NULL)) < 0)
		return r;
	if (rlen == 1) {
		r = -(int)rep[0];
		free(rep);
		return r < 0 ? r : -EPROTO;
	}
	if (rlen < 5 || rep[0] != 0 || rep[rlen - 1] != '\0') {
		free(rep);
		return -EPROTO;
	}
	n = get32be(rep + 1);
	if ((start_ids = calloc(n ? n : 1, sizeof(*start_ids))) == NULL) {
		free(rep);
		return -ENOMEM;
	}
	for (i = 0, off = 5; i < n && off < rlen; i++) {
		const char *id = (const char *)rep + off;

		off += strlen(id) + 1;
		if (id_name(id) != NULL && (start_ids[start_n] = strdup(id)) != NULL)
			start_n++;
	}
	free(rep);
	qsort(start_ids, start_n, sizeof(*start_ids), cmp_str);
	return 0;
}

/* Take id out of start_ids; 1 if it was there. */
static int
start_take(const char *id)
{
	char **p;

	if (start_n == 0 ||
	    (p = bsearch(&id, start_ids, start_n, sizeof(*start_ids), cmp_str)) == NULL)
		return 0;
	free(*p);
	memmove(p, p + 1, (size_t)(start_ids + start_n - (p + 1)) * sizeof(*p));
	start_n--;
	return 1;
}

static int
adopted_add(struct adopted **fds, size_t *nfds, int fd, const char *name)
{
	struct adopted *a = realloc(*fds, (*nfds + 1) * sizeof(**fds));

	if (a == NULL)
		return -ENOMEM;
	*fds = a;
	memset(&a[*nfds], 0, sizeof(a[*nfds]));
	a[*nfds].fd = fd;
	snprintf(a[*nfds].name, sizeof(a[*nfds].name), "%s", name);
	(*nfds)++;
	return 0;
}

/* Is there a socket at ROOT/control, where the kept one was bound? */
static int
control_bound(void)
{
	struct stat st;

	return fstatat(cfg.root_fd, SB_CONTROL_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISSOCK(st.st_mode);
}

void
fdholder_adopt(struct adopted **fds, size_t *nfds)
{
	size_t i, got = 0;
	int r, fd;

	if (cfg.fdholder == NULL)
		return;
	if ((r = list_ours()) < 0) {
		failed("list the fds it holds", -r);
		return;
	}
	if (cfg.reexec)		/* the fds came with the re-exec: only learn what is stored */
		return;
	for (i = 0; i < start_n; i++) {
		fd = -1;
		if ((r = id_request('R', start_ids[i], -1, &fd)) < 0) {
			log_warn("s6-fdholderd at %s: unable to retrieve %s: %s", cfg.fdholder,
			    start_ids[i], strerror(-r));
			continue;
		}
		if (strcmp(id_name(start_ids[i]), SB_CONTROL_NAME) == 0 && !control_bound()) {
			/* its path is gone: clients cannot reach it, bind a new one */
			log_info("s6-fdholderd at %s holds a control socket no longer at %s/%s: "
			    "a new one replaces it", cfg.fdholder, cfg.root, SB_CONTROL_NAME);
			close(fd);
			control_stale = 1;
			continue;
		}
		if (adopted_add(fds, nfds, fd, id_name(start_ids[i])) < 0) {
			close(fd);
			fatal("unable to allocate memory");
		}
		got++;
	}
	log_info("took over %zu fds from s6-fdholderd at %s", got, cfg.fdholder);
}

/* Store fd under name; 1 if stored. */
static int
store(const char *name, int fd, const char *what)
{
	char id[FDH_ID_MAX + 2];
	int r;

	if (make_id(name, id, sizeof(id)) < 0)
		return 0;
	r = id_request('S', id, fd, NULL);
	if (r == -EBUSY) {
		/* a stale fd of the same id (a broker that did not clean up): replace */
		if ((r = id_request('D', id, -1, NULL)) == 0)
			r = id_request('S', id, fd, NULL);
	}
	if (r == -ENFILE) {
		if (!full_warned++)
			log_warn("s6-fdholderd at %s is full (its -n): %s and the next held fds "
			    "are not stored; they survive a re-exec, and a restart releases them",
			    cfg.fdholder, what);
		return 0;
	}
	if (r < 0) {
		if (r != -EAGAIN)
			failed("store an fd", -r);
		return 0;
	}
	return 1;
}

void
fdholder_store(struct entry *e)
{
	if (cfg.fdholder == NULL || e->fd < 0 || e->in_fdholder)
		return;
	e->in_fdholder = (uint8_t)store(e->id, e->fd, e->key);
}

void
fdholder_delete_name(const char *name)
{
	char id[FDH_ID_MAX + 2];
	int r;

	if (cfg.fdholder == NULL || make_id(name, id, sizeof(id)) < 0)
		return;
	start_take(id);
	if ((r = id_request('D', id, -1, NULL)) < 0 && r != -ENOENT && r != -EAGAIN)
		failed("delete an fd", -r);
}

void
fdholder_delete(struct entry *e)
{
	if (cfg.fdholder == NULL || !e->in_fdholder)
		return;
	fdholder_delete_name(e->id);
	e->in_fdholder = 0;
}

/*
 * After reconcile(): every held fd is in the holder (stored now if it was
 * not), the control socket (control_fd) too, and no id of ours is left
 * that matches no held entry.
 */
void
fdholder_sync(int control_fd)
{
	char id[FDH_ID_MAX + 2];
	struct entry *e;
	size_t i;
	int r;

	if (cfg.fdholder == NULL)
		return;
	if (make_id(SB_CONTROL_NAME, id, sizeof(id)) >= 0 && start_take(id) && !control_stale)
		control_kept = 1;
	else
		control_kept = store(SB_CONTROL_NAME, control_fd, "the control socket");
	for (e = entry_first(); e != NULL; e = e->next) {
		if (e->fd < 0 || e->in_fdholder)
			continue;
		if (make_id(e->id, id, sizeof(id)) >= 0 && start_take(id))
			e->in_fdholder = 1;
		else
			fdholder_store(e);
	}
	for (i = 0; i < start_n; i++) {
		log_info("s6-fdholderd at %s holds %s, which matches no held entry: deleted",
		    cfg.fdholder, start_ids[i]);
		if ((r = id_request('D', start_ids[i], -1, NULL)) < 0 && r != -ENOENT)
			failed("delete an fd", -r);
		free(start_ids[i]);
	}
	free(start_ids);
	start_ids = NULL;
	start_n = 0;
}

int
fdholder_keeps_control(void)
{
	return control_kept;
}
