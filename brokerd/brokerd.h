/* SPDX-License-Identifier: ISC */
/*
 * brokerd.h: what the files of sockbrokerd share.
 *
 * The files, from the top layer down. The rule: a file calls only files
 * below it in this list; a call up goes through the ops the upper layer
 * hands down (struct server_ops, struct entry_ops). tests/unit-layers.py
 * reads this list and the object files and fails on a call up it. A new
 * file goes into this list at its layer. (cfg, the configuration, is data
 * that main.c fills in at start and every file reads.)
 *
 * main.c     options, the runtime root, start, re-exec and exit
 * request.c  one function per request type, access rules, quotas
 * track.c    the processes of owner entries (pidfds), lingering entries,
 *            a peer's root directory
 * server.c   the event loop (libevent: only it and track.c): the control
 *            socket, peers and their output queues, waiters, signals,
 *            timers
 * state.c    the state file (journal + atomic compaction)
 * sd.c       systemd: activation, notify, watchdog, fd store (if built)
 * fdholder.c the held fds in an s6-fdholderd (--fdholder), s6's fd store
 * linkrm.c   the link at a long path, removed when its process is gone
 * holders.c  is a socket still bound at an entry's file (sock_diag)
 * entry.c    the entry table, the files under the root
 * proof.c    the path proof check, on a thread of its own (proof.h)
 * closer.c   threads that close the fds clients gave us (closer.h)
 * cleaner.c  removing entry directories, off the event loop
 * person.c   which uids are one person, for quotas (/etc/subuid)
 * reexec.c   the re-exec handover: its memfd lines, written and read
 * log.c      the log on stderr (journal priorities, refusals rate-limited)
 */
#ifndef BROKERD_H
#define BROKERD_H

#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

#include "sb-proto.h"

#define EXIT_USAGE	100
#define EXIT_SYSTEM	111

/* "xx" + HASH: the name of an entry's directory pair, and its FDNAME= */
#define ENTRY_ID_LEN	(2 + SB_HASH_CHARS)

/*
 * At most this many held fds go to the service manager's fd store (less if
 * $FDSTORE, systemd >= 254, says so). systemd gives them back with their
 * names in one variable, LISTEN_FDNAMES, and execve() refuses a variable
 * over MAX_ARG_STRLEN (131,072 bytes with its name and NUL): with
 * "LISTEN_FDNAMES=control" (22 bytes) and 19 bytes (':' + id) per fd,
 * at most 6,897 fit. The units set FileDescriptorStoreMax= to this.
 */
#define FDSTORE_MAX	6000

struct config {
	char		 root[SB_SHORT_PATH_SIZE];
	size_t		 root_len;
	int		 root_fd;
	int		 ready_fd;
	int		 verbose;
	unsigned	 max_clients;
	unsigned	 max_clients_per_uid;
	unsigned	 max_entries;
	unsigned	 max_entries_per_uid;
	unsigned	 client_timeout_ms;
	unsigned	 prepare_timeout_s;	/* a PREPAREd entry not BOUND is released */
	unsigned	 idle_exit_s;
	const char	*subuid;		/* the subordinate uid ranges */
	int		 control_fd;		/* adopted control socket, or -1 */
	const char	*fdholder;		/* --fdholder: s6-fdholderd's socket */
	int		 reexec;		/* started by our own re-exec */
	char		*self_exe;		/* argv[0] for re-exec */
	char	       **argv;
};
extern struct config cfg;

/* log.c: stderr, with sd-daemon(3) priorities when it is the journal */
void	 log_init(void);
/*
 * A refusal of uid's request (what: "bind", "connect", ...), rate-limited:
 * 1 if it was left out, and log_refusals_flush() is due in
 * log_refusals_window() seconds to say how many were.
 */
int	 log_refusal(uid_t uid, pid_t pid, const char *what, int err, const char *msg);
void	 log_refusals_flush(void);
unsigned log_refusals_window(void);
void	 log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	 log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	 fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Entry flags */
#define EF_LISTENING	0x01u	/* the socket listens */
#define EF_READY	0x02u	/* waiters may be answered */
#define EF_HELD		0x04u	/* the broker holds an fd (fd >= 0 while running) */
#define EF_PREPARED	0x08u	/* made with PREPARE: the client binds */
#define EF__ALL		0x0fu

