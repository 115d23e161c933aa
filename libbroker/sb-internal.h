/* SPDX-License-Identifier: ISC */
/*
 * sb-internal.h: what the library, the daemon and the shim share beyond the
 * public API. Nothing here is exported from libsockbroker.so.
 */
#ifndef SB_INTERNAL_H
#define SB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sb-proto.h"

#define SB_HIDDEN __attribute__((visibility("hidden")))

/*
 * The system calls the library makes, through a table so that the shim can
 * point them at the real libc functions (dlsym RTLD_NEXT) and never call
 * back into its own wrappers.
 */
struct sb_io {
	int	(*socket)(int, int, int);
	int	(*connect)(int, const struct sockaddr *, socklen_t);
	ssize_t	(*sendmsg)(int, const struct msghdr *, int);
	ssize_t	(*recvmsg)(int, struct msghdr *, int);
	int	(*close)(int);
	int	(*symlinkat)(const char *, int, const char *);
	int	(*unlinkat)(int, const char *, int);
	int	(*renameat)(int, const char *, int, const char *);
};
SB_HIDDEN extern const struct sb_io *sb_io;
SB_HIDDEN void	 sb_set_io(const struct sb_io *io);

/* ROOT/control as an address (wire.c): 0, or -ENAMETOOLONG. */
struct sockaddr_un;
SB_HIDDEN int	 sb_control_addr(const char *root, struct sockaddr_un *sun, socklen_t *ret_len);
/*
 * Does a broker answer on ROOT/control (through sb_io)? 1 or 0; a full
 * backlog is a busy broker, which answers: it never waits. A relative
 * root has none.
 */
SB_HIDDEN int	 sb_control_answers(const char *root);

SB_HIDDEN void	 sb_sha256(const void *data, size_t len, uint8_t out[32]);
/* on: the portable block even where SHA-NI is present (tests); off: the fastest */
SB_HIDDEN void	 sb_sha256_portable(int on);
/* May c be a byte of a name key? A-Z a-z 0-9 . _ : @ + -, in every locale */
SB_HIDDEN int	 sb_key_name_char(unsigned char c);
/*
 * A path key's directory into dir ("/" for a key in /) and its last
 * component (*ret_base, in key, if ret_base is not NULL): 0, -EINVAL if key is no path key,
 * -ENAMETOOLONG if the directory does not fit size.
 */
SB_HIDDEN int	 sb_key_dir(const char *key, char *dir, size_t size, const char **ret_base);
SB_HIDDEN void	 sb_key_hash(const char *key, char hex[3], char hash[SB_HASH_CHARS + 1]);
/*
 * Views of a path key: claims of one string by different uids in different
 * mount namespaces get views 0..SB_VIEW_MAX, each its own short path (view 0
 * is sb_short_path's). The link at the long path, in the caller's view,
 * names its view's short path: clients read it (sockbrokerd(8), views).
 */
#define SB_VIEW_MAX	15
SB_HIDDEN void	 sb_key_hash_view(const char *key, unsigned view, char hex[3],
		    char hash[SB_HASH_CHARS + 1]);
SB_HIDDEN int	 sb_short_path_view(const char *root, const char *key, unsigned view,
		    char *buf, size_t size);
/* The view whose short path under root path is, for key; -1 if none is */
SB_HIDDEN int	 sb_short_path_view_of(const char *root, const char *key, const char *path);
/*
 * The short path of path key in the caller's view, into buf: the one the
 * link at key names, else the one the broker gives a first claim from here
 * (sockbrokerd(8), views); its view, or -errno.
 */
SB_HIDDEN int	 sb_short_path_here(const char *root, const char *key, char *buf, size_t size);
SB_HIDDEN const char *sb_getenv(const char *name);
/* The system broker's root: root's default, and the shim's last resort. */
#define SB_SYSTEM_ROOT	"/run/sockbroker"
/*
 * The runtime root to use: root, or sb_default_root() into buf if root is
 * NULL; it must be absolute. *ret_len is its length without trailing
 * slashes. Returns 0 or a negative errno.
 */
