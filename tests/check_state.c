/* SPDX-License-Identifier: ISC */
/*
 * check_state.c: the journal of sockbrokerd (brokerd/state.c) as its
 * loader and writer see it: a flipped byte at every offset of a small
 * journal costs at most the record it is in (never the records after it,
 * never an invented entry) and is reported with its offset, the damaged
 * file is kept; a version-1 journal is still read; a write or a compaction
 * that fails (RLIMIT_FSIZE stands in for a full disk) changes nothing on
 * disk, is reported as an errno, and makes the journal read-only until a
 * write succeeds. The table the journal loads into finds every entry by
 * id, and no other, through growth and removals in any order.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check-common.h"
#include "brokerd.h"
#include "sb-internal.h"
#include "state-stubs.h"

#define SET_FIXED	37
#define NKEYS		6

static char dir[] = "/tmp/check_state.XXXXXX";

static void
setup(void)
{
	static int once;

	if (!once) {
		ck_assert_ptr_nonnull(mkdtemp(dir));
		entries_init();
		once = 1;
	}
	snprintf(cfg.root, sizeof(cfg.root), "%s", dir);
	cfg.root_len = strlen(dir);
	cfg.root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(cfg.root_fd, 0);
	stub_entries_clear();
	stub_log_clear();
}

static void
teardown(void)
{
	struct dirent *d;
	DIR *dp;

	state_close();
	stub_entries_clear();
	if ((dp = opendir(dir)) != NULL) {
		while ((d = readdir(dp)) != NULL)
			if (d->d_name[0] != '.')
				unlinkat(cfg.root_fd, d->d_name, 0);
		closedir(dp);
	}
	close(cfg.root_fd);
}

static struct entry *
add(const char *key, uid_t uid)
{
	struct entry *e = entry_new(key);

	ck_assert_ptr_nonnull(e);
	e->kind = SB_KIND_SOCKET;
	e->socktype = SOCK_STREAM;
	e->lifetime = SB_LT_HOLD;
	e->flags = EF_LISTENING | EF_READY;
	e->uid = uid;
	e->gid = uid;
	e->mode = 0600;
	e->ctime = 1700000000;
	entry_insert(e);
	return e;
}

/* View view of a path key: uid's held stream socket */
static struct entry *
add_view(const char *key, unsigned view, uid_t uid, uint8_t flags, uint16_t mode)
{
	struct entry *e = entry_new_view(key, view);

	ck_assert_ptr_nonnull(e);
	e->kind = SB_KIND_SOCKET;
	e->socktype = SOCK_STREAM;
	e->lifetime = SB_LT_HOLD;
	e->flags = flags;
	e->uid = e->gid = uid;
	e->mode = mode;
	entry_insert(e);
	return e;
}

static uint8_t *
slurp(const char *name, size_t *ret_len)
{
	static uint8_t buf[65536];
	int fd = openat(cfg.root_fd, name, O_RDONLY);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	close(fd);
	*ret_len = (size_t)n;
	return buf;
}