struct proc;

struct entry {
	struct entry	*hnext;		/* chain of the table by key */
	uint64_t	 khash;		/* seeded hash of key */
	struct entry	*prev, *next;	/* every entry, oldest first */
	struct entry	*pnext;		/* entries of the same tracked process */
	struct proc	*proc;		/* owner lifetime: the tracked creator */
	uint64_t	 starttime;	/* of pid, from /proc/PID/stat (owner) */
	int64_t		 ctime;
	int		 fd;		/* held fd or -1 */
	uid_t		 uid;
	gid_t		 gid;
	pid_t		 pid;
	uint16_t	 mode;
	uint8_t		 kind;		/* SB_KIND_* */
	uint8_t		 socktype;	/* SOCK_*, 0 for fd entries */
	uint8_t		 lifetime;	/* SB_LT_* */
	uint8_t		 flags;		/* EF_* */
	uint8_t		 dir_unchecked;	/* since start: its directory not seen yet */
	uint8_t		 in_fdstore;	/* its fd is in the service manager's store */
	uint8_t		 lingering;	/* owner: its creator exited, its socket is held */
	int		 link_root;	/* lingering: the creator's /proc/PID/root, or -1 */
	uint8_t		 in_fdholder;	/* its fd is in the s6-fdholderd (--fdholder) */
	uint8_t		 view;		/* 0..SB_VIEW_MAX: which claim of a path key */
	uint8_t		 adopted;	/* ADOPT: its directory stays the broker's */
	uint8_t		 prep_pending;	/* on the list of pending PREPAREs */
	uint8_t		 prep_counted;	/* ... and counted (not adopted) */
	uint8_t		 linked;	/* in the table (entry_insert) */
	struct entry	*prep_prev, *prep_next;	/* that list, oldest first */
	int64_t		 prep_deadline;	/* CLOCK_MONOTONIC ms: released if not BOUND */
	uint16_t	 keylen;
	char		 id[ENTRY_ID_LEN + 1];
	char		 key[];
};

/* entry.c: the table */
void		 entries_init(void);
void		 entries_reserve(size_t n);
struct entry	*entry_new(const char *key);
struct entry	*entry_find(const char *key, struct entry **ret_collision);
/*
 * Views (a path key claimed by different uids in different mount
 * namespaces): each claim is an entry of its own, at its own short path.
 * View 0 is the host's: only a claim whose proof link is the very file the
 * broker sees at that path in its own view gets it; a claim proved in
 * another view gets a view from 1 up. entry_new_view makes view n of key;
 * entry_find_view finds it; entry_find_for the one a request of uid by key
 * alone may reach: uid's own, else the host's (view 0), never another view
 * (that takes the caller's own link, request.c); entry_views_other whether
 * key has a claim in a view other than the host's and none of uid (then
 * the caller's link decides); entry_find_sole the entry of key if it has
 * one only; entry_view_free the lowest view from "from" that no entry of
 * key nor another key's id takes (-1: all up to SB_VIEW_MAX taken).
 */
struct entry	*entry_new_with_id(const char *key, unsigned view, const char *id);
struct entry	*entry_new_view(const char *key, unsigned view);
struct entry	*entry_find_view(const char *key, unsigned view);
struct entry	*entry_find_uid(const char *key, uid_t uid);
struct entry	*entry_find_for(const char *key, uid_t uid);
int		 entry_views_other(const char *key, uid_t uid);
struct entry	*entry_find_sole(const char *key);
int		 entry_view_free(const char *key, unsigned from);
struct entry	*entry_by_id(const char *id);
int		 entries_room(void);
void		 entries_load_begin(size_t n, size_t key_bytes);
void		 entries_load_end(void);
uint64_t	 entry_load_hint(const struct entry *e);
int		 entry_load_may_exist(uint64_t idh);
void		 entry_insert_hashed(struct entry *e, uint64_t idh);
void		 entry_insert(struct entry *e);
void		 entry_unlink(struct entry *e);
void		 entry_free(struct entry *e);
struct entry	*entry_first(void);
unsigned	 entries_total(void);
/* of uid's person (person.c), not of uid alone */
unsigned	 entries_of(uid_t uid);
unsigned	*uid_clients(uid_t uid);
unsigned	 entries_nonroot(void);
void		 entry_short_path(const struct entry *e, char *buf, size_t size);
/* entry.c: the files */
int		 entry_dir_make(struct entry *e, uid_t dir_uid, int *ret_dirfd,
		    char *err, size_t errlen);
