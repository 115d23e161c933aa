/* SPDX-License-Identifier: ISC */
/*
 * sockbroker.h: client library of sockbrokerd, the AF_UNIX socket broker.
 *
 * Every function returns 0 (or a non-negative count) on success and a
 * negative errno value on failure; sb_strerror() turns it into text. When
 * the broker refused a request, sb_client_message() has its explanation.
 * Output parameters are named ret_* and are left untouched on failure.
 * The library never prints, never exits and never raises a signal
 * (MSG_NOSIGNAL). A client object may be shared between threads: calls on
 * it are serialised by a lock. Every fd the library creates or receives is
 * close-on-exec.
 */
#ifndef SOCKBROKER_H
#define SOCKBROKER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
# define SB_EXPORT __attribute__((visibility("default")))
#else
# define SB_EXPORT
#endif

#define SB_SHORT_PATH_SIZE	108	/* buffer for a short path, NUL included */
#define SB_NAME_LEN_MAX		200	/* bytes in a name key */
#define SB_PATH_LEN_MAX		4095	/* bytes in a path key */

typedef struct sb_client sb_client;

enum sb_lifetime {
	SB_LIFETIME_DEFAULT = 0,	/* hold for a name, owner for a path */
	SB_LIFETIME_HOLD = 1,		/* the broker keeps the socket until released */
	SB_LIFETIME_OWNER = 2,		/* released when the creating process exits */
};

enum sb_kind {
	SB_KIND_SOCKET_ENTRY = 1,	/* a socket at a short path */
	SB_KIND_FD_ENTRY = 2,		/* any fd stored with sb_put() */
};

#define SB_BIND_F_LISTEN	0x1u	/* listen(2) on the socket */
#define SB_BIND_F_PREPARE	0x2u	/* only make the directory: the caller binds */
#define SB_BIND_F_BOUND		0x4u	/* after PREPARE: the caller's socket is bound
					   (and listening); wakes waiters */

struct sb_bind_opts {
	int		type;		/* SOCK_STREAM (0 means stream), SOCK_SEQPACKET, SOCK_DGRAM */
	unsigned	flags;		/* SB_BIND_F_* */
	mode_t		mode;		/* permission bits of the socket; 0 means 0600 */
	gid_t		gid;		/* group; (gid_t)-1 means the caller's */
	enum sb_lifetime lifetime;
};
#define SB_BIND_OPTS_INIT { 0, 0, 0, (gid_t)-1, SB_LIFETIME_DEFAULT }

struct sb_entry_info {
	const char	*key;
	const char	*short_path;	/* NULL for fd entries */
	enum sb_kind	 kind;
	enum sb_lifetime lifetime;
	int		 type;		/* SOCK_* for socket entries, 0 otherwise */
	uid_t		 uid;		/* owner */
	pid_t		 pid;		/* the live owner process (lifetime owner), else 0 */
	gid_t		 gid;
	mode_t		 mode;
	uint64_t	 ctime;		/* seconds since the epoch */
	unsigned	 holders;	/* fds the broker holds (0 or 1) */
	int		 listening;
};

struct sb_status {
	unsigned	version;	/* protocol version */
	unsigned	entries;
	unsigned	clients;
	uint64_t	uptime;		/* seconds */
	pid_t		pid;
};

#define SB_VERSION_SIZE		32	/* buffer for a package version, NUL included */

/* sb_status_details(): struct sb_status, who the broker is, and its limits. */
struct sb_status_details {
	struct sb_status status;
	int		details;	/* 0: an older broker told only status */
	char		version[SB_VERSION_SIZE];	/* its package version, "0.1.0" */
	char		root[SB_SHORT_PATH_SIZE];	/* its runtime root */
	unsigned	max_clients;
	unsigned	max_clients_per_uid;	/* root is not capped */
	unsigned	max_entries;
	unsigned	max_entries_per_uid;	/* root is not capped */
	unsigned	client_timeout_ms;	/* an idle client is dropped after it */
};

/* Key helpers: no broker needed. */

/* 0 if key is a valid name or absolute path key, else -EINVAL/-ENAMETOOLONG. */
SB_EXPORT int sb_key_check(const char *key);
/* Is key a path key (starts with '/')? */
SB_EXPORT int sb_key_is_path(const char *key);
/*
 * Turn a path (relative to the working directory or absolute) into a path
 * key: absolute, its directory resolved with realpath(3) if it exists,
 * repeated and trailing slashes and "." components removed.
 */
