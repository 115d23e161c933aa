/* SPDX-License-Identifier: ISC */
/*
 * sb-proto.h: the sockbroker wire protocol, the one description of it.
 *
 * Every message type, field and limit lives here, and so does the version.
 * Bump SB_PROTO_VERSION whenever anything below changes meaning.
 *
 * Transport: AF_UNIX SOCK_SEQPACKET on ROOT/control. One datagram is one
 * message; a message never spans two datagrams. Fds travel as SCM_RIGHTS
 * ancillary data on the message they belong to (at most SB_FDS_MAX; two
 * only in a BIND with SB_BIND_ADOPT of a path key: its proof, then the
 * socket).
 *
 * Message layout (all integers in host byte order: the socket is local):
 *
 *   offset size  what
 *   0      4     magic    SB_PROTO_MAGIC
 *   4      2     version  SB_PROTO_VERSION of the sender
 *   6      2     type     enum sb_msg_type
 *   8      4     length   whole message, header included (== bytes received)
 *   12     4     id       request id chosen by the client, echoed in replies
 *   16     ...   fields   zero or more TLVs, back to back, no padding:
 *                         2 bytes field type (enum sb_field),
 *                         2 bytes value length, then the value.
 *
 * The header layout is frozen for every version, so that a peer speaking
 * another version always gets a readable SB_MSG_ERROR (EPROTONOSUPPORT)
 * instead of a misparse. Field values: u32 is 4 bytes, u64 is 8 bytes,
 * a string is its bytes followed by exactly one NUL (counted in the value
 * length) with no NUL before it. A field may appear at most once; unknown
 * fields, fields not allowed for the message type and missing required
 * fields are protocol errors (EPROTO).
 *
 * Conversation: the client sends requests (0x01xx, 0x03xx); the broker
 * answers each with exactly one SB_MSG_OK or SB_MSG_ERROR carrying the same
 * id, in order, except SB_MSG_LIST, answered by zero or more SB_MSG_ENTRY
 * and then one SB_MSG_END (or SB_MSG_ERROR). A broker handles one request
 * of a client at a time: while a SB_MSG_WAIT is pending it reads nothing
 * more from that client. SB_MSG_HELLO is optional; it tells the client the
 * broker's version range and limits. A message whose version is not
 * SB_PROTO_VERSION is answered by SB_MSG_ERROR EPROTONOSUPPORT and the
 * connection is closed. A connection the broker does not take (a client
 * cap: EUSERS; no fd left: EMFILE) gets one SB_MSG_ERROR of id 0, sent
 * before any request is read, and is closed.
 *
 * Words (one word for one idea, here, in the code, the CLI, the JSON and
 * the man pages; HACKING.md has the rest):
 *   key         what a client names a socket by: a name, or an absolute path
 *   short path  ROOT/XX/HASH/sock, where the broker keeps a key's socket
 *   entry       the broker's record of one key
 *   lifetime    hold (the broker keeps the fd until released) or owner
 *               (released when the creating process exits). "Owner" means
 *               this lifetime only: SB_RELEASE_IF_OWNER is "only if its
 *               lifetime is owner", not an access check; the entry's
 *               user is its uid
 *   held        the broker keeps an fd of the entry; SB_F_HOLDERS is this
 *               0/1, not a count
 *   client      one connection to ROOT/control (the daemon's struct peer)
 *   socktype    SOCK_STREAM, SOCK_SEQPACKET or SOCK_DGRAM; "type" alone is
 *               a message type
 *   kind        what an entry keeps: a socket, or any fd (put)
 *   _MAX        a count, or a length without the NUL (SB_NAME_MAX,
 *               SB_ROOT_MAX)
 *   _SIZE       a buffer size, the NUL included (SB_SHORT_PATH_SIZE);
 *               the two that sockbroker.h has too are defined the same
 *               in both (a definition that differs is a diagnostic)
 */
