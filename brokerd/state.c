/*
 * state.c: entry metadata that survives a restart.
 *
 * ROOT/state is an append-only journal: an 8-byte file header, then
 * records, each written (one write(2)) before the reply that depends on it:
 *
 *   u32 magic REC_MAGIC, u32 payload length, u32 FNV-1a of the payload,
 *   payload: u8 op (REC_SET: create or replace, REC_DEL: release), then
 *     SET: u8 kind, socktype, lifetime, flags; u16 mode, keylen;
 *          u32 uid, gid, pid; u64 starttime, ctime; key bytes (no NUL)
 *     DEL: u8 0, u16 keylen, key bytes
 *
 * Loading validates every record like wire input and stops at the first
 * truncated or damaged one (a crash in the middle of a write). The journal
 * is compacted (ROOT/state.tmp written, fsynced, renamed over ROOT/state)
 * when it holds about twice as many records as live entries, at start and
 * at a clean exit.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brokerd.h"
#include "sb-internal.h"
#include "sockbroker.h"

#define STATE_NAME	"state"
#define STATE_TMP	"state.tmp"
#define FILE_MAGIC	"SBSTATE1"
#define REC_MAGIC	0x31524253u	/* "SBR1" */
#define REC_SET		1
#define REC_DEL		2
#define REC_HDR		12
#define SET_FIXED	(1 + 4 + 4 + 12 + 16)
#define STATE_MAX	((off_t)1 << 31)

static int	 jfd = -1;
static unsigned	 jrecords;

static uint32_t
fnv(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n-- > 0)
		h = (h ^ *p++) * 16777619u;
	return h;
}

static void
put(uint8_t **p, const void *v, size_t n)
{
	memcpy(*p, v, n);
	*p += n;
}