SB_HIDDEN int	 sb_root_get(const char *root, char buf[SB_SHORT_PATH_SIZE],
		    const char **ret_root, size_t *ret_len);

/*
 * client.c: an sb_client_open_flags() flag for the shim: every round trip
 * (connect, each send, each receive) gives up after SB_SHIM_DEADLINE_MS
 * with -ETIMEDOUT. The broker answers a request at once except a path
 * proof, which it checks on a thread with a 2 s deadline of its own
 * (proof.c): 5 s is more than that plus a busy event loop, and short
 * enough that a stopped or hung broker costs a program one bounded wait
 * per call, never a hang.
 */
#define SB_OPEN_DEADLINE	0x80000000u
#define SB_SHIM_DEADLINE_MS	5000

/* client.c: sb_release() with SB_RELEASE_* flags (the shim's unlink) */
struct sb_client;
SB_HIDDEN int	 sb_release_flags(struct sb_client *c, const char *key, unsigned flags);
/* BOUND without waiting for its reply (client.c); at most SB_ASYNC_MAX outstanding */
#define SB_ASYNC_MAX	16
SB_HIDDEN int	 sb_bound_async(struct sb_client *c, const char *key);
/* RELEASE without waiting; remove_link: the link at a path key goes now */
SB_HIDDEN int	 sb_release_async(struct sb_client *c, const char *key, unsigned flags,
		    int remove_link);
/* The lifetime (SB_LIFETIME_*) of the entry of c's last successful bind; 0: not said */
SB_HIDDEN int	 sb_client_lifetime(struct sb_client *c);

/* autostart.c: may a client with these open flags start a broker? */
SB_HIDDEN int	 sb_autostart_allowed(unsigned flags);
/* Start sockbrokerd on root unless one answers; 0 once it is ready. */
SB_HIDDEN int	 sb_autostart(const char *root);

/*
 * sendmsg(2) of len bytes of buf, with fd attached by SCM_RIGHTS if fd >= 0,
 * retried on EINTR. Returns the bytes sent or a negative errno.
 */
SB_HIDDEN ssize_t sb_send_fd(int sock, const void *buf, size_t len, int fd, int flags);
/* The same with n (0..SB_FDS_MAX) fds attached, in that order. */
SB_HIDDEN ssize_t sb_send_fds(int sock, const void *buf, size_t len, const int *fds, int n,
    int flags);
/*
 * Send m (with fd attached if fd >= 0) on a SOCK_SEQPACKET socket.
 * Returns 0 or a negative errno.
 */
SB_HIDDEN int	 sb_msg_send(int sock, const struct sb_msg *m, int fd);
/* The same with fd and fd2 attached (each if >= 0, in that order). */
SB_HIDDEN int	 sb_msg_send2(int sock, const struct sb_msg *m, int fd, int fd2);
/*
 * Receive one message into buf and decode it into m. Attached fds (at
 * most SB_FDS_MAX, received close-on-exec) are stored in m->fd and m->fd2
 * and belong to the caller, also when decoding fails; more fds than allowed, or a
 * truncated message or control part, close every fd and fail with
 * -EBADMSG. Returns 0, -ECONNRESET at end of stream, or a negative errno
 * (sb_msg_decode's among them).
 */
SB_HIDDEN int	 sb_msg_recv(int sock, uint8_t *buf, size_t cap, struct sb_msg *m, int flags);
/* The most fds one message can carry (the kernel's SCM_MAX_FD) */
#define SB_SCM_FDS_MAX	253
/*
 * sb_msg_recv, but the fds of a message refused for carrying too many (or
 * anything else wrong) go to drop(fd, arg) instead of close: the broker
 * hands them to its closer, as their last close may block.
 */
SB_HIDDEN int	 sb_msg_recv_drop(int sock, uint8_t *buf, size_t cap, struct sb_msg *m, int flags,
		    void (*drop)(int fd, void *arg), void *arg);

#endif /* SB_INTERNAL_H */