static void
spit(const char *name, const uint8_t *p, size_t n)
{
	int fd = openat(cfg.root_fd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
	close(fd);
}

/* The records of a version-2 journal: offsets and lengths, as the format says */
struct rec {
	size_t	 off, len;
	int	 op;
	char	 key[64];
	uint32_t uid;
};

static int
records(const uint8_t *b, size_t n, size_t hdr, struct rec *r, int max)
{
	size_t off = hdr;
	uint32_t len;
	uint16_t kl;
	int i = 0;

	while (off + 12 <= n && i < max) {
		memcpy(&len, b + off + 4, 4);
		r[i].off = off;
		r[i].len = 12 + len;
		r[i].op = b[off + 12];
		if (r[i].op == 1) {
			memcpy(&kl, b + off + 12 + 7, 2);
			memcpy(&r[i].uid, b + off + 12 + 9, 4);
			memcpy(r[i].key, b + off + 12 + SET_FIXED, kl);
		} else {
			memcpy(&kl, b + off + 12 + 2, 2);
			memcpy(r[i].key, b + off + 12 + 4, kl);
		}
		r[i].key[kl] = '\0';
		off += 12 + len;
		i++;
	}
	ck_assert_uint_eq(off, n);
	return i;
}

/* Does the table hold exactly the records but skip (applied in order)? */
static void
expect_table(const struct rec *r, int nr, int skip, size_t flip)
{
	char keys[16][64];
	uint32_t uids[16];
	int nk = 0, i, j;
	struct entry *e;

	for (i = 0; i < nr; i++) {
		if (i == skip)
			continue;
		for (j = 0; j < nk && strcmp(keys[j], r[i].key) != 0; j++)
			;
		if (r[i].op == 1) {
			if (j == nk)
				nk++;
			snprintf(keys[j], sizeof(keys[j]), "%s", r[i].key);
			uids[j] = r[i].uid;
		} else if (j < nk) {
			memmove(keys + j, keys + j + 1, sizeof(keys[0]) * (size_t)(nk - j - 1));
			memmove(uids + j, uids + j + 1, sizeof(uids[0]) * (size_t)(nk - j - 1));
			nk--;
		}
	}
	ck_assert_msg(entries_total() == (unsigned)nk, "flip at %zu: %u entries, want %d: %s",
	    flip, entries_total(), nk, stub_log);
	for (j = 0; j < nk; j++) {
		e = entry_find(keys[j], NULL);
		ck_assert_msg(e != NULL, "flip at %zu: %s lost: %s", flip, keys[j], stub_log);
		ck_assert_msg(e->uid == uids[j], "flip at %zu: %s has uid %u, want %u", flip,
		    keys[j], (unsigned)e->uid, (unsigned)uids[j]);
	}
}

/* A journal of a compaction and appended records: SET, DEL, SET over */
static size_t
journal_make(uint8_t *orig, struct rec *r, int *nr)
{
	static const char *keys[NKEYS] = { "a", "tpm-vm1", "qmp.sock", "x:y@z",
	    "/run/user/1000/a-long/path/of/a/socket", "n" };
	struct entry *e;
	uint8_t *b;
	size_t n;
	int i;

	for (i = 0; i < NKEYS - 1; i++)
		add(keys[i], 1000 + (uid_t)i);
	ck_assert_int_eq(state_compact(), 0);
	ck_assert_int_eq(state_set(add(keys[NKEYS - 1], 2000)), 0);
	e = entry_find("tpm-vm1", NULL);
	entry_unlink(e);
	ck_assert_int_eq(state_del(e), 0);
	entry_free(e);
	e = entry_find("a", NULL);
	e->uid = 3000;
	ck_assert_int_eq(state_set(e), 0);
	b = slurp("state", &n);
	memcpy(orig, b, n);
	*nr = records(orig, n, 32, r, 16);
	ck_assert_int_eq(*nr, NKEYS - 1 + 3);
	return n;
}

static int
damaged_kept(void)
{
	struct dirent *d;
	DIR *dp = opendir(dir);
	int found = 0;

	while ((d = readdir(dp)) != NULL)
		if (strncmp(d->d_name, "state.damaged.", 14) == 0) {
			unlinkat(cfg.root_fd, d->d_name, 0);
			found = 1;
		}
	closedir(dp);
	return found;
}

START_TEST(flip_every_byte)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	uint8_t orig[4096], bad[4096];
	struct rec r[16];
	char want[64];
	size_t n, i, m;
	int nr, j, skip;

	n = journal_make(orig, r, &nr);
	/* undamaged: everything */
	stub_entries_clear();
	ck_assert_int_eq(state_load(-1), 0);
	expect_table(r, nr, -1, 0);
	ck_assert_int_eq(damaged_kept(), 0);
	for (i = 0; i < n; i++)
		for (m = 0; m < sizeof(masks); m++) {
			memcpy(bad, orig, n);
			bad[i] ^= masks[m];
			spit("state", bad, n);
			stub_entries_clear();
			stub_log_clear();
			ck_assert_int_eq(state_load(-1), 0);
			for (skip = -1, j = 0; j < nr; j++)
				if (i >= r[j].off && i < r[j].off + r[j].len)
					skip = j;
			expect_table(r, nr, skip, i);
			if (skip >= 0) {
				snprintf(want, sizeof(want), "record at byte %zu", r[skip].off);
				ck_assert_msg(strstr(stub_log, want) != NULL,
				    "flip at %zu: no warning naming byte %zu: %s", i, r[skip].off,
				    stub_log);
			}
			ck_assert_msg(damaged_kept(), "flip at %zu: the damaged file is not kept", i);
		}
}
END_TEST