SB_EXPORT int sb_key_from_path(const char *path, char *buf, size_t size);
/*
 * The short path of key under root (NULL: the default root): a pure
 * function, stable across broker restarts. Fails with -ENAMETOOLONG if root
 * leaves no room for it.
 */
SB_EXPORT int sb_short_path(const char *root, const char *key, char *buf, size_t size);
/*
 * The default runtime root: $SOCKBROKER_ROOT, else /run/sockbroker for
 * root, else $XDG_RUNTIME_DIR/sockbroker (or /run/user/UID/sockbroker).
 */
SB_EXPORT int sb_default_root(char *buf, size_t size);

/*
 * Clients. root NULL means sb_default_root().
 *
 * When no broker answers (ENOENT, ECONNREFUSED), sb_client_open() and every
 * later reconnection start one on demand: sockbrokerd --root ROOT
 * --idle-exit 60, detached, serialised with a lock on ROOT.lock so that two
 * clients never start two brokers. This is on by default for users other
 * than root (whose broker is a system service), and is decided by
 * SOCKBROKER_AUTOSTART=1|0 when that is set; SB_OPEN_NO_AUTOSTART turns it
 * off for one client.
 */
#define SB_OPEN_NO_AUTOSTART	0x1u
SB_EXPORT int sb_client_open(const char *root, sb_client **ret_client);
SB_EXPORT int sb_client_open_flags(const char *root, unsigned flags, sb_client **ret_client);
SB_EXPORT void sb_client_close(sb_client *client);	/* accepts NULL */
/* The broker's explanation of the last refused request, or "" */
SB_EXPORT const char *sb_client_message(sb_client *client);
/* The limit the last refused request ran into, or 0. */
SB_EXPORT uint64_t sb_client_limit(sb_client *client);

/*
 * Bind a socket for key. On success *ret_fd (if not NULL) is the socket
 * (close-on-exec), or -1 with SB_BIND_F_PREPARE when the caller must bind
 * itself; ret_short_path (if not NULL, size >= SB_SHORT_PATH_SIZE) gets the
 * short path. A path key makes a symlink at the path, with the caller's
 * rights, pointing at the short path: the proof the broker asks for.
 */
SB_EXPORT int sb_bind(sb_client *client, const char *key, const struct sb_bind_opts *opts,
    int *ret_fd, char *ret_short_path, size_t size);
/*
 * Bind the caller's own unbound AF_UNIX socket fd at key's short path: the
 * broker binds that very socket in a directory that stays its own, and the
 * socket file is the caller's (its mode from opts, which may chmod it). The
 * caller then listens on fd itself and tells the broker with sb_bind() and
 * SB_BIND_F_BOUND (a datagram socket is ready at once). opts->flags must be
 * 0; the type is fd's. If the broker already holds a socket for key (a hold
 * entry), fd stays unbound and *ret_fd is that socket (close-on-exec), to
 * use in its place; otherwise *ret_fd is -1. -EOPNOTSUPP: the broker
 * predates this (sb_bind() with SB_BIND_F_PREPARE, then bind(2), instead).
 */
SB_EXPORT int sb_bind_socket(sb_client *client, const char *key, int fd,
    const struct sb_bind_opts *opts, int *ret_fd, char *ret_short_path, size_t size);
SB_EXPORT int sb_get(sb_client *client, const char *key, int *ret_fd);
SB_EXPORT int sb_put(sb_client *client, const char *name, int fd, mode_t mode, gid_t gid);
SB_EXPORT int sb_resolve(sb_client *client, const char *key, char *ret_short_path, size_t size);
/* timeout_ms < 0: wait as long as the broker allows; 0: do not wait. */
SB_EXPORT int sb_wait(sb_client *client, const char *key, int timeout_ms,
    char *ret_short_path, size_t size);
SB_EXPORT int sb_release(sb_client *client, const char *key);
/* Calls cb for each entry the caller may see; a non-zero cb return stops. */
typedef int (*sb_list_cb)(const struct sb_entry_info *entry, void *userdata);
SB_EXPORT int sb_list(sb_client *client, sb_list_cb cb, void *userdata);
SB_EXPORT int sb_status(sb_client *client, struct sb_status *ret_status);
/*
 * The same, with the broker's version, root and limits. A broker older than
 * this call gives only status: ret_details->details is 0, the rest "" or 0.
 */
SB_EXPORT int sb_status_details(sb_client *client, struct sb_status_details *ret_details);
/* Ask the broker to re-execute itself keeping every socket (root only). */
SB_EXPORT int sb_reexec(sb_client *client);

/* strerror for the values these functions return (negative or positive). */
SB_EXPORT const char *sb_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* SOCKBROKER_H */