#ifndef SB_PROTO_H
#define SB_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SB_PROTO_MAGIC		0x4b524253u	/* "SBRK" on little endian */
#define SB_PROTO_VERSION	1
#define SB_HDR_SIZE		16
#define SB_TLV_HDR_SIZE		4

/* Hard limits of the protocol itself. */
#define SB_MSG_MAX		8192	/* bytes in one message, header included */
#define SB_FDS_MAX		2	/* fds in one message (2: ADOPT of a path key) */
#define SB_NAME_MAX		200	/* bytes in a name key */
#define SB_PATH_KEY_MAX		4095	/* bytes in a path key (PATH_MAX - 1) */
#define SB_KEY_MAX		SB_PATH_KEY_MAX
#define SB_MESSAGE_SIZE		512	/* buffer for a human error message, NUL included */
#define SB_SUN_PATH_SIZE	108	/* sizeof(sun_path) */
#define SB_SHORT_PATH_SIZE	108	/* buffer for a short path, NUL included */

/*
 * Short paths: ROOT "/" XX "/" HASH "/sock", XX two hex digits and HASH
 * SB_HASH_CHARS base32 characters, both from SHA-256 of the key.
 * SB_SHORT_TAIL is the length of everything after ROOT.
 */
#define SB_HASH_CHARS		16
#define SB_SOCK_NAME		"sock"
#define SB_SHORT_TAIL		(1 + 2 + 1 + SB_HASH_CHARS + 1 + 4)
/* A short path must fit with its NUL (107 bytes: what swtpm and Python take). */
#define SB_ROOT_MAX		(SB_SUN_PATH_SIZE - 1 - SB_SHORT_TAIL)
#define SB_CONTROL_NAME		"control"

/* Defaults for the limits a broker applies (all configurable in sockbrokerd). */
#define SB_DEFAULT_MAX_CLIENTS		4096
#define SB_DEFAULT_MAX_CLIENTS_PER_UID	256	/* root is not capped */
#define SB_DEFAULT_MAX_ENTRIES		1000000
#define SB_DEFAULT_MAX_ENTRIES_PER_UID	1024	/* root is not capped */
#define SB_DEFAULT_CLIENT_TIMEOUT_MS	(5 * 60 * 1000)	/* idle client */
#define SB_DEFAULT_DRAIN_MS		2000	/* on SIGTERM */
#define SB_DEFAULT_PREPARE_TIMEOUT_S	30	/* a PREPAREd entry not BOUND is reclaimed */
#define SB_PREPARES_PER_PERSON		8	/* pending PREPAREs of one person (root: no cap) */
#define SB_PREPARES_MAX			1024	/* pending PREPAREs of everyone but root */
#define SB_WAIT_TIMEOUT_MAX_MS		(24u * 3600 * 1000)

enum sb_msg_type {
	/* 0x00xx: session */
	SB_MSG_HELLO = 0x0001,

	/* 0x01xx: requests */
	SB_MSG_BIND = 0x0101,
	SB_MSG_GET,
	SB_MSG_PUT,
	SB_MSG_RESOLVE,
	SB_MSG_WAIT,
	SB_MSG_RELEASE,
	SB_MSG_LIST,
	SB_MSG_STATUS,

	/* 0x02xx: replies */
	SB_MSG_OK = 0x0201,
	SB_MSG_ERROR,
	SB_MSG_ENTRY,
	SB_MSG_END,

	/* 0x03xx: administration (root or the broker's own uid only) */
	SB_MSG_REEXEC = 0x0301,
};

enum sb_field_kind { SB_FK_U32 = 1, SB_FK_U64, SB_FK_STR };