/* A version-1 journal (before the salt) is read */
static size_t
v1_rec(uint8_t *p, int op, const char *key, uint32_t uid)
{
	uint8_t *q = p + 12;
	uint16_t kl = (uint16_t)strlen(key), mode = 0600;
	uint32_t u32, h = 2166136261u;
	uint64_t u64 = 0;
	size_t i;

	*q++ = (uint8_t)op;
	if (op == 1) {
		*q++ = SB_KIND_SOCKET;
		*q++ = SOCK_STREAM;
		*q++ = SB_LT_HOLD;
		*q++ = EF_READY;
		memcpy(q, &mode, 2); q += 2;
		memcpy(q, &kl, 2); q += 2;
		memcpy(q, &uid, 4); q += 4;
		memcpy(q, &uid, 4); q += 4;
		u32 = 1; memcpy(q, &u32, 4); q += 4;
		memcpy(q, &u64, 8); q += 8;
		memcpy(q, &u64, 8); q += 8;
	} else {
		*q++ = 0;
		memcpy(q, &kl, 2); q += 2;
	}
	memcpy(q, key, kl);
	q += kl;
	u32 = 0x31524253u;
	memcpy(p, &u32, 4);
	u32 = (uint32_t)(q - p - 12);
	memcpy(p + 4, &u32, 4);
	for (i = 12; i < (size_t)(q - p); i++)
		h = (h ^ p[i]) * 16777619u;
	memcpy(p + 8, &h, 4);
	return (size_t)(q - p);
}

START_TEST(version1)
{
	uint8_t buf[1024];
	size_t n = 8;
	struct entry *e;

	memcpy(buf, "SBSTATE1", 8);
	n += v1_rec(buf + n, 1, "old1", 1001);
	n += v1_rec(buf + n, 1, "old2", 1002);
	n += v1_rec(buf + n, 2, "old1", 0);
	n += v1_rec(buf + n, 1, "old3", 1003);
	spit("state", buf, n);
	ck_assert_int_eq(state_load(-1), 0);
	ck_assert_uint_eq(entries_total(), 2);
	ck_assert_ptr_null(entry_find("old1", NULL));
	ck_assert_ptr_nonnull(e = entry_find("old3", NULL));
	ck_assert_uint_eq(e->uid, 1003);
	/* appended to in its own format, then rewritten as version 2 */
	ck_assert_int_eq(state_set(add("new", 1004)), 0);
	stub_entries_clear();
	ck_assert_int_eq(state_load(-1), 0);
	ck_assert_uint_eq(entries_total(), 3);
	ck_assert_int_eq(state_compact(), 0);
	stub_entries_clear();
	ck_assert_int_eq(state_load(-1), 0);
	ck_assert_uint_eq(entries_total(), 3);
	ck_assert_int_eq(memcmp(slurp("state", &n), "SBSTATE2", 8), 0);
}
END_TEST