int		 entry_dir_open(const struct entry *e);
void		 entry_dirs_check_begin(void);
void		 entry_dir_check_mark(struct entry *e);
int		 entry_dirs_check_pending(void);
int		 entry_dirs_check_step(void);
int		 entry_dir_checked(struct entry *e, int (*want)(const struct entry *));
int		 entry_dir_finish(struct entry *e, int dirfd);
/*
 * ADOPT: bind the client's socket s (unbound, checked by the caller) at
 * e's short path in dirfd, the file e's uid's with e's mode; s is borrowed.
 */
int		 entry_sock_adopt(struct entry *e, int dirfd, int s, char *err, size_t errlen);
/*
 * Pending PREPAREs: an entry of the table that is prepared (or adopted)
 * and not ready is on a list with a deadline (--prepare-timeout); only
 * those not adopted (their directory their client's) are counted. entry_prepare_update() puts e on it or takes it off
 * as its flags say (entry_insert and entry_unlink call it too);
 * prepares_of() counts those of uid's person, prepares_nonroot() those
 * of every uid but root; entry_prepares_expire() releases the entries
 * whose deadline passed and returns the ms to the next deadline, or -1.
 */
void		 entry_prepare_update(struct entry *e);
unsigned	 prepares_of(uid_t uid);
unsigned	 prepares_nonroot(void);
long		 entry_prepares_expire(void);
int		 entry_dir_reclaim(const struct entry *e, int dirfd);
int		 entry_sock_make(struct entry *e, int dirfd, int *ret_fd,
		    char *err, size_t errlen);
void		 entry_files_remove(const struct entry *e);
/*
 * What entry.c calls in the layers above it when an entry goes: main.c
 * sets them (server.c, track.c, state.c, sd.c) before the first entry is released.
 */
struct entry_ops {
	void	(*gone)(struct entry *e);		/* waiters' cursors, lingering */
	void	(*untrack)(struct entry *e);		/* its creator process */
	void	(*fdstore_remove)(struct entry *e);	/* the service manager's copy */
	int	(*journal_del)(const struct entry *e);	/* 0, or -errno: e stays */
	void	(*stats_changed)(void);
};
void		 entries_set_ops(const struct entry_ops *ops);
/* Forget e everywhere (journal, process, waiters' cursors), remove its files */
void		 entry_destroy(struct entry *e, const char *why);
/* The same for a request: -errno, e untouched, if its release cannot be journaled */
int		 entry_release(struct entry *e, const char *why);
/* Forget e, already out of the table (replaced by an entry of its key, journaled) */
void		 entry_teardown(struct entry *e, const char *why);

/* cleaner.c: entry directories are removed off the event loop */
int		 cleaner_init(void);
int		 cleaner_trash(int xfd, const char *xx, const char *name);
int		 dir_open_beneath(int dirfd, const char *name);
struct stat;
int		 stat_beneath(int dirfd, const char *name, struct stat *st);

/* person.c: a uid of a subordinate range (/etc/subuid) is its owner's */
void		 persons_load(const char *path);
uid_t		 person_of(uid_t uid);
void		 person_name(uid_t uid, char *buf, size_t size);

/*
 * Of a global cap, this much is kept for root: non-root uids together take
 * at most cap - ROOT_RESERVE(cap).
 */
#define ROOT_RESERVE(cap)	((cap) >= 16 ? (cap) / 16 : (cap) > 1 ? 1u : 0u)

/* state.c */
/* the name of the re-exec's snapshot of the table among the fds it passes */
#define REEXEC_STATE_NAME	"sockbrokerd-state"
int		 state_load(int snapfd);
int		 state_snapshot(void);
int		 state_journal_stale(void);
int		 state_compact(void);
int		 state_compact_wanted(void);
/* 0 once the record is written and synced, or -errno (ENOSPC, EIO): refuse */
int		 state_set(const struct entry *e);
int		 state_del(const struct entry *e);
/* the errno that keeps the journal from being written, or 0 */
int		 state_readonly(void);
void		 state_close(void);