/* Field numbers are dense: they index struct sb_msg arrays. */
enum sb_field {
	SB_F_KEY = 1,		/* str: name or absolute path (see key.c) */
	SB_F_SOCKTYPE,		/* u32: SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM */
	SB_F_FLAGS,		/* u32: SB_BIND_* */
	SB_F_MODE,		/* u32: permission bits 0..0777 */
	SB_F_GID,		/* u32: group of the entry */
	SB_F_LIFETIME,		/* u32: enum sb_lifetime_wire */
	SB_F_TIMEOUT_MS,	/* u32: wait timeout, <= SB_WAIT_TIMEOUT_MAX_MS */
	SB_F_ERRNO,		/* u32: positive errno */
	SB_F_MESSAGE,		/* str: human readable, < SB_MESSAGE_SIZE */
	SB_F_SHORT_PATH,	/* str: < SB_SHORT_PATH_SIZE */
	SB_F_UID,		/* u32 */
	SB_F_PID,		/* u32 */
	SB_F_CTIME,		/* u64: creation, seconds since the epoch */
	SB_F_KIND,		/* u32: SB_KIND_* */
	SB_F_HOLDERS,		/* u32: fds the broker holds for the entry (0/1) */
	SB_F_VERSION_MIN,	/* u32 */
	SB_F_VERSION_MAX,	/* u32 */
	SB_F_ENTRIES,		/* u32: entry count (status) */
	SB_F_CLIENTS,		/* u32: client count (status) */
	SB_F_UPTIME,		/* u64: seconds (status) */
	SB_F_LIMIT,		/* u64: the limit an error refers to, if any */
	SB_F_HAS_FD,		/* u32: how many fds are attached, 0..SB_FDS_MAX (checked against cmsg) */
	SB_F_PROOF,		/* u32: 1 if the attached fd is a path proof (bind) */
	SB_F_LISTENING,		/* u32: 1 if the socket listens (entry) */
	/* STATUS with SB_STATUS_DETAILS: who the broker is and its limits */
	SB_F_BROKER_VERSION,	/* str: the broker's package version, < SB_VERSION_SIZE */
	SB_F_ROOT,		/* str: its runtime root, <= SB_ROOT_MAX bytes */
	SB_F_MAX_CLIENTS,	/* u32: --max-clients */
	SB_F_MAX_CLIENTS_PER_UID, /* u32: --max-clients-per-uid */
	SB_F_MAX_ENTRIES,	/* u32: --max-entries */
	SB_F_MAX_ENTRIES_PER_UID, /* u32: --max-entries-per-uid */
	SB_F_CLIENT_TIMEOUT_MS,	/* u32: --client-timeout */
	SB_F__MAX		/* at most 64: struct sb_msg's present is a u64 */
};

#define SB_VERSION_SIZE		32	/* buffer for SB_F_BROKER_VERSION, NUL included */

/*
 * SB_F_FLAGS of SB_MSG_STATUS. A broker that predates a flag refuses the
 * request with EPROTO (a field not allowed), so that a client can ask again
 * without it; a client that sends no flag gets the fields it always got.
 */
#define SB_STATUS_DETAILS	0x1u	/* add BROKER_VERSION ... CLIENT_TIMEOUT_MS */
#define SB_STATUS__ALL		SB_STATUS_DETAILS

/* SB_F_FLAGS of SB_MSG_BIND */
#define SB_BIND_LISTEN		0x1u	/* listen(2) on the new socket */
#define SB_BIND_PREPARE		0x2u	/* make the directory only: the client binds */
#define SB_BIND_BOUND		0x4u	/* after PREPARE: the client's socket is bound
					   (and listening, for stream/seqpacket) at the
					   short path; the entry is ready, waiters wake */
#define SB_BIND_ADOPT		0x8u	/* the client's own unbound socket is attached:
					   the broker binds it at the short path in its
					   own directory, gives the socket file to the
					   client and sends it back to no one; the
					   client listens, then sends BOUND */
#define SB_BIND_SAY_LIFETIME	0x10u	/* the OK names the entry's LIFETIME (an
					   existing entry's may not be the one asked
					   for); asked, since an older client's
					   decoder refuses a field it does not know */
#define SB_BIND__ALL		(SB_BIND_LISTEN | SB_BIND_PREPARE | SB_BIND_BOUND | \
				 SB_BIND_ADOPT | SB_BIND_SAY_LIFETIME)