/* Two uids' claims of one path key in two views: each kept, each released alone */
START_TEST(views)
{
	static const char key[] = "/tmp/priv/view.sock";
	struct entry *a, *b;
	char sa[SB_SHORT_PATH_SIZE], sb[SB_SHORT_PATH_SIZE];

	a = add(key, 1001);
	ck_assert_int_eq(state_set(a), 0);
	ck_assert_int_eq(entry_view_free(key, 0), 1);
	b = add_view(key, 1, 1002, EF_PREPARED, 0600);
	ck_assert_int_eq(state_set(b), 0);
	entry_short_path(a, sa, sizeof(sa));
	entry_short_path(b, sb, sizeof(sb));
	ck_assert_str_ne(sa, sb);
	ck_assert_int_eq(sb_short_path_view_of(cfg.root, key, sb), 1);

	stub_entries_clear();
	ck_assert_int_eq(state_load(-1), 0);
	ck_assert_uint_eq(entries_total(), 2);
	ck_assert_ptr_nonnull(b = entry_find_view(key, 1));
	ck_assert_uint_eq(b->uid, 1002);
	ck_assert_uint_eq(b->flags, EF_PREPARED);
	ck_assert_ptr_eq(entry_find_for(key, 1002), b);
	ck_assert_uint_eq(entry_find_for(key, 1001)->view, 0);
	ck_assert_uint_eq(entry_find_for(key, 4242)->view, 0);

	/* view 1 released: view 0 stays, also after a compaction */
	ck_assert_int_eq(state_del(b), 0);
	stub_entries_clear();
	ck_assert_int_eq(state_load(-1), 0);
	ck_assert_uint_eq(entries_total(), 1);
	ck_assert_ptr_null(entry_find_view(key, 1));
	ck_assert_ptr_nonnull(a = entry_find_view(key, 0));
	ck_assert_uint_eq(a->uid, 1001);
	ck_assert_int_eq(state_compact(), 0);
	stub_entries_clear();
	ck_assert_int_eq(state_load(-1), 0);
	ck_assert_uint_eq(entries_total(), 1);
	ck_assert_ptr_nonnull(entry_find_view(key, 0));
}
END_TEST

/* What a re-exec's new image does with the snapshot in fd: an empty table loads it. */
static void
load_snapshot(int fd)
{
	stub_entries_clear();
	cfg.reexec = 1;
	ck_assert_int_eq(state_load(fd), 0);
	cfg.reexec = 0;
	close(fd);
}

/*
 * The re-exec's snapshot: the next image gets the table as it was (every
 * field the journal keeps, views, each entry's id) without reading the
 * journal, and goes on appending to it; a snapshot that is not one loads
 * the journal instead; a stale journal (read-only meanwhile) is rewritten.
 */