/* server.c */
struct peer;
struct peer_cred {
	uid_t		 uid;
	gid_t		 gid;
	pid_t		 pid;
	int		 ngroups;	/* -1 until asked: peer_cred_groups() */
	gid_t		*groups;
};
/*
 * What server.c calls in the layer above it (request.c's request_ops): the
 * server owns the peers and the event loop, and hands each decoded request
 * up through dispatch.
 */
struct server_ops {
	/* a request whose fd (if any) its type allows; the handler may keep m->fd */
	void	(*dispatch)(struct peer *p, struct sb_msg *m);
	/* the waiter of p on key: 1 if answered (final: now, the entry or ETIMEDOUT) */
	int	(*wait_check)(struct peer *p, uint32_t id, const char *key, int final);
	/* proof checks of path binds: results came, one timed out, its peer went */
	void	(*proofs_poll)(void);
	void	(*proof_timeout)(struct peer *p);
	/* p goes (its proof check or a waiter's lookup may be pending) */
	void	(*peer_gone)(struct peer *p);
	/* fill p's output with ENTRY messages from *cursor; 1 when END was sent */
	int	(*list_fill)(struct peer *p, uint32_t id, struct entry **cursor, int room);
};
int		 server_init(const struct server_ops *ops);
/* ERROR err for request id of p, logged (rate-limited) */
void		 refuse(struct peer *p, uint32_t id, int err, uint64_t limit,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int		 server_control_fd(void);
void		 server_reexec_peers(void);
void		 server_reexec_failed(void);
void		 server_adopt_peer(int fd, const char *arg);
void		 server_start(void);
void		 server_defer(int (*step)(void));
int		 server_run(void);
void		 server_remove_control(void);
const struct peer_cred *peer_cred(const struct peer *p);
/* its supplementary groups, asked of the kernel once: their number (0: none known) */
int		 peer_cred_groups(const struct peer_cred *c, const gid_t **ret);
int		 peer_sock(const struct peer *p);
/* Queue a message to p; fd (if >= 0) is borrowed: it is duplicated if needed */
void		 peer_send(struct peer *p, const struct sb_msg *m, int fd);
void		 peer_drop(struct peer *p);
void		 peer_wait(struct peer *p, uint32_t id, const char *key, uint32_t timeout_ms);
void		 peer_list(struct peer *p, uint32_t id);
void		 peer_proof_wait(struct peer *p, uint32_t id, unsigned ms);
void		 peer_proof_done(struct peer *p);
int		 peer_is_waiting(const struct peer *p);
void		 peer_wait_done(struct peer *p);
void		 server_wake(const struct entry *e);
/* has process pid a connection open (its exit waits for them: track.c) */
int		 server_pid_connected(pid_t pid);
void		 server_entry_gone(struct entry *e);
unsigned	 server_clients(void);
uint64_t	 server_uptime(void);
/* the event loop, for track.c's events */
struct event_base;
struct event_base *server_event_base(void);
void		 server_reexec_request(void);
void		 server_stats_changed(void);
/* a PREPARE is pending: make sure the timer that releases stale ones runs */
void		 server_prepares_arm(void);
/* log_refusal() left a line out: flush the count once its window is over */
void		 server_refusal_dropped(void);

/*
 * track.c: track_init() once server_init() made the loop. proc_track():
 * track peer p's process as the creator of owner entry e (e->pid), whose
 * exit destroys e; proc_untrack(): forget it (e goes, or lingers no more);
 * proc_adopt(): after a restart, track e's process if it is still the one
 * that made e (its start time), -ESRCH if not; linger_adopt(): then keep
 * e anyway if a socket is still bound at its file (0 if e lingers, -errno
 * to release it); proc_starttime(): field 22 of /proc/PID/stat, or 0;
 * peer_root_open(): an O_PATH fd of p's root directory, or -errno;
 * peer_root_lend(): while p's request goes on, peer_root_open(p) takes *fd
 * (setting it to -1) instead (NULL, NULL: no more).
 */
int		 track_init(void);
int		 proc_track(struct entry *e, struct peer *p);
void		 proc_untrack(struct entry *e);
int		 proc_adopt(struct entry *e);
int		 linger_adopt(struct entry *e);
uint64_t	 proc_starttime(pid_t pid);
int		 peer_root_open(struct peer *p);
void		 peer_root_lend(struct peer *p, int *fd);

/*
 * linkrm.c: remove e's link at its long path (a path key) on a thread,
 * as its owner (no supplementary group), beneath rootfd (the creator's
 * root directory, borrowed): prepare before e is destroyed (NULL and errno
 * EAGAIN if 8 removals of e's person are pending), start once its directory
 * is gone. linkrm_pending: how many are prepared and not finished.
 */
struct linkrm;
struct linkrm	*linkrm_prepare(int rootfd, const struct entry *e);
void		 linkrm_start(struct linkrm *job);
unsigned	 linkrm_pending(void);

/* holders.c: which entries' socket files still have a bound socket */
struct holder_id {
	uint32_t	 dev;		/* of the socket file, as sock_diag gives them */
	uint32_t	 ino;
	int		 found;
};
int		 holders_sock_id(const struct entry *e, struct holder_id *ret);
int		 holders_find(struct holder_id *ids, size_t n);

/* request.c: the server's ops (server_init) */
extern const struct server_ops request_ops;
void		 request_dispatch(struct peer *p, struct sb_msg *m);
int		 request_wait_check(struct peer *p, uint32_t id, const char *key, int final);
void		 request_proofs_poll(void);
void		 request_proof_timeout(struct peer *p);
void		 request_peer_gone(struct peer *p);
int		 request_list_fill(struct peer *p, uint32_t id, struct entry **cursor, int room);

/*
 * reexec.c: the only writer and reader of the handover (its format is at
 * the top of reexec.c). reexec_begin(): the memfd, or -errno; reexec_put():
 * a line "FD NAME [TAIL]"; reexec_put_wait(): a waiting client's line, its
 * WAIT request encoded by the codec (0, or -errno: no line written);
 * both gather their lines in memory, and reexec_flush() writes them to the
 * memfd (0, or -errno: the handover is not whole); reexec_exec(): that,
 * then execv() with the memfd named, returns (memfd closed) only
 * if that failed; reexec_adopt(): the fds of the previous image, 1 if this
 * is no re-exec; reexec_parse_wait(): the ARG of a "wait" line, -EINVAL if
 * it is none (a damaged or truncated one among them).
 */
struct adopted;
int		 reexec_pending(void);
int		 reexec_begin(void);
void		 reexec_put(int fd, const char *name, const char *tail);
int		 reexec_put_wait(int fd, uint32_t id, unsigned long ms, const char *key);
int		 reexec_flush(int mfd);
void		 reexec_exec(int mfd, char **argv);
int		 reexec_adopt(struct adopted **ret, size_t *ret_n);
int		 reexec_parse_wait(const char *arg, uint32_t *ret_id, unsigned long *ret_ms,
		    char key[SB_KEY_MAX + 1]);

/* sd.c (stubs when built without systemd): systemd_*, out of libsystemd's sd_* */
struct adopted {
	int		 fd;
	char		 name[256];
	char		*arg;		/* re-exec: a pending wait of a peer */
};
void		 systemd_init(void);
int		 systemd_adopt(struct adopted **ret, size_t *ret_n);
void		 systemd_ready(void);
void		 systemd_status(unsigned entries, unsigned clients);
void		 systemd_stopping(void);
uint64_t	 systemd_watchdog_usec(void);
void		 systemd_watchdog_ping(void);
void		 systemd_fdstore_add(struct entry *e);
void		 systemd_fdstore_kept(struct entry *e);
void		 systemd_fdstore_remove(struct entry *e);
void		 systemd_fdstore_remove_name(const char *name);

/* fdholder.c (nothing without --fdholder); systemd_fdstore_* call them too */
void		 fdholder_adopt(struct adopted **fds, size_t *nfds);
void		 fdholder_sync(int control_fd);
void		 fdholder_store(struct entry *e);
void		 fdholder_delete(struct entry *e);
void		 fdholder_delete_name(const char *name);
int		 fdholder_keeps_control(void);

#endif /* BROKERD_H */