/* Encode the record of e (or its deletion) into buf; returns its length. */
static size_t
rec_encode(uint8_t *buf, const struct entry *e, int op)
{
	uint8_t *p = buf + REC_HDR, u8;
	uint32_t u32;
	uint64_t u64;
	uint16_t u16;

	u8 = (uint8_t)op;
	put(&p, &u8, 1);
	if (op == REC_SET) {
		put(&p, &e->kind, 1);
		put(&p, &e->socktype, 1);
		put(&p, &e->lifetime, 1);
		u8 = (uint8_t)(e->flags & (EF_LISTENING | EF_READY | EF_HELD | EF_PREPARED));
		put(&p, &u8, 1);
		put(&p, &e->mode, 2);
		put(&p, &e->keylen, 2);
		u32 = e->uid; put(&p, &u32, 4);
		u32 = e->gid; put(&p, &u32, 4);
		u32 = (uint32_t)e->pid; put(&p, &u32, 4);
		u64 = e->starttime; put(&p, &u64, 8);
		u64 = (uint64_t)e->ctime; put(&p, &u64, 8);
	} else {
		u8 = 0;
		put(&p, &u8, 1);
		u16 = e->keylen;
		put(&p, &u16, 2);
	}
	put(&p, e->key, e->keylen);
	u32 = REC_MAGIC;
	memcpy(buf, &u32, 4);
	u32 = (uint32_t)(p - buf - REC_HDR);
	memcpy(buf + 4, &u32, 4);
	u32 = fnv(buf + REC_HDR, (size_t)(p - buf - REC_HDR));
	memcpy(buf + 8, &u32, 4);
	return (size_t)(p - buf);
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void
journal(const struct entry *e, int op)
{
	uint8_t buf[REC_HDR + SET_FIXED + SB_KEY_MAX];
	size_t n;
	off_t off;
	int r;

	if (jfd < 0)
		return;
	n = rec_encode(buf, e, op);
	off = lseek(jfd, 0, SEEK_END);
	if ((r = write_all(jfd, buf, n)) < 0) {
		log_warn("unable to write %s/%s: %s", cfg.root, STATE_NAME, strerror(-r));
		/*
		 * A torn record in the middle would hide every later one at load:
		 * cut it off, and write the whole state instead.
		 */
		if (off >= 0 && ftruncate(jfd, off) < 0)
			log_warn("unable to truncate %s/%s: %s", cfg.root, STATE_NAME,
			    strerror(errno));
		state_compact();
		return;
	}
	jrecords++;
	if (jrecords > 2 * entries_total() + 1024)
		state_compact();
}

void
state_set(const struct entry *e)
{
	journal(e, REC_SET);
}

void
state_del(const struct entry *e)
{
	journal(e, REC_DEL);
}

/* Write every live entry to state.tmp, fsync, rename over state. */
int
state_compact(void)
{
	uint8_t buf[REC_HDR + SET_FIXED + SB_KEY_MAX];
	struct entry *e;
	int fd, r = 0;
	FILE *f;

	unlinkat(cfg.root_fd, STATE_TMP, 0);
	fd = openat(cfg.root_fd, STATE_TMP, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		r = -errno;
		log_warn("unable to create %s/%s: %s", cfg.root, STATE_TMP, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	fwrite(FILE_MAGIC, 1, 8, f);
	for (e = entry_first(); e != NULL; e = e->next)
		fwrite(buf, 1, rec_encode(buf, e, REC_SET), f);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0)
		r = -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(cfg.root_fd, STATE_TMP, cfg.root_fd, STATE_NAME) < 0)
		r = -errno;
	if (r < 0) {
		log_warn("unable to write %s/%s: %s", cfg.root, STATE_NAME, strerror(-r));
		unlinkat(cfg.root_fd, STATE_TMP, 0);
		return r;
	}
	fsync(cfg.root_fd);
	if (jfd >= 0)
		close(jfd);
	jfd = openat(cfg.root_fd, STATE_NAME, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (jfd < 0)
		log_warn("unable to open %s/%s: %s", cfg.root, STATE_NAME, strerror(errno));
	jrecords = entries_total();
	return 0;
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

/* Apply one record payload (checked length n); -1 if it is invalid. */
static int
rec_apply(const uint8_t *p, size_t n)
{
	char key[SB_KEY_MAX + 1];
	struct entry tmp, *e, *ne;
	const uint8_t *end = p + n;
	uint32_t uid = 0, gid = 0, pid = 0;
	uint64_t st = 0, ct = 0;
	uint16_t klen;
	uint8_t op, pad;

	memset(&tmp, 0, sizeof(tmp));
	get(&p, &op, 1);
	if (op == REC_SET) {
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
	} else if (op == REC_DEL) {
		if (n < 4)
			return -1;
		get(&p, &pad, 1);
		get(&p, &klen, 2);
	} else
		return -1;
	if (klen == 0 || klen > SB_KEY_MAX || (size_t)(end - p) != klen ||
	    memchr(p, '\0', klen) != NULL)
		return -1;
	memcpy(key, p, klen);
	key[klen] = '\0';
	if (sb_key_check(key) < 0)
		return -1;
	e = entry_find(key, NULL);
	if (op == REC_DEL) {
		if (e != NULL) {
			entry_unlink(e);
			entry_free(e);
		}
		return 0;
	}
	if ((tmp.kind != SB_KIND_SOCKET && tmp.kind != SB_KIND_FD) ||
	    (tmp.kind == SB_KIND_SOCKET && tmp.socktype != SOCK_STREAM &&
	     tmp.socktype != SOCK_SEQPACKET && tmp.socktype != SOCK_DGRAM) ||
	    (tmp.kind == SB_KIND_FD && (tmp.socktype != 0 || sb_key_is_path(key))) ||
	    (tmp.lifetime != SB_LT_HOLD && tmp.lifetime != SB_LT_OWNER) ||
	    (tmp.flags & ~EF__ALL) || tmp.mode > 0777 || pid > INT32_MAX)
		return -1;
	if ((ne = entry_new(key)) == NULL)
		fatal("unable to allocate memory");
	/* another key at the same short path: refused (the same key has the same id) */
	if (e == NULL && entry_by_id(ne->id) != NULL) {
		entry_free(ne);
		return -1;
	}
	if (e != NULL) {
		entry_unlink(e);
		entry_free(e);
	}
	e = ne;
	e->kind = tmp.kind;
	e->socktype = tmp.socktype;
	e->lifetime = tmp.lifetime;
	e->flags = tmp.flags;
	e->mode = tmp.mode;
	e->uid = uid;
	e->gid = gid;
	e->pid = (pid_t)pid;
	e->starttime = st;
	e->ctime = (int64_t)ct;
	entry_insert(e);
	return 0;
}

/* Load ROOT/state into the table (no fds, no processes yet). */
int
state_load(void)
{
	const uint8_t *p;
	uint8_t *buf;
	uint32_t magic, len, sum;
	size_t n, off;
	unsigned bad = 0;

	if ((buf = state_read(&n)) == NULL)
		return 0;
	if (n < 8 || memcmp(buf, FILE_MAGIC, 8) != 0) {
		log_warn("%s/%s is not a state file of this broker: ignored", cfg.root, STATE_NAME);
		free(buf);
		return 0;
	}
	for (off = 8; off < n; off += REC_HDR + len) {
		p = buf + off;
		if (n - off < REC_HDR) {
			log_warn("%s/%s: truncated record at byte %zu ignored", cfg.root, STATE_NAME, off);
			break;
		}
		memcpy(&magic, p, 4);
		memcpy(&len, p + 4, 4);
		memcpy(&sum, p + 8, 4);
		if (magic != REC_MAGIC || len == 0 || len > n - off - REC_HDR ||
		    fnv(p + REC_HDR, len) != sum) {
			log_warn("%s/%s: damaged or truncated record at byte %zu: the rest is ignored",
			    cfg.root, STATE_NAME, off);
			break;
		}
		if (rec_apply(p + REC_HDR, len) < 0)
			bad++;
	}
	if (bad > 0)
		log_warn("%s/%s: %u invalid records ignored", cfg.root, STATE_NAME, bad);
	free(buf);
	return 0;
}
