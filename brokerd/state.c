/* SPDX-License-Identifier: ISC */
/*
 * state.c: entry metadata that survives a restart.
 *
 * ROOT/state is an append-only journal: a 32-byte file header (the magic
 * "SBSTATE2" and three copies of a random 8-byte salt chosen when the file
 * is written, so that one damaged byte costs nothing), then records, each written before the
 * reply that depends on it, and fdatasynced too unless it is of an owner
 * entry:
 *
 *   u32 magic REC_MAGIC, u32 payload length, u32 checksum, payload:
 *     u8 op (REC_SET: create or replace, REC_DEL: release), then
 *     SET: u8 kind, socktype, lifetime, flags | view << 4; u16 mode, keylen;
 *          (mode | REC_MODE_ADOPTED: made by ADOPT, its directory the
 *          broker's; never set in older journals)
 *          u32 uid, gid, pid; u64 starttime, ctime; key bytes (no NUL)
 *     DEL: u8 view, u16 keylen, key bytes
 *   (view: which claim of a path key, 0..SB_VIEW_MAX; 0 in older journals)
 *
 * The checksum is FNV-1a (64 bits, folded) of the salt, the length and the
 * payload: a record is self-delimiting and checked, and a client cannot
 * forge one inside a key, since it never sees the salt. Loading validates
 * every record like wire input; a damaged one is skipped with a warning
 * naming its offset, and the records after it (found again by their magic
 * and checksum) are kept; the damaged file stays beside the new one as
 * ROOT/state.damaged.TIME. A version-1 journal ("SBSTATE1", unsalted
 * FNV-1a 32 of the payload) is still read, and rewritten as version 2.
 *
 * Durability: a written record survives the broker (kill -9, a crash, a
 * re-exec: it is in the page cache). Only a crash of the machine can lose
 * one that was not synced, and that ends every owner entry's process too:
 * an owner entry found at the next start without its process is released
 * anyway. So an owner entry's records (its bind, BOUND, release) are
 * written and not synced, which was most of a shimmed bind's time on a
 * disk-backed root (bench/README); a hold entry's, and an fd's, are synced
 * before the reply, and each sync also makes every earlier record durable,
 * so what a machine crash can cost is a tail of owner records, which the
 * loader skips as it skips any damaged record.
 *
 * A record that cannot be written (ENOSPC, EIO) is cut off again and its
 * request refused with that errno; the broker is then read-only for
 * changes, saying so, until a record can be written again. The journal is
 * compacted (ROOT/state.tmp written, checked, fsynced, renamed over
 * ROOT/state) when it holds about twice as many records as live entries,
 * at start if it holds more records than entries or damaged ones, and at
 * a clean exit; a compaction that fails leaves the old
 * journal in place and in use.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "brokerd.h"
#include "sb-internal.h"
#include "sockbroker.h"

#define STATE_NAME	"state"
#define STATE_TMP	"state.tmp"
#define FILE_MAGIC1	"SBSTATE1"
#define FILE_MAGIC2	"SBSTATE2"
#define FILE_HDR1	8
#define FILE_HDR2	32
#define REC_MAGIC1	0x31524253u	/* "SBR1" */
#define REC_MAGIC2	0x32524253u	/* "SBR2" */
#define REC_SET		1
#define REC_DEL		2
#define REC_HDR		12
#define REC_MODE_ADOPTED 0x8000u	/* in a SET's mode: e->adopted */
#define SET_FIXED	(1 + 4 + 4 + 12 + 16)
#define REC_MAX		(REC_HDR + SET_FIXED + SB_KEY_MAX)
#define STATE_MAX	((off_t)1 << 31)
#define COMPACT_RETRY	1024	/* records before a failed compaction is tried again */

static int	 jfd = -1;
static int	 jver = 2;		/* format of the journal jfd writes to */
static uint8_t	 jsalt[8];		/* its salt (version 2) */
static unsigned	 jrecords;
static int	 jdamaged;		/* the loaded journal had damaged or invalid records */
static unsigned	 compact_at;		/* after a failure: not before this many records */
static int	 readonly_err;		/* the errno that makes us read-only, or 0 */

static uint32_t
fnv32(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n-- > 0)
		h = (h ^ *p++) * 16777619u;
	return h;
}

static uint64_t
fnv64(uint64_t h, const uint8_t *p, size_t n)
{
	while (n-- > 0)
		h = (h ^ *p++) * 1099511628211ull;
	return h;
}

