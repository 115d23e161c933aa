/* SPDX-License-Identifier: ISC */
/*
 * holders.c: is a socket still bound to an entry's socket file, in any
 * process? The question an owner entry asks when its creator exits: a
 * daemon that binds, forks and lets the parent exit (dbus-daemon --fork,
 * redis-server --daemonize yes, any double-fork daemon) still serves on
 * that socket from its child.
 *
 * The kernel answers through NETLINK_SOCK_DIAG: a dump of the AF_UNIX
 * sockets with UDIAG_SHOW_VFS gives, for each bound socket, the device and
 * inode of the file it was bound at. No privilege is needed, nothing of a
 * client's is touched (the dump is the kernel's own table), and one dump
 * answers for any number of entries. The kernel reports the inode in 32
 * bits: a collision can only keep an entry a little longer, never drop one.
 * Limit: the dump covers the broker's network namespace; a holder in
 * another one is not seen (the entry then goes with its creator, as it
 * did before).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "brokerd.h"

/* The (dev, ino) of e's socket file as sock_diag reports them: 0, or -errno. */
int
holders_sock_id(const struct entry *e, struct holder_id *ret)
{
	struct stat st;
	int dfd, r = 0;

	if ((dfd = entry_dir_open(e)) < 0)
		return dfd;
	if (fstatat(dfd, SB_SOCK_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	else if (!S_ISSOCK(st.st_mode))
		r = -ENOTSOCK;
	close(dfd);
	if (r < 0)
		return r;
	/* sock_diag gives the kernel's own dev_t: major << 20 | minor */
	ret->dev = ((uint32_t)major(st.st_dev) << 20) | ((uint32_t)minor(st.st_dev) & 0xfffff);
	ret->ino = (uint32_t)st.st_ino;
	ret->found = 0;
	return 0;
}

static void
mark(struct holder_id *ids, size_t n, uint32_t dev, uint32_t ino)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ids[i].found == 0 && ids[i].ino == ino && ids[i].dev == dev)
			ids[i].found = 1;
}

/* One message of the dump: mark the ids it names. */
static void
parse_one(const struct nlmsghdr *h, struct holder_id *ids, size_t n)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	const struct rtattr *a;
	int len;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return;
	len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
	for (a = (const struct rtattr *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		struct unix_diag_vfs v;

		if (a->rta_type != UNIX_DIAG_VFS || RTA_PAYLOAD(a) < (int)sizeof(v))
			continue;
		memcpy(&v, RTA_DATA(a), sizeof(v));
		mark(ids, n, v.udiag_vfs_dev, v.udiag_vfs_ino);
	}
}

/*
 * Set ids[i].found (from 0 to 1) for every id that a bound AF_UNIX socket
 * still has (listening, or bound and not connected: a datagram server);
 * an id with found < 0 is skipped. 0, or -errno (then nothing is known).
 */
int
holders_find(struct holder_id *ids, size_t n)
{
	struct {
		struct nlmsghdr		nlh;
		struct unix_diag_req	req;
	} q;
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	union {
		struct nlmsghdr	align;
		char		buf[32768];
	} rb;
	int fd, r = 0, done = 0;

	if (n == 0)
		return 0;
	if ((fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)) < 0)
		return -errno;
	memset(&q, 0, sizeof(q));
	q.nlh.nlmsg_len = sizeof(q);
	q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	q.nlh.nlmsg_seq = 1;
	q.req.sdiag_family = AF_UNIX;
	q.req.udiag_states = (1u << TCP_LISTEN) | (1u << TCP_CLOSE);
	q.req.udiag_show = UDIAG_SHOW_VFS;
	if (sendto(fd, &q, sizeof(q), 0, (struct sockaddr *)&nl, sizeof(nl)) < 0) {
		r = -errno;
		goto out;
	}
	while (!done) {
		const struct nlmsghdr *h;
		ssize_t got;
		int len;

		do
			got = recv(fd, rb.buf, sizeof(rb.buf), 0);
		while (got < 0 && errno == EINTR);
		if (got < 0) {
			r = -errno;
			break;
		}
		if (got == 0) {
			r = -EPROTO;
			break;
		}
		len = (int)got;
		for (h = &rb.align; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				r = h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error < 0 ?
				    e->error : -EPROTO;
				done = 1;
				break;
			}
			if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY)
				parse_one(h, ids, n);
		}
	}
out:
	close(fd);
	return r;
}