/* SB_F_FLAGS of SB_MSG_RELEASE */
#define SB_RELEASE_IF_OWNER	0x1u	/* only an owner-lifetime entry: a held one
					   stays, ERROR EBUSY (the shim's unlink) */
#define SB_RELEASE__ALL		SB_RELEASE_IF_OWNER

/* SB_F_LIFETIME */
enum sb_lifetime_wire {
	SB_LT_HOLD = 1,		/* the broker keeps an fd until released */
	SB_LT_OWNER = 2,	/* released when the creating process exits */
};

/* SB_F_KIND */
enum sb_kind_wire {
	SB_KIND_SOCKET = 1,	/* a socket at the short path */
	SB_KIND_FD = 2,		/* any fd stored with put; no short path */
};

/*
 * Requests: required (R) and optional (o) fields; replies on success.
 *
 * HELLO    o VERSION_MIN, VERSION_MAX
 *          -> OK VERSION_MIN, VERSION_MAX
 * BIND     R KEY; o SOCKTYPE (default stream), FLAGS, MODE (default 0600),
 *          GID, LIFETIME (default hold for a name, owner for a path);
 *          a path key needs PROOF=1 with an fd attached: an O_PATH fd of a
 *          symlink, made by the caller at the key's path, pointing at the
 *          short path (the caller's proof that it may create that path).
 *          -> OK SHORT_PATH, HAS_FD=1 with the socket attached, and
 *             LIFETIME if asked (SAY_LIFETIME: the entry's, which an
 *             existing entry keeps whatever was asked) (PREPARE: HAS_FD=1
 *             only if a held socket exists and is handed back; otherwise
 *             the directory is ready for the client's own bind at
 *             SHORT_PATH)
 *          ADOPT: the client's unbound socket attached (HAS_FD=1; a
 *          path key: HAS_FD=2, the proof first, the socket second); not
 *          with LISTEN, PREPARE or BOUND. The broker binds that socket at
 *          SHORT_PATH, in a directory that stays the broker's, and gives
 *          the socket file to the caller -> OK SHORT_PATH, no fd. The
 *          entry is ready once BOUND (after the client's listen); a dgram
 *          socket is ready at once. A broker that predates ADOPT refuses
 *          it with EINVAL "unknown bind flags" (a name) or drops the
 *          connection with EBADMSG (two fds): the client PREPAREs then.
 *          PREPARE: at most SB_PREPARES_PER_PERSON pending (not BOUND)
 *          per person and SB_PREPARES_MAX for all non-root uids
 *          (EAGAIN); one not BOUND within --prepare-timeout is released.
 *          BOUND: R KEY of an entry this client's process PREPAREd; no
 *          other field but FLAGS, and optionally HAS_FD=1 with the bound
 *          socket attached, which a hold entry keeps -> OK (LIFETIME
 *          with SAY_LIFETIME)
 * GET      R KEY -> OK SHORT_PATH (socket entries), KIND, HAS_FD=1 + fd;
 *          an entry without a held fd (lifetime owner) -> ERROR ENXIO
 * PUT      R KEY (a name), HAS_FD=1 + fd; o MODE, GID -> OK
 * RESOLVE  R KEY -> OK SHORT_PATH, KIND
 * WAIT     R KEY; o TIMEOUT_MS (0 or absent: do not wait)
 *          -> OK SHORT_PATH, KIND once the entry exists and is ready (a
 *          PREPAREd entry is ready once BOUND); ERROR ETIMEDOUT
 * RELEASE  R KEY; o FLAGS (SB_RELEASE_*) -> OK
 * LIST     -> ENTRY* then END. ENTRY: KEY, KIND, UID, PID, GID, MODE,
 *             LIFETIME, CTIME, HOLDERS, LISTENING; o SOCKTYPE, SHORT_PATH.
 *             PID is the live process that owns the entry (lifetime
 *             owner, tracked by the broker), 0 if there is none: the
 *             process that made a hold entry is usually long gone.
 * STATUS   o FLAGS (SB_STATUS_*)
 *          -> OK VERSION_MIN, VERSION_MAX, ENTRIES, CLIENTS, UPTIME, PID;
 *             with SB_STATUS_DETAILS also BROKER_VERSION, ROOT,
 *             MAX_CLIENTS, MAX_CLIENTS_PER_UID, MAX_ENTRIES,
 *             MAX_ENTRIES_PER_UID, CLIENT_TIMEOUT_MS
 * REEXEC   -> OK, then the broker re-executes itself keeping every fd
 * ERROR    ERRNO; o MESSAGE, LIMIT
 */

/* A decoded message. Strings point into the buffer that was decoded. */
struct sb_msg {
	uint16_t	 version;
	uint16_t	 type;
	uint32_t	 id;
	uint64_t	 present;		/* bit (1 << field) */
	uint64_t	 num[SB_F__MAX];	/* u32 and u64 fields */
	const char	*str[SB_F__MAX];	/* string fields */
	uint16_t	 len[SB_F__MAX];	/* string lengths, NUL excluded */
	int		 fd;			/* attached fd or -1 (owned by caller) */
	int		 fd2;			/* a second fd (ADOPT of a path key) or -1 */
};

#define SB_HAS(m, f)	((unsigned)((m)->present >> (f)) & 1u)

/* Field f of a decoded m, or dflt if m does not have it. */
static inline uint32_t
sb_msg_u32(const struct sb_msg *m, enum sb_field f, uint32_t dflt)
{
	return SB_HAS(m, f) ? (uint32_t)m->num[f] : dflt;
}

static inline uint64_t
sb_msg_u64(const struct sb_msg *m, enum sb_field f, uint64_t dflt)
{
	return SB_HAS(m, f) ? m->num[f] : dflt;
}

/*
 * Does a received m's HAS_FD (absent or 0: no fd; 1: one fd; 2: two) agree
 * with the fds that came with it (m->fd, m->fd2)? Checked where messages
 * are received, before anything reads m->fd.
 */
static inline int
sb_msg_fd_matches(const struct sb_msg *m)
{
	uint32_t has = sb_msg_u32(m, SB_F_HAS_FD, 0);

	return has <= SB_FDS_MAX && (m->fd >= 0) == (has >= 1) && (m->fd2 >= 0) == (has == 2);
}

void	 sb_msg_init(struct sb_msg *m, uint16_t type, uint32_t id);
void	 sb_msg_set_u32(struct sb_msg *m, enum sb_field f, uint32_t v);
void	 sb_msg_set_u64(struct sb_msg *m, enum sb_field f, uint64_t v);
void	 sb_msg_set_str(struct sb_msg *m, enum sb_field f, const char *s);

/*
 * Encode m into buf (cap bytes). Returns the length, or -EMSGSIZE if it
 * does not fit SB_MSG_MAX or cap, -EINVAL for a field of the wrong kind or
 * not allowed for the type, or a string over its limit.
 */
ssize_t	 sb_msg_encode(const struct sb_msg *m, uint8_t *buf, size_t cap);

/*
 * Decode len bytes of buf into m (m->fd and m->fd2 are left as they are). Checks the
 * magic, the length against len, every field length against what remains,
 * field kinds and limits, and the required/allowed fields of the type.
 * Returns 0, -EBADMSG (not a message: bad magic, short header, length
 * mismatch, truncated field), -EPROTONOSUPPORT (other version: m->version
 * and m->id are set so that an error can be sent back), -EPROTO (bad
 * fields or unknown type), -EMSGSIZE (over SB_MSG_MAX).
 */
int	 sb_msg_decode(struct sb_msg *m, const uint8_t *buf, size_t len);

/* Is this message type a request a client may send? */
int	 sb_msg_is_request(uint16_t type);
const char *sb_msg_type_name(uint16_t type);

#endif /* SB_PROTO_H */