/* The checksum of a record of format ver with payload p[0..n). */
static uint32_t
rec_sum(int ver, const uint8_t *salt, const uint8_t *p, uint32_t n)
{
	uint64_t h;
	uint8_t len[4];

	static uint8_t last_salt[8];
	static uint64_t last_h;
	static int have_last;

	if (ver == 1)
		return fnv32(p, n);
	memcpy(len, &n, 4);
	/* the hash of the salt, the same for every record of a journal: once */
	if (!have_last || memcmp(salt, last_salt, 8) != 0) {
		memcpy(last_salt, salt, 8);
		last_h = fnv64(14695981039346656037ull, salt, 8);
		have_last = 1;
	}
	h = fnv64(last_h, len, 4);
	h = fnv64(h, p, n);
	return (uint32_t)(h ^ (h >> 32));
}

static void
put(uint8_t **p, const void *v, size_t n)
{
	memcpy(*p, v, n);
	*p += n;
}

/* Encode the payload of e's record (or its deletion) at p; its length. */
static size_t
rec_payload(uint8_t *start, const struct entry *e, int op)
{
	uint8_t *p = start, u8;
	uint32_t u32;
	uint64_t u64;
	uint16_t u16;

	u8 = (uint8_t)op;
	put(&p, &u8, 1);
	if (op == REC_SET) {
		put(&p, &e->kind, 1);
		put(&p, &e->socktype, 1);
		put(&p, &e->lifetime, 1);
		u8 = (uint8_t)((e->flags & (EF_LISTENING | EF_READY | EF_HELD | EF_PREPARED)) |
		    e->view << 4);
		put(&p, &u8, 1);
		u16 = (uint16_t)(e->mode | (e->adopted ? REC_MODE_ADOPTED : 0));
		put(&p, &u16, 2);
		put(&p, &e->keylen, 2);
		u32 = e->uid; put(&p, &u32, 4);
		u32 = e->gid; put(&p, &u32, 4);
		u32 = (uint32_t)e->pid; put(&p, &u32, 4);
		u64 = e->starttime; put(&p, &u64, 8);
		u64 = (uint64_t)e->ctime; put(&p, &u64, 8);
	} else {
		u8 = e->view;
		put(&p, &u8, 1);
		u16 = e->keylen;
		put(&p, &u16, 2);
	}
	put(&p, e->key, e->keylen);
	return (size_t)(p - start);
}

/* Encode the record of e (or its deletion) into buf, for a journal of format ver. */
static size_t
rec_encode(uint8_t *buf, const struct entry *e, int op, int ver, const uint8_t *salt)
{
	uint8_t *p = buf + REC_HDR;
	uint32_t u32;

	p += rec_payload(p, e, op);
	u32 = ver == 1 ? REC_MAGIC1 : REC_MAGIC2;
	memcpy(buf, &u32, 4);
	u32 = (uint32_t)(p - buf - REC_HDR);
	memcpy(buf + 4, &u32, 4);
	u32 = rec_sum(ver, salt, buf + REC_HDR, u32);
	memcpy(buf + 8, &u32, 4);
	return (size_t)(p - buf);
}