START_TEST(snapshot)
{
	static const char key[] = "/tmp/priv/snap.sock";
	struct entry *a, *b, *c;
	char ida[ENTRY_ID_LEN + 1], idb[ENTRY_ID_LEN + 1];
	uint8_t junk[64];
	int fd;

	a = add("snap-a", 1001);
	a->flags = EF_HELD | EF_LISTENING;
	a->mode = 0640;
	a->ctime = 1234567;
	ck_assert_int_eq(state_set(a), 0);
	b = add_view(key, 1, 1002, EF_PREPARED, 0600);
	ck_assert_int_eq(state_set(b), 0);
	c = add("snap-c", 1003);
	ck_assert_int_eq(state_set(c), 0);
	ck_assert_int_eq(state_del(c), 0);
	entry_unlink(c);
	entry_free(c);
	memcpy(ida, a->id, sizeof(ida));
	memcpy(idb, b->id, sizeof(idb));
	ck_assert(!state_journal_stale());
	ck_assert_int_ge(fd = state_snapshot(), 0);

	load_snapshot(fd);
	ck_assert_uint_eq(entries_total(), 2);
	ck_assert_ptr_nonnull(a = entry_find_view("snap-a", 0));
	ck_assert_str_eq(a->id, ida);
	ck_assert_uint_eq(a->uid, 1001);
	ck_assert_uint_eq(a->flags, EF_HELD | EF_LISTENING);
	ck_assert_uint_eq(a->mode, 0640);
	ck_assert_int_eq(a->ctime, 1234567);
	ck_assert_ptr_eq(entry_by_id(ida), a);
	ck_assert_ptr_nonnull(b = entry_find_view(key, 1));
	ck_assert_str_eq(b->id, idb);
	ck_assert_uint_eq(b->flags, EF_PREPARED);
	ck_assert_ptr_null(entry_find_view("snap-c", 0));
	/* 3 SETs and a DEL for 2 entries: a compaction is due (after READY) */
	ck_assert(state_compact_wanted());
	/* what the new image appends is readable with the rest (format, salt) */
	c = add("snap-d", 1004);
	ck_assert_int_eq(state_set(c), 0);
	stub_entries_clear();
	ck_assert_int_eq(state_load(-1), 0);
	ck_assert_uint_eq(entries_total(), 3);
	ck_assert_ptr_nonnull(entry_find_view("snap-d", 0));
	ck_assert_ptr_nonnull(entry_find_view("snap-a", 0));
	ck_assert_uint_eq(stub_log_len, 0);

	/* not a snapshot: the journal is loaded */
	ck_assert_int_eq(state_compact(), 0);
	fd = open(dir, O_TMPFILE | O_RDWR, 0600);
	ck_assert_int_ge(fd, 0);
	memset(junk, 'x', sizeof(junk));
	ck_assert_int_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	stub_entries_clear();
	stub_log_clear();
	ck_assert_int_eq(state_load(fd), 0);
	close(fd);
	ck_assert_uint_eq(entries_total(), 3);
	ck_assert_ptr_nonnull(strstr(stub_log, "snapshot of the table is not one"));
	ck_assert_ptr_nonnull(entry_find_view(key, 1));
}
END_TEST

/* Has dir a file whose name starts with prefix? */
static int
dir_has(const char *prefix)
{
	struct dirent *d;
	DIR *dp = opendir(dir);
	int found = 0;

	ck_assert_ptr_nonnull(dp);
	while ((d = readdir(dp)) != NULL)
		found |= strncmp(d->d_name, prefix, strlen(prefix)) == 0;
	closedir(dp);
	return found;
}

/*
 * The snapshot of the table with its byte at pos from the end of the last
 * entry's id (0: the id's first character) made c.
 */
static int
snapshot_with(int pos, unsigned char c)
{
	uint8_t *buf;
	struct stat st;
	int fd;

	ck_assert_int_ge(fd = state_snapshot(), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(buf, MAP_FAILED);
	buf[st.st_size - ENTRY_ID_LEN + pos] = c;
	munmap(buf, (size_t)st.st_size);
	return fd;
}

/*
 * A snapshot with an entry the new image refuses (here an id that is not
 * one): the others load, and the journal that still holds it is kept as
 * state.damaged.TIME before the compaction rewrites it from the table, as
 * for a journal with an invalid record.
 */
START_TEST(snapshot_invalid_entry)
{
	struct entry *a, *b;
	int fd;

	a = add("snap-ok", 1001);
	ck_assert_int_eq(state_set(a), 0);
	b = add("snap-bad", 1002);
	ck_assert_int_eq(state_set(b), 0);
	/* the last entry's id ends the snapshot: make its first character not one */
	fd = snapshot_with(0, 'Z');
	ck_assert(!dir_has("state.damaged."));

	stub_log_clear();
	load_snapshot(fd);
	ck_assert_uint_eq(entries_total(), 1);
	ck_assert_ptr_nonnull(strstr(stub_log, "had 1 invalid entries"));
	ck_assert(dir_has("state.damaged."));
	ck_assert(state_compact_wanted());
	/* the kept journal has both */
	stub_entries_clear();
	ck_assert_int_eq(state_load(-1), 0);
	ck_assert_uint_eq(entries_total(), 2);
}
END_TEST

/*
 * Every character of a snapshot's id is checked, at its place: the first
 * two are hex, the rest base32hex. Each change here is one character of
 * the last entry's id; only the last one keeps it an id.
 */
START_TEST(snapshot_id_chars)
{
	static const struct {
		int		pos;
		unsigned char	c;
		unsigned	loaded;
	} t[] = {
		{ 0, 'g', 1 }, { 1, 'v', 1 }, { 1, 'A', 1 }, { 2, 'w', 1 },
		{ 7, '/', 1 }, { 9, ':', 1 }, { 11, 0xe1, 1 }, { 13, '\0', 1 },
		{ ENTRY_ID_LEN - 1, 'w', 1 }, { ENTRY_ID_LEN - 1, '`', 1 },
		{ ENTRY_ID_LEN - 1, 'v', 2 },
	};
	struct entry *a, *b;
	size_t i;
	int fd;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		stub_entries_clear();
		a = add("snap-ok", 1001);
		ck_assert_int_eq(state_set(a), 0);
		b = add("snap-changed", 1002);
		ck_assert_int_eq(state_set(b), 0);
		fd = snapshot_with(t[i].pos, t[i].c);
		load_snapshot(fd);
		ck_assert_msg(entries_total() == t[i].loaded, "id char %d as 0x%02x: %u loaded",
		    t[i].pos, t[i].c, entries_total());
		ck_assert_ptr_nonnull(entry_find_view("snap-ok", 0));
	}
}
END_TEST

