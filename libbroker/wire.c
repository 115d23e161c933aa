/* SPDX-License-Identifier: ISC */
/*
 * wire.c: one message in, one message out, with its fd, over SOCK_SEQPACKET.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sb-internal.h"

static const struct sb_io libc_io = {
	.socket = socket,
	.connect = connect,
	.sendmsg = sendmsg,
	.recvmsg = recvmsg,
	.close = close,
	.symlinkat = symlinkat,
	.unlinkat = unlinkat,
	.renameat = renameat,
};

const struct sb_io *sb_io = &libc_io;

void
sb_set_io(const struct sb_io *io)
{
	sb_io = io != NULL ? io : &libc_io;
}

int
sb_control_addr(const char *root, struct sockaddr_un *sun, socklen_t *ret_len)
{
	int n;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	n = snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/" SB_CONTROL_NAME, root);
	if (n < 0 || (size_t)n >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
	return 0;
}

int
sb_control_answers(const char *root)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd, r;

	if (root[0] != '/' || sb_control_addr(root, &sun, &len) < 0)
		return 0;
	/* non-blocking: a full backlog (EAGAIN) is a busy broker, not a wait */
	if ((fd = sb_io->socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return 0;
	r = sb_io->connect(fd, (const struct sockaddr *)&sun, len);
	if (r < 0 && errno == EAGAIN)
		r = 0;
	sb_io->close(fd);
	return r == 0;
}

ssize_t
sb_send_fds(int sock, const void *buf, size_t len, const int *fds, int n, int flags)
{
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(sizeof(int) * SB_FDS_MAX)];
	} cbuf;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t r;

	if (n < 0 || n > SB_FDS_MAX)
		return -EINVAL;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (n > 0) {
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
	}
	do
		r = sb_io->sendmsg(sock, &mh, flags);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

ssize_t
sb_send_fd(int sock, const void *buf, size_t len, int fd, int flags)
{
	return sb_send_fds(sock, buf, len, &fd, fd >= 0 ? 1 : 0, flags);
}

int
sb_msg_send2(int sock, const struct sb_msg *m, int fd, int fd2)
{
	uint8_t buf[SB_MSG_MAX];
	int fds[2], n = 0;
	ssize_t len, r;

	if (fd >= 0)
		fds[n++] = fd;
	if (fd2 >= 0)
		fds[n++] = fd2;
	if ((len = sb_msg_encode(m, buf, sizeof(buf))) < 0)
		return (int)len;
	if ((r = sb_send_fds(sock, buf, (size_t)len, fds, n, MSG_NOSIGNAL)) < 0)
		return (int)r;
	if (r != len)
		return -EMSGSIZE;
	return 0;
}

int
sb_msg_send(int sock, const struct sb_msg *m, int fd)
{
	return sb_msg_send2(sock, m, fd, -1);
}

/* Close every fd in the control part of mh, with drop if it is set. */
static void
close_cmsg_fds(struct msghdr *mh, void (*drop)(int, void *), void *arg)
{
	struct cmsghdr *cm;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		size_t i, nfd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfd; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (drop != NULL)
				drop(fd, arg);
			else
				sb_io->close(fd);
		}
	}
}

/* The request id of a message refused before decoding, if its header came whole. */
static void
header_id(struct sb_msg *m, const uint8_t *buf, size_t n)
{
	uint32_t magic, id;

	if (n < SB_HDR_SIZE)
		return;
	memcpy(&magic, buf, 4);
	memcpy(&id, buf + 12, 4);
	if (le32toh(magic) == SB_PROTO_MAGIC)
		m->id = le32toh(id);
}

int
sb_msg_recv(int sock, uint8_t *buf, size_t cap, struct sb_msg *m, int flags)
{
	return sb_msg_recv_drop(sock, buf, cap, m, flags, NULL, NULL);
}

int
sb_msg_recv_drop(int sock, uint8_t *buf, size_t cap, struct sb_msg *m, int flags,
    void (*drop)(int fd, void *arg), void *arg)
{
	/*
	 * Room for as many fds as one message can carry (the kernel's
	 * SCM_MAX_FD), so that extra ones are seen and closed with drop: those
	 * that did not fit the kernel would close itself, on this thread.
	 */
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(sizeof(int) * SB_SCM_FDS_MAX)];
	} cbuf;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;
	int fds[SB_FDS_MAX];
	ssize_t n;
	int nfds = 0, bad = 0;

	/* nothing of an earlier message survives: a reply to what cannot be read says id 0 */
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	m->fd2 = -1;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = cap;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf.buf;
	mh.msg_controllen = sizeof(cbuf.buf);
	do
		n = sb_io->recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (mh.msg_flags & MSG_CTRUNC)
		bad = 1;	/* the kernel closed what did not fit; close the rest */
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			int i, k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			for (i = 0; i < k; i++, nfds++)
				if (nfds < SB_FDS_MAX)
					memcpy(&fds[nfds], CMSG_DATA(cm) + (size_t)i * sizeof(int),
					    sizeof(int));
		} else
			bad = 1;
	}
	if (bad || nfds > SB_FDS_MAX || (mh.msg_flags & MSG_TRUNC)) {
		close_cmsg_fds(&mh, drop, arg);
		header_id(m, buf, (size_t)n);
		if (mh.msg_flags & MSG_TRUNC)
			return -EMSGSIZE;
		/*
		 * The control part had room for every fd a message can carry: a
		 * truncation is the kernel failing to install them, our fd table
		 * is full.
		 */
		if ((mh.msg_flags & MSG_CTRUNC) && nfds < SB_SCM_FDS_MAX)
			return -EMFILE;
		return -EBADMSG;
	}
	if (nfds >= 1)
		m->fd = fds[0];
	if (nfds >= 2)
		m->fd2 = fds[1];
	if (n == 0 && nfds == 0)
		return -ECONNRESET;
	return sb_msg_decode(m, buf, (size_t)n);
}