/* Write all n bytes; 0 or -errno, with the bytes written in *ret_done (if not NULL). */
static int
write_all(int fd, const uint8_t *p, size_t n, size_t *ret_done)
{
	size_t done = 0;
	ssize_t w;
	int r = 0;

	while (done < n) {
		if ((w = write(fd, p + done, n - done)) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		done += (size_t)w;
	}
	if (ret_done != NULL)
		*ret_done = done;
	return r;
}

static void
readonly_set(int r)
{
	if (readonly_err == 0)
		log_warn("unable to write %s/%s: %s: read-only until it can be written again "
		    "(binds, puts and releases are refused with this error)", cfg.root,
		    STATE_NAME, strerror(-r));
	readonly_err = -r;
}

static void
readonly_clear(void)
{
	if (readonly_err != 0)
		log_info("%s/%s can be written again: read-write", cfg.root, STATE_NAME);
	readonly_err = 0;
}

int
state_readonly(void)
{
	return readonly_err;
}

/*
 * Append the record of e: 0 once it is written (and synced, unless e is an
 * owner entry: see the top), or -errno (the journal is then as it was
 * before). The table already shows the change: a compaction this triggers
 * writes it.
 */
static int
journal(const struct entry *e, int op)
{
	uint8_t buf[REC_MAX];
	struct stat st;
	size_t n, done;
	int r;

	if (jfd < 0) {
		/* no journal open (none could be made yet): write the whole state */
		if ((r = state_compact()) < 0)
			readonly_set(r);
		return r;
	}
	n = rec_encode(buf, e, op, jver, jsalt);
	/* O_APPEND: one write, one fdatasync; the offset is only needed on failure */
	if ((r = write_all(jfd, buf, n, &done)) == 0 && e->lifetime != SB_LT_OWNER &&
	    fdatasync(jfd) < 0)
		r = -errno;
	if (r < 0) {
		/* a torn record would cost a record at load: cut off what of it was written */
		if (done > 0 && (fstat(jfd, &st) < 0 || st.st_size < (off_t)done ||
		    ftruncate(jfd, st.st_size - (off_t)done) < 0))
			log_warn("unable to truncate %s/%s: %s", cfg.root, STATE_NAME,
			    strerror(errno));
		readonly_set(r);
		return r;
	}
	readonly_clear();
	jrecords++;
	if (jrecords > 2 * entries_total() + 1024 && jrecords >= compact_at &&
	    state_compact() < 0)
		compact_at = jrecords + COMPACT_RETRY;
	return 0;
}

int
state_set(const struct entry *e)
{
	return journal(e, REC_SET);
}

int
state_del(const struct entry *e)
{
	return journal(e, REC_DEL);
}

/* Buffered, checked writes of a compaction */
struct wbuf {
	int	 fd;
	int	 err;
	size_t	 len;
	uint8_t	 buf[65536];
};

static void
wbuf_flush(struct wbuf *w)
{
	if (w->err == 0 && w->len > 0)
		w->err = write_all(w->fd, w->buf, w->len, NULL);
	w->len = 0;
}

static void
wbuf_put(struct wbuf *w, const void *p, size_t n)
{
	if (w->len + n > sizeof(w->buf))
		wbuf_flush(w);
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void
salt_new(uint8_t *salt)
{
	struct timespec ts;

	if (getrandom(salt, 8, GRND_NONBLOCK) == 8)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	memcpy(salt, &ts.tv_nsec, 4);
	memcpy(salt + 4, &ts.tv_sec, 4);
}

/*
 * Write every live entry to state.tmp (every write checked), fsync, rename
 * over state. On failure the old journal stays, and stays in use.
 */
int
state_compact(void)
{
	uint8_t rec[REC_MAX], salt[8];
	struct wbuf *w;
	struct entry *e;
	int fd, r;

	if ((w = malloc(sizeof(*w))) == NULL)
		return -ENOMEM;
	unlinkat(cfg.root_fd, STATE_TMP, 0);
	fd = openat(cfg.root_fd, STATE_TMP, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0) {
		r = -errno;
		log_warn("unable to create %s/%s: %s", cfg.root, STATE_TMP, strerror(errno));
		free(w);
		return r;
	}
	salt_new(salt);
	w->fd = fd;
	w->err = 0;
	w->len = 0;
	wbuf_put(w, FILE_MAGIC2, 8);
	wbuf_put(w, salt, 8);
	wbuf_put(w, salt, 8);
	wbuf_put(w, salt, 8);
	for (e = entry_first(); e != NULL && w->err == 0; e = e->next)
		wbuf_put(w, rec, rec_encode(rec, e, REC_SET, 2, salt));
	wbuf_flush(w);
	r = w->err;
	free(w);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(cfg.root_fd, STATE_TMP, cfg.root_fd, STATE_NAME) < 0)
		r = -errno;
	if (r < 0) {
		log_warn("unable to compact %s/%s: %s: the journal stays as it was", cfg.root,
		    STATE_NAME, strerror(-r));
		unlinkat(cfg.root_fd, STATE_TMP, 0);
		return r;
	}
	fsync(cfg.root_fd);
	if (jfd >= 0)
		close(jfd);
	jfd = openat(cfg.root_fd, STATE_NAME, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (jfd < 0)
		log_warn("unable to open %s/%s: %s", cfg.root, STATE_NAME, strerror(errno));
	jver = 2;
	memcpy(jsalt, salt, 8);
	jrecords = entries_total();
	compact_at = 0;
	jdamaged = 0;
	readonly_clear();
	return 0;
}

/*
 * Does the journal need rewriting at start? Not when it is already one
 * record per entry in the current format with nothing damaged (after a
 * clean stop, which compacts): a start with 100,000 entries then writes
 * and fsyncs nothing (bench/README).
 */
int
state_compact_wanted(void)
{
	/* read-only: a change the table shows may be missing from the journal */
	return jfd < 0 || jver != 2 || jdamaged || readonly_err != 0 ||
	    jrecords != entries_total();
}

void
state_close(void)
{
	state_compact();
	if (jfd >= 0)
		close(jfd);
	jfd = -1;
}

/* Read the whole state file; NULL if there is none. */
static uint8_t *
state_read(size_t *ret_len)
{
	struct stat st;
	uint8_t *buf;
	size_t off = 0;
	ssize_t n;
	int fd;

	fd = openat(cfg.root_fd, STATE_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			fatal("unable to open %s/%s: %s", cfg.root, STATE_NAME, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_size > STATE_MAX)
		fatal("%s/%s is not a regular file of the broker under 2 GiB", cfg.root, STATE_NAME);
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		fatal("unable to allocate memory for %s/%s", cfg.root, STATE_NAME);
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fatal("unable to read %s/%s: %s", cfg.root, STATE_NAME, strerror(errno));
		if (n == 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	*ret_len = off;
	return buf;
}

static void
get(const uint8_t **p, void *v, size_t n)
{
	memcpy(v, *p, n);
	*p += n;
}

/*
 * A record of the journal on its way into the table: state_parse() takes
 * them a batch at a time, decoding each SET and making its entry first
 * (its hashes computed, SHA-256 included, and the table's slots it will
 * touch prefetched), then applying them in order. A start with 100,000
 * entries spent a third of its load waiting on those slots one record
 * after the other (key_next, id_lookup: bench/README).
 */
struct rec {
	const uint8_t	*p;		/* payload */
	uint32_t	 n;		/* its length */
	size_t		 off;		/* of the record, for the log */
	struct entry	*ne;		/* a valid SET's new entry, or NULL */
	uint64_t	 idh;		/* its id's hash (entry_load_hint) */
	int		 invalid;	/* a SET that is not valid */
};
#define LOAD_BATCH	16

/* The key of klen bytes at p (the rest of a payload ending at end) in view, into key; -1 if invalid. */
static int
rec_key(const uint8_t *p, const uint8_t *end, uint16_t klen, unsigned view,
    char key[SB_KEY_MAX + 1])
{
	if (klen == 0 || klen > SB_KEY_MAX || (size_t)(end - p) != klen ||
	    memchr(p, '\0', klen) != NULL)
		return -1;
	memcpy(key, p, klen);
	key[klen] = '\0';
	if (sb_key_check(key) < 0 || view > SB_VIEW_MAX || (view != 0 && !sb_key_is_path(key)))
		return -1;
	return 0;
}

/*
 * Is id (ENTRY_ID_LEN chars) an entry's id: "xx" in hex, then the hash in
 * base32hex? By a table and without a branch per character: the characters
 * are random, so a test of each mispredicted half the time, and this check
 * was most of a re-exec's own time per entry (bench/README).
 */
static int
snap_id_ok(const char *id)
{
	/* bit 0: a base32hex digit; bit 1: a hex digit */
	static const uint8_t cls[256] = {
		['0'] = 3, ['1'] = 3, ['2'] = 3, ['3'] = 3, ['4'] = 3, ['5'] = 3,
		['6'] = 3, ['7'] = 3, ['8'] = 3, ['9'] = 3, ['a'] = 3, ['b'] = 3,
		['c'] = 3, ['d'] = 3, ['e'] = 3, ['f'] = 3, ['g'] = 1, ['h'] = 1,
		['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
		['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
		['u'] = 1, ['v'] = 1,
	};
	const unsigned char *u = (const unsigned char *)id;
	unsigned all = cls[u[0]] & cls[u[1]] & 2;
	int i;

	for (i = 2; i < ENTRY_ID_LEN; i++)
		all &= cls[u[i]] << 1;
	return all != 0;
}

/*
 * Decode a SET payload p[0..n) into a new entry in *ret (NULL: not a SET);
 * -1 if invalid. id: the entry's id as a re-exec snapshot gives it, or
 * NULL to compute it (SHA-256 of the key).
 */
static int
rec_decode_set(const uint8_t *p, size_t n, const char *id, struct entry **ret)
{
	char key[SB_KEY_MAX + 1];
	struct entry tmp, *ne;
	const uint8_t *end = p + n;
	uint32_t uid = 0, gid = 0, pid = 0;
	uint64_t st = 0, ct = 0;
	uint16_t klen;
	uint8_t op, view;

	*ret = NULL;
	memset(&tmp, 0, sizeof(tmp));
	get(&p, &op, 1);
	if (op != REC_SET)
		return 0;
	if (n < SET_FIXED)
		return -1;
	get(&p, &tmp.kind, 1);
	get(&p, &tmp.socktype, 1);
	get(&p, &tmp.lifetime, 1);
	get(&p, &tmp.flags, 1);
	get(&p, &tmp.mode, 2);
	get(&p, &klen, 2);
	get(&p, &uid, 4);
	get(&p, &gid, 4);
	get(&p, &pid, 4);
	get(&p, &st, 8);
	get(&p, &ct, 8);
	view = tmp.flags >> 4;
	tmp.flags &= 0x0f;
	if (rec_key(p, end, klen, view, key) < 0)
		return -1;
	if ((tmp.kind != SB_KIND_SOCKET && tmp.kind != SB_KIND_FD) ||
	    (tmp.kind == SB_KIND_SOCKET && tmp.socktype != SOCK_STREAM &&
	     tmp.socktype != SOCK_SEQPACKET && tmp.socktype != SOCK_DGRAM) ||
	    (tmp.kind == SB_KIND_FD && (tmp.socktype != 0 || sb_key_is_path(key))) ||
	    (tmp.lifetime != SB_LT_HOLD && tmp.lifetime != SB_LT_OWNER) ||
	    (tmp.flags & ~EF__ALL) || (tmp.mode & ~REC_MODE_ADOPTED) > 0777 ||
	    ((tmp.mode & REC_MODE_ADOPTED) && tmp.kind != SB_KIND_SOCKET) || pid > INT32_MAX)
		return -1;
	if ((ne = id != NULL ? entry_new_with_id(key, view, id) : entry_new_view(key, view)) == NULL)
		fatal("unable to allocate memory");
	ne->kind = tmp.kind;
	ne->socktype = tmp.socktype;
	ne->lifetime = tmp.lifetime;
	ne->flags = tmp.flags;
	ne->mode = tmp.mode & ~REC_MODE_ADOPTED;
	ne->adopted = (tmp.mode & REC_MODE_ADOPTED) != 0;
	ne->uid = uid;
	ne->gid = gid;
	ne->pid = (pid_t)pid;
	ne->starttime = st;
	ne->ctime = (int64_t)ct;
	*ret = ne;
	return 0;
}

/*
 * r: the record of payload p[0..len) at byte off, its entry made (a SET)
 * and its slots prefetched; id: its id from a re-exec snapshot, or NULL.
 */
static void
rec_prepare(struct rec *r, const uint8_t *p, uint32_t len, size_t off, const char *id)
{
	r->p = p;
	r->n = len;
	r->off = off;
	r->ne = NULL;
	if (id != NULL && !snap_id_ok(id))
		r->invalid = 1;
	else
		r->invalid = rec_decode_set(p, len, id, &r->ne) < 0 ||
		    (id != NULL && r->ne == NULL);	/* a snapshot has SETs only */
	if (r->ne != NULL)
		r->idh = entry_load_hint(r->ne);
}

/* Apply a DEL payload p[0..n); -1 if it is invalid. */
static int
rec_apply_del(const uint8_t *p, size_t n)
{
	char key[SB_KEY_MAX + 1];
	const uint8_t *end = p + n;
	struct entry *e;
	uint16_t klen;
	uint8_t op, view;

	get(&p, &op, 1);
	if (op != REC_DEL || n < 4)
		return -1;
	get(&p, &view, 1);
	get(&p, &klen, 2);
	if (rec_key(p, end, klen, view, key) < 0)
		return -1;
	if ((e = entry_find_view(key, view)) != NULL) {
		entry_unlink(e);
		entry_free(e);
	}
	return 0;
}

/* Apply a decoded record; -1 if it is invalid. */
static int
rec_apply(struct rec *r)
{
	struct entry *e = NULL, *ne = r->ne;

	if (r->invalid)
		return -1;
	if (ne == NULL)
		return rec_apply_del(r->p, r->n);
	/*
	 * The same key in the same view has the same id: where no entry of
	 * ne's id may exist (most records of a compacted journal), there is
	 * neither the key to replace nor a collision to look up.
	 */
	if (entry_load_may_exist(r->idh)) {
		e = entry_find_view(ne->key, ne->view);
		/*
		 * another key at the same short path: refused (the same key has
		 * the same id). After a re-exec the journal is the one the
		 * previous image loaded (a record it refused made it compact at
		 * start, which dropped it) and appended to after checking each
		 * new key: not again.
		 */
		if (e == NULL && entry_by_id(ne->id) != NULL) {
			entry_free(ne);
			return -1;
		}
		if (e != NULL) {
			entry_unlink(e);
			entry_free(e);
		}
	}
	entry_insert_hashed(ne, r->idh);
	return 0;
}

/* Apply the batch r[0..k) in order; the count of invalid records. */
static unsigned
rec_apply_batch(struct rec *r, size_t k)
{
	unsigned bad = 0;
	size_t i;

	for (i = 0; i < k; i++) {
		if (rec_apply(&r[i]) == 0)
			continue;
		log_warn("%s/%s: invalid record at byte %zu skipped", cfg.root, STATE_NAME,
		    r[i].off);
		bad++;
	}
	return bad;
}

/* Is there a whole, valid record of format ver at buf[off..n)? Its payload length. */
static int
rec_valid(const uint8_t *buf, size_t n, size_t off, int ver, const uint8_t *salt,
    uint32_t *ret_len)
{
	uint32_t magic, len, sum;

	if (n - off < REC_HDR)
		return 0;
	memcpy(&magic, buf + off, 4);
	memcpy(&len, buf + off + 4, 4);
	memcpy(&sum, buf + off + 8, 4);
	if (magic != (ver == 1 ? REC_MAGIC1 : REC_MAGIC2) || len == 0 ||
	    len > REC_MAX - REC_HDR || len > n - off - REC_HDR ||
	    rec_sum(ver, salt, buf + off + REC_HDR, len) != sum)
		return 0;
	*ret_len = len;
	return 1;
}

/*
 * How many SET records the journal seems to have, from their headers alone
 * (no checksum; it stops at the first that does not look whole): at most
 * the number of entries it loads, so that the table is sized once.
 */
static size_t
count_sets(const uint8_t *buf, size_t n, size_t off, int ver)
{
	uint32_t magic, len;
	size_t k = 0;

	while (n - off >= REC_HDR) {
		memcpy(&magic, buf + off, 4);
		memcpy(&len, buf + off + 4, 4);
		if (magic != (ver == 1 ? REC_MAGIC1 : REC_MAGIC2) || len == 0 ||
		    len > REC_MAX - REC_HDR || len > n - off - REC_HDR)
			break;
		k += buf[off + REC_HDR] == REC_SET;
		off += REC_HDR + len;
	}
	return k < cfg.max_entries ? k : cfg.max_entries;
}

/* Keep the damaged journal for inspection, as ROOT/state.damaged.TIME. */
static void
keep_damaged(void)
{
	char name[64];

	snprintf(name, sizeof(name), STATE_NAME ".damaged.%lld", (long long)time(NULL));
	if (linkat(cfg.root_fd, STATE_NAME, cfg.root_fd, name, 0) == 0)
		log_warn("%s/%s: the damaged journal is kept as %s/%s", cfg.root, STATE_NAME,
		    cfg.root, name);
	else
		log_warn("unable to keep the damaged %s/%s as %s: %s", cfg.root, STATE_NAME, name,
		    strerror(errno));
}

/* Is the file magic at p m, but for at most one byte (damage)? */
static int
near(const uint8_t *p, const char *m)
{
	int i, diff = 0;

	for (i = 0; i < 8; i++)
		diff += p[i] != (uint8_t)m[i];
	return diff <= 1;
}

/* The format of the journal buf[0..n): 1, 2, or 0 if it is not one of ours. */
static int
file_version(const uint8_t *buf, size_t n)
{
	uint32_t magic;

	if (n >= FILE_HDR2 && memcmp(buf, FILE_MAGIC2, 8) == 0)
		return 2;
	if (n >= FILE_HDR1 && memcmp(buf, FILE_MAGIC1, 8) == 0)
		return 1;
	if (n < FILE_HDR1 || (!near(buf, FILE_MAGIC2) && !near(buf, FILE_MAGIC1)))
		return 0;
	/* one byte of the magic damaged: the salt's copies, or the first record, tell */
	if (n >= FILE_HDR2 && (memcmp(buf + 8, buf + 16, 8) == 0 ||
	    memcmp(buf + 16, buf + 24, 8) == 0))
		return 2;
	if (n >= FILE_HDR1 + 4 && (memcpy(&magic, buf + FILE_HDR1, 4), magic == REC_MAGIC1))
		return 1;
	return n >= FILE_HDR2 ? 2 : 0;
}

/*
 * Apply the records of buf[0..n) (a whole journal) to the table; returns
 * the number of damaged or invalid stretches, each reported with its
 * offset. A damaged record is skipped up to the next valid record.
 */
static unsigned
state_parse(const uint8_t *buf, size_t n)
{
	struct rec r[LOAD_BATCH];
	size_t off, bad_at, k;
	uint32_t len;
	unsigned damaged = 0, kept;
	size_t nsets;
	int ver, i;

	jrecords = 0;
	if ((ver = file_version(buf, n)) == 2) {
		for (i = 0; i < 8; i++)		/* the salt: each byte as two copies of three say */
			jsalt[i] = buf[16 + i] == buf[24 + i] ? buf[16 + i] : buf[8 + i];
		off = FILE_HDR2;
	} else if (ver == 1) {
		off = FILE_HDR1;
	} else {
		log_warn("%s/%s is not a state file of this broker: ignored", cfg.root, STATE_NAME);
		return UINT32_MAX;
	}
	jver = ver;
	if (memcmp(buf, ver == 2 ? FILE_MAGIC2 : FILE_MAGIC1, 8) != 0 || (ver == 2 &&
	    (memcmp(buf + 8, buf + 16, 8) != 0 || memcmp(buf + 16, buf + 24, 8) != 0))) {
		log_warn("%s/%s: damaged file header repaired", cfg.root, STATE_NAME);
		damaged++;
	}
	nsets = count_sets(buf, n, off, ver);
	entries_reserve(nsets);
	entries_load_begin(nsets, n);	/* no key is longer than the file */
	while (off < n) {
		for (k = 0; k < LOAD_BATCH && off < n && rec_valid(buf, n, off, ver, jsalt, &len);
		    k++) {
			rec_prepare(&r[k], buf + off + REC_HDR, len, off, NULL);
			off += REC_HDR + len;
			jrecords++;
		}
		damaged += rec_apply_batch(r, k);
		if (k > 0 || off >= n)
			continue;
		/* damaged: find the next record that is whole and valid */
		bad_at = off;
		for (off++; off < n && !rec_valid(buf, n, off, ver, jsalt, &len); off++)
			;
		damaged++;
		if (off < n)
			log_warn("%s/%s: damaged record at byte %zu: %zu bytes skipped, the records "
			    "from byte %zu on are kept", cfg.root, STATE_NAME, bad_at, off - bad_at,
			    off);
		else
			log_warn("%s/%s: damaged or truncated record at byte %zu: the last %zu bytes "
			    "are ignored", cfg.root, STATE_NAME, bad_at, n - bad_at);
	}
	entries_load_end();
	kept = entries_total();
	if (damaged > 0)
		log_warn("%s/%s: %u damaged or invalid stretches skipped, %u entries loaded",
		    cfg.root, STATE_NAME, damaged, kept);
	return damaged;
}

/*
 * The re-exec snapshot: the table as the next image is to load it, in a
 * memfd it inherits, with what it needs to go on appending to the journal.
 * A re-exec with 100,000 entries spent most of its time checksumming,
 * checking and hashing the journal that the previous image had just
 * rewritten for it (bench/README): the snapshot has each entry's record
 * payload (the journal's encoding) and its id, and no checksum (a memfd
 * no one else has). Between images of one broker only: a new image that
 * does not know it closes it and loads the journal, which the previous
 * image leaves complete (state_journal_stale()). Its layout:
 *
 *   "SBSNAP01", u32 entries, u32 journal records, u32 compact_at,
 *   u8 journal format, u8 stale, u16 0, the journal's 8-byte salt;
 *   per entry: u16 payload length, the payload (REC_SET), the id
 */
#define SNAP_MAGIC	"SBSNAP01"
#define SNAP_HDR	32

/* Is the journal missing something the table has (no journal, damaged, read-only)? */
int
state_journal_stale(void)
{
	return jfd < 0 || jdamaged || readonly_err != 0;
}

/* The snapshot of the table in a memfd that survives execve(); -errno on failure. */
int
state_snapshot(void)
{
	uint8_t rec[2 + REC_MAX + ENTRY_ID_LEN], hdr[SNAP_HDR];
	uint32_t u32;
	struct wbuf *w;
	struct entry *e;
	uint16_t u16;
	size_t len;
	int fd, r;

	if ((w = malloc(sizeof(*w))) == NULL)
		return -ENOMEM;
	if ((fd = memfd_create("sockbrokerd-state", MFD_CLOEXEC)) < 0) {
		r = -errno;
		free(w);
		return r;
	}
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, SNAP_MAGIC, 8);
	u32 = entries_total();
	memcpy(hdr + 8, &u32, 4);
	memcpy(hdr + 12, &jrecords, 4);
	memcpy(hdr + 16, &compact_at, 4);
	hdr[20] = (uint8_t)jver;
	hdr[21] = (uint8_t)state_journal_stale();
	hdr[22] = jfd >= 0;	/* a journal to go on appending to (not a file of another format) */
	memcpy(hdr + 24, jsalt, 8);
	w->fd = fd;
	w->err = 0;
	w->len = 0;
	wbuf_put(w, hdr, sizeof(hdr));
	for (e = entry_first(); e != NULL && w->err == 0; e = e->next) {
		len = rec_payload(rec + 2, e, REC_SET);
		u16 = (uint16_t)len;
		memcpy(rec, &u16, 2);
		memcpy(rec + 2 + len, e->id, ENTRY_ID_LEN);
		wbuf_put(w, rec, 2 + len + ENTRY_ID_LEN);
	}
	wbuf_flush(w);
	r = w->err;
	free(w);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/*
 * Load the table from the snapshot in fd (a re-exec); -1 if it is not
 * one (nothing loaded: the caller loads the journal). The journal is
 * opened for appending as the previous image had it.
 */
static int
snapshot_load(int fd)
{
	static struct rec r[LOAD_BATCH];
	uint32_t count, records, at, i;
	const uint8_t *buf, *p, *end;
	char id[ENTRY_ID_LEN + 1];
	unsigned bad = 0;
	struct stat st;
	uint16_t len;
	size_t k;
	int stale, open_journal;

	if (fstat(fd, &st) < 0 || st.st_size < SNAP_HDR || st.st_size > STATE_MAX)
		return -1;
	buf = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (buf == MAP_FAILED)
		return -1;
	end = buf + st.st_size;
	memcpy(&count, buf + 8, 4);
	memcpy(&records, buf + 12, 4);
	memcpy(&at, buf + 16, 4);
	/* the whole layout first: nothing is loaded from a snapshot that is not one */
	for (p = buf + SNAP_HDR, i = 0; i < count && end - p >= 2; i++) {
		memcpy(&len, p, 2);
		if (len == 0 || len > REC_MAX - REC_HDR || (size_t)(end - p) < 2u + len + ENTRY_ID_LEN)
			break;
		p += 2 + len + ENTRY_ID_LEN;
	}
	if (memcmp(buf, SNAP_MAGIC, 8) != 0 || i != count || p != end ||
	    (buf[20] != 1 && buf[20] != 2) || buf[21] > 1 || buf[22] > 1 || buf[23] != 0) {
		munmap((void *)buf, (size_t)st.st_size);
		log_warn("the re-exec's snapshot of the table is not one: loading %s/%s",
		    cfg.root, STATE_NAME);
		return -1;
	}
	jver = buf[20];
	stale = buf[21];
	open_journal = buf[22];
	memcpy(jsalt, buf + 24, 8);
	entries_reserve(count);
	entries_load_begin(count, (size_t)st.st_size);
	for (p = buf + SNAP_HDR, i = 0; i < count;) {
		for (k = 0; k < LOAD_BATCH && i < count; k++, i++) {
			memcpy(&len, p, 2);
			memcpy(id, p + 2 + len, ENTRY_ID_LEN);
			id[ENTRY_ID_LEN] = '\0';
			rec_prepare(&r[k], p + 2, len, (size_t)(p - buf), id);
			p += 2 + len + ENTRY_ID_LEN;
		}
		bad += rec_apply_batch(r, k);
	}
	entries_load_end();
	munmap((void *)buf, (size_t)st.st_size);
	jrecords = records;
	compact_at = at;
	/* anything off: the journal is rewritten from the table (state_compact_wanted) */
	jdamaged = stale || bad > 0;
	if (bad > 0) {
		log_warn("the re-exec's snapshot of the table had %u invalid entries: skipped", bad);
		/*
		 * as a journal with invalid records is: the one the previous
		 * image kept, which holds them, stays there for the operator
		 * before the compaction replaces it
		 */
		if (open_journal)
			keep_damaged();
	}
	if (jfd >= 0)
		close(jfd);
	jfd = -1;
	/* only the journal the previous image appended to: never a file it only replaces */
	if (!open_journal)
		return 0;
	jfd = openat(cfg.root_fd, STATE_NAME, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (jfd < 0 && errno != ENOENT)
		log_warn("unable to open %s/%s: %s", cfg.root, STATE_NAME, strerror(errno));
	return 0;
}

/*
 * Load ROOT/state into the table (no fds, no processes yet), and keep it
 * open for appending: if the start compaction cannot write (a full file
 * system), the broker goes on with it. snapfd: a re-exec's snapshot
 * (state_snapshot()), loaded instead where it is one, or -1.
 */
int
state_load(int snapfd)
{
	unsigned damaged;
	uint8_t *buf;
	size_t n;

	if (snapfd >= 0 && snapshot_load(snapfd) == 0)
		return 0;

	/*
	 * what a compaction left when the broker died (or anything else there):
	 * never followed, and gone even when no compaction runs at this start
	 */
	if (unlinkat(cfg.root_fd, STATE_TMP, 0) < 0 && errno != ENOENT)
		log_warn("unable to remove %s/%s: %s", cfg.root, STATE_TMP, strerror(errno));
	if ((buf = state_read(&n)) == NULL)
		return 0;
	if ((damaged = state_parse(buf, n)) > 0)
		keep_damaged();
	jdamaged = damaged > 0;
	free(buf);
	if (jfd >= 0)
		close(jfd);
	jfd = -1;
	if (damaged == UINT32_MAX)
		return 0;	/* not ours: never appended to, only replaced */
	jfd = openat(cfg.root_fd, STATE_NAME, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (jfd < 0)
		log_warn("unable to open %s/%s: %s", cfg.root, STATE_NAME, strerror(errno));
	return 0;
}