/*
 * A claim made in a private view only (view 1, not the host's): kept as
 * such by the journal, and a request by key alone of another uid, root
 * included, never reaches it; only its own uid does, or root's release of
 * the key's only claim.
 */
START_TEST(views_private)
{
	static const char key[] = "/tmp/priv/private.sock";
	struct entry *b;

	ck_assert_int_eq(entry_view_free(key, 1), 1);
	b = add_view(key, 1, 1002, EF_READY, 0666);
	ck_assert_int_eq(state_set(b), 0);

	stub_entries_clear();
	ck_assert_int_eq(state_load(-1), 0);
	ck_assert_ptr_nonnull(b = entry_find_view(key, 1));
	ck_assert_ptr_null(entry_find_view(key, 0));
	ck_assert_ptr_eq(entry_find_for(key, 1002), b);
	ck_assert_ptr_null(entry_find_for(key, 4242));
	ck_assert_ptr_null(entry_find_for(key, 0));
	/* the caller's own link must say: another uid, or root */
	ck_assert_int_eq(entry_views_other(key, 4242), 1);
	ck_assert_int_eq(entry_views_other(key, 0), 1);
	ck_assert_int_eq(entry_views_other(key, 1002), 0);
	ck_assert_ptr_eq(entry_find_sole(key), b);
	/* the host's claim would get view 0, another private one view 2 */
	ck_assert_int_eq(entry_view_free(key, 0), 0);
	ck_assert_int_eq(entry_view_free(key, 1), 2);
	ck_assert_ptr_eq(add(key, 1001), entry_find_view(key, 0));
	ck_assert_uint_eq(entry_find_for(key, 4242)->uid, 1001);
	ck_assert_ptr_null(entry_find_sole(key));
}
END_TEST

static void
fsize_limit(rlim_t n)
{
	struct rlimit rl;

	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rl.rlim_cur = n;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

START_TEST(write_fails)
{
	uint8_t before[4096], *after;
	struct rlimit rl;
	struct entry *e;
	size_t n, n2;
	int i;

	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	for (i = 0; i < 20; i++) {
		char k[16];

		snprintf(k, sizeof(k), "k%d", i);
		add(k, 1000);
	}
	ck_assert_int_eq(state_compact(), 0);
	after = slurp("state", &n);
	memcpy(before, after, n);

	/* a compaction that cannot write its file leaves the old one, in use */
	add("one-more", 1000);
	fsize_limit(n / 2);
	ck_assert_int_eq(state_compact(), -EFBIG);
	after = slurp("state", &n2);
	ck_assert_uint_eq(n2, n);
	ck_assert_int_eq(memcmp(after, before, n), 0);
	ck_assert_int_eq(faccessat(cfg.root_fd, "state.tmp", F_OK, 0), -1);

	/* a record that cannot be written: refused with the errno, cut off, read-only */
	fsize_limit(n + 10);
	e = entry_find("one-more", NULL);
	ck_assert_int_eq(state_set(e), -EFBIG);
	ck_assert_int_eq(state_readonly(), EFBIG);
	ck_assert_ptr_nonnull(strstr(stub_log, "read-only"));
	after = slurp("state", &n2);
	ck_assert_uint_eq(n2, n);
	ck_assert_int_eq(memcmp(after, before, n), 0);

	/* space again: written, read-write again, and loaded */
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	ck_assert_int_eq(state_set(e), 0);
	ck_assert_int_eq(state_readonly(), 0);
	ck_assert_ptr_nonnull(strstr(stub_log, "read-write"));
	stub_entries_clear();
	ck_assert_int_eq(state_load(-1), 0);
	ck_assert_uint_eq(entries_total(), 21);
	ck_assert_ptr_nonnull(entry_find("one-more", NULL));
	signal(SIGXFSZ, SIG_DFL);
}
END_TEST

/*
 * The id table (open-addressed): 3,000 entries inserted (the table grows
 * twice), two thirds removed in a scrambled order, half of them put back;
 * after each step every entry in the table is found by its id, and each
 * removed one is not.
 */
#define NIDS	3000

static void
ids_check(struct entry **e, const char (*id)[ENTRY_ID_LEN + 1], const int *in)
{
	size_t i;

	for (i = 0; i < NIDS; i++)
		if (in[i])
			ck_assert_ptr_eq(entry_by_id(id[i]), e[i]);
		else
			ck_assert_ptr_null(entry_by_id(id[i]));
}

START_TEST(id_table)
{
	static struct entry *e[NIDS];
	static char id[NIDS][ENTRY_ID_LEN + 1];
	static int in[NIDS];
	char key[32];
	size_t i, j;

	for (i = 0; i < NIDS; i++) {
		snprintf(key, sizeof(key), "id-%zu", i);
		ck_assert_ptr_nonnull(e[i] = entry_new(key));
		memcpy(id[i], e[i]->id, sizeof(id[i]));
		entry_insert(e[i]);
		in[i] = 1;
	}
	ids_check(e, id, in);
	for (i = 0; i < NIDS; i++) {
		j = (i * 1237 + 11) % NIDS;	/* 1237 is prime to 3000: a permutation */
		if (j % 3 == 0)
			continue;
		entry_unlink(e[j]);
		in[j] = 0;
		if (i % 500 == 0)
			ids_check(e, id, in);
	}
	ck_assert_uint_eq(entries_total(), NIDS / 3);
	ids_check(e, id, in);
	for (i = 0; i < NIDS; i += 2)
		if (!in[i]) {
			entry_insert(e[i]);
			in[i] = 1;
		}
	ids_check(e, id, in);
	for (i = 0; i < NIDS; i++)
		if (!in[i])
			entry_free(e[i]);
	stub_entries_clear();
	for (i = 0; i < NIDS; i++)
		in[i] = 0;
	ck_assert_ptr_null(entry_by_id(id[0]));
	ck_assert_uint_eq(entries_total(), 0);
}
END_TEST

/*
 * A load big enough for the arena (entry.c: 1,024 entries or more), from
 * the journal and from a re-exec's snapshot: every entry comes back with
 * its key, id and owner; entries freed in any order and new ones made
 * after it leave the others whole (ASan poisons what is freed); the pages
 * of freed entries go back to the kernel, and the mapping goes with the
 * last of its entries.
 */
#define NBIG	3000

static void
big_key(char *key, size_t size, size_t i)
{
	/* lengths from 8 to 107 bytes: entries of many sizes */
	snprintf(key, size, "big-%zu-%.*s", i, (int)(i % 100), "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
}

static void
big_check(const int *in, size_t from, size_t to)
{
	struct entry *e;
	char key[128];
	size_t i;

	for (i = from; i < to; i++) {
		big_key(key, sizeof(key), i);
		e = entry_find(key, NULL);
		if (!in[i]) {
			ck_assert_msg(e == NULL, "%s: freed, still found", key);
			continue;
		}
		ck_assert_msg(e != NULL, "%s: lost", key);
		ck_assert_str_eq(e->key, key);
		ck_assert_uint_eq(e->uid, 1000 + i % 7);
		ck_assert_ptr_eq(entry_by_id(e->id), e);
	}
}

START_TEST(big_load)
{
	static int in[NBIG + 500];
	char key[128];
	struct entry *e;
	size_t i, j, n = 0;
	int fd, pass;

	cfg.max_entries = SB_DEFAULT_MAX_ENTRIES;	/* the table is sized from the journal */
	for (i = 0; i < NBIG; i++) {
		big_key(key, sizeof(key), i);
		add(key, 1000 + (uid_t)(i % 7));
		in[i] = 1;
	}
	ck_assert_int_eq(state_compact(), 0);
	for (pass = 0; pass < 2; pass++) {
		if (pass == 0) {
			stub_entries_clear();
			ck_assert_uint_eq(stub_arena_mapped(), 0);
			ck_assert_int_eq(state_load(-1), 0);
		} else {
			ck_assert_int_ge(fd = state_snapshot(), 0);
			load_snapshot(fd);
		}
		ck_assert_uint_eq(entries_total(), n + NBIG / 3 * (pass ? 1 : 3));
		ck_assert_msg(stub_arena_mapped() > 0, "pass %d: no arena", pass);
		ck_assert_uint_eq(stub_arena_live(), entries_total());
		big_check(in, 0, NBIG);
		if (pass == 1)
			break;
		/* two thirds freed, in a permuted order, with new entries between */
		for (i = 0; i < NBIG; i++) {
			j = (i * 1237 + 11) % NBIG;	/* 1237 is prime to 3000 */
			if (j % 3 == 0)
				continue;
			big_key(key, sizeof(key), j);
			ck_assert_ptr_nonnull(e = entry_find(key, NULL));
			entry_unlink(e);
			ck_assert_int_eq(state_del(e), 0);
			entry_free(e);
			in[j] = 0;
			if (i % 6 == 0 && n < 500) {
				big_key(key, sizeof(key), NBIG + n);
				ck_assert_int_eq(state_set(add(key, 1000 + (uid_t)((NBIG + n) % 7))), 0);
				in[NBIG + n++] = 1;
			}
		}
		ck_assert_uint_eq(stub_arena_live(), NBIG / 3);
		big_check(in, 0, NBIG + n);
	}
	big_check(in, NBIG, NBIG + n);
	/* all but one freed: the pages of the others go back, the mapping stays */
	ck_assert_uint_gt(stub_arena_resident(), 8);
	while ((e = entry_first()) != NULL && e->next != NULL) {
		entry_unlink(e);
		entry_free(e);
	}
	ck_assert_uint_eq(stub_arena_live(), 1);
	ck_assert_uint_gt(stub_arena_mapped(), 0);
	ck_assert_msg(stub_arena_resident() <= 2, "%zu pages of one entry in memory",
	    stub_arena_resident());
	/* its last entry gone, the arena is */
	stub_entries_clear();
	ck_assert_uint_eq(stub_arena_mapped(), 0);
	ck_assert_uint_eq(stub_log_len, 0);
	cfg.max_entries = 0;
}
END_TEST

static Suite *
state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("journal");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, flip_every_byte);
	tcase_add_test(tc, version1);
	tcase_add_test(tc, write_fails);
	tcase_add_test(tc, views);
	tcase_add_test(tc, views_private);
	tcase_add_test(tc, snapshot);
	tcase_add_test(tc, snapshot_invalid_entry);
	tcase_add_test(tc, snapshot_id_chars);
	tcase_add_test(tc, id_table);
	tcase_add_test(tc, big_load);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int r = check_run(state_suite(), CK_NOFORK);

	rmdir(dir);
	return r;
}
