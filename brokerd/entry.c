/* SPDX-License-Identifier: ISC */
/*
 * entry.c: the entry table and the files of entries under the root.
 *
 * Entries are indexed twice: by key, with SipHash-1-3 under a random seed
 * chosen at start (cheap enough for every request, and no client can aim
 * keys at one chain), and by id ("xx" + HASH, the short path's two
 * directory names, from SHA-256 of the key), which is computed once when an
 * entry is made and detects two keys sharing a short path. The id table is
 * open-addressed (linear probing, at most half full), each slot the id's
 * seeded hash beside the entry: a lookup reads one slot's line and touches
 * an entry only when the whole hash matches (a restart with 100,000
 * entries looks up every loaded key and every directory found; walking
 * chains of entries there was a quarter of the time). Every file
 * operation is relative to the root fd, never follows a symlink, and never
 * leaves the root.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "brokerd.h"
#include "closer.h"
#include "sb-internal.h"

/* ASan under gcc (__SANITIZE_ADDRESS__) and clang (__has_feature) */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN	1
#endif
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define ARENA_POISON(p, n)	ASAN_POISON_MEMORY_REGION(p, n)
#define ARENA_UNPOISON(p, n)	ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define ARENA_POISON(p, n)	((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n)	((void)(p), (void)(n))
#endif

struct islot {
	uint64_t	 h;		/* id_hash() of e->id */
	struct entry	*e;		/* NULL: free */
};

static struct entry	**buckets;	/* by key */
static struct islot	 *islots;	/* by id: 2 * nbuckets slots */
static size_t		  nbuckets;	/* a power of 2 */
static unsigned		  nentries;
static struct entry	 *head, *tail;
static uint64_t		  seed[2];

struct uidstat {
	struct uidstat	*next;
	uid_t		 uid;
	unsigned	 entries;
	unsigned	 clients;
	unsigned	 prepares;	/* pending PREPAREs */
};
#define UID_BUCKETS	256
static struct uidstat	*uids[UID_BUCKETS];

#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND(v0, v1, v2, v3) do {					\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

/* SipHash-1-3 of p[0..n) under seed (a keyed hash: one compression round, three final) */
static uint64_t
siphash13(const void *data, size_t n)
{
	const uint8_t *p = data, *end = p + (n & ~(size_t)7);
	uint64_t v0 = seed[0] ^ 0x736f6d6570736575ull, v1 = seed[1] ^ 0x646f72616e646f6dull;
	uint64_t v2 = seed[0] ^ 0x6c7967656e657261ull, v3 = seed[1] ^ 0x7465646279746573ull;
	uint64_t m, b = (uint64_t)n << 56;
	size_t i;

	for (; p != end; p += 8) {
		memcpy(&m, p, 8);
		m = le64toh(m);
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	for (i = 0; i < (n & 7); i++)
		b |= (uint64_t)p[i] << (8 * i);
	v3 ^= b;
	SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t
id_hash(const char *id)
{
	return siphash13(id, ENTRY_ID_LEN);
}

/* Put e (id hash h) in the first free slot from h's own, in a table of n slots. */
static void
islot_put(struct islot *t, size_t n, uint64_t h, struct entry *e)
{
	size_t i;

	for (i = (size_t)h & (n - 1); t[i].e != NULL; i = (i + 1) & (n - 1))
		;
	t[i].h = h;
	t[i].e = e;
}

/* Take e out of the id table, moving back the slots after it that may (linear probing). */
static void
islot_remove(struct entry *e)
{
	size_t mask = 2 * nbuckets - 1, i, j, home;

	for (i = (size_t)id_hash(e->id) & mask; islots[i].e != e; i = (i + 1) & mask)
		if (islots[i].e == NULL)
			return;		/* not in the table */
	for (j = i;;) {
		j = (j + 1) & mask;
		if (islots[j].e == NULL)
			break;
		home = (size_t)islots[j].h & mask;
		/* j's entry stays if its own slot is cyclically in (i, j] */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		islots[i] = islots[j];
		i = j;
	}
	islots[i].e = NULL;
	islots[i].h = 0;
}

/* A seed no client can guess: getrandom(), which does not block here. */
static void
seed_init(void)
{
	struct timespec ts;
	ssize_t n;

#ifdef GRND_INSECURE
	n = getrandom(seed, sizeof(seed), GRND_INSECURE);
	if (n != (ssize_t)sizeof(seed))
#endif
		n = getrandom(seed, sizeof(seed), GRND_NONBLOCK);
	if (n == (ssize_t)sizeof(seed))
		return;
	/* before the kernel's pool is ready (early boot, old kernel) */
	log_warn("getrandom: %s: the entry table is seeded from the clock",
	    n < 0 ? strerror(errno) : "short read");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	seed[0] ^= (uint64_t)ts.tv_nsec << 32 ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	seed[1] ^= (uint64_t)ts.tv_nsec << 32 ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid() << 16;
}

static unsigned		  nonroot_entries;
static unsigned		  nonroot_prepares;
static struct entry	 *prep_head, *prep_tail;

/* The counters of uid's person (its subordinate range's owner, or itself), or NULL. */
static struct uidstat *
uidstat_find(uid_t uid)
{
	struct uidstat *u;

	uid = person_of(uid);
	for (u = uids[uid % UID_BUCKETS]; u != NULL; u = u->next)
		if (u->uid == uid)
			return u;
	return NULL;
}

/* As uidstat_find(), made if uid's person has none yet; NULL if out of memory. */
static struct uidstat *
uidstat_get(uid_t uid)
{
	struct uidstat *u;

	if ((u = uidstat_find(uid)) != NULL)
		return u;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->uid = person_of(uid);
	u->next = uids[u->uid % UID_BUCKETS];
	uids[u->uid % UID_BUCKETS] = u;
	return u;
}

unsigned
entries_nonroot(void)
{
	return nonroot_entries;
}

unsigned
entries_of(uid_t uid)
{
	struct uidstat *u = uidstat_find(uid);

	return u != NULL ? u->entries : 0;
}

/*
 * The client count of uid's person, its counters made on its first
 * connection; NULL if they cannot be (out of memory): the connection is
 * refused, the broker goes on. Counters are never freed, so every uid
 * with a client has them from then on.
 */
unsigned *
uid_clients(uid_t uid)
{
	struct uidstat *u = uidstat_get(uid);

	return u != NULL ? &u->clients : NULL;
}

void
entries_init(void)
{
	seed_init();
	nbuckets = 1024;
	if ((buckets = calloc(nbuckets, sizeof(*buckets))) == NULL ||
	    (islots = calloc(2 * nbuckets, sizeof(*islots))) == NULL)
		fatal("unable to allocate memory");
}

/* Both tables at n buckets (a power of 2, more than now). */
static void
entries_resize(size_t n)
{
	struct entry **nb, *e, *next;
	struct islot *ni;
	size_t i, b;

	if ((nb = calloc(n, sizeof(*nb))) == NULL)
		return;		/* longer chains, still correct */
	if ((ni = calloc(2 * n, sizeof(*ni))) == NULL) {
		free(nb);
		return;
	}
	for (i = 0; i < nbuckets; i++) {
		for (e = buckets[i]; e != NULL; e = next) {
			next = e->hnext;
			b = (size_t)e->khash & (n - 1);
			e->hnext = nb[b];
			nb[b] = e;
		}
	}
	for (i = 0; i < 2 * nbuckets; i++)
		if (islots[i].e != NULL)
			islot_put(ni, 2 * n, islots[i].h, islots[i].e);
	free(buckets);
	free(islots);
	buckets = nb;
	islots = ni;
	nbuckets = n;
}

/* Double both tables when they are full: short chains, the id table at most half full. */
static void
entries_grow(void)
{
	entries_resize(nbuckets * 2);
}

/*
 * Room for n entries before any is inserted (state.c, from the journal's
 * records): a load of 100,000 entries doubled the tables 7 times, each
 * time walking every entry again.
 */
void
entries_reserve(size_t n)
{
	size_t want = nbuckets;

	while (want < n && want < ((size_t)1 << 30))
		want *= 2;
	if (want > nbuckets)
		entries_resize(want);
}

/*
 * The entries of a load (a start's journal, a re-exec's snapshot), cut one
 * after another from one mapping that asks for transparent huge pages: a
 * calloc() each, 229 bytes, cost a page fault every 18 entries, a quarter
 * of a start with 100,000 entries (bench/README). Fresh anonymous memory
 * is zero. An entry of it is never reused once freed, but a page whose
 * entries are all freed goes back to the kernel (MADV_DONTNEED: zero
 * again if touched), so what stays is at most the pages of the loaded
 * entries still there; what the load did not use goes at its end, and
 * the mapping with its last entry. Under ASan each entry is followed by
 * a poisoned gap, as a heap block by its redzone.
 */
#ifndef ARENA_MIN				/* the state fuzzer's build: 1 */
#define ARENA_MIN	1024			/* entries: fewer are calloc()ed */
#endif
#define ARENA_ALIGN	((size_t)2 << 20)	/* a huge page */
#ifdef ARENA_ASAN
#define ARENA_GAP	16
#else
#define ARENA_GAP	0
#endif
#define ARENA_SLACK	(16 + ARENA_GAP)	/* an entry's rounding and gap, at most */

static struct {
	uint8_t		*base;
	size_t		 size;		/* mapped */
	size_t		 used;		/* cut so far */
	size_t		 live;		/* cut and not freed */
	size_t		 page;		/* the system's page size */
	uint16_t	*page_live;	/* entries not freed that touch each page */
	int		 open;		/* a load is cutting from it */
} arena;

/* What an entry of n bytes takes of the arena (ARENA_GAP after it apart) */
static size_t
arena_len(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

static void
arena_open(size_t n, size_t key_bytes)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t size, skew, page;
	uint8_t *p;

	/* pages of 4 to 64 KiB (ppc64el's): what touches one counts in 16 bits */
	if (arena.base != NULL || n < ARENA_MIN || pg < 4096 || pg > 65536 ||
	    n > (SIZE_MAX / 2 - key_bytes) / (sizeof(struct entry) + ARENA_SLACK))
		return;
	page = (size_t)pg;
	size = (n * (sizeof(struct entry) + ARENA_SLACK) + key_bytes + page - 1) & ~(page - 1);
	if ((arena.page_live = calloc(size / page, sizeof(*arena.page_live))) == NULL)
		return;
	p = mmap(NULL, size + ARENA_ALIGN, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		free(arena.page_live);
		arena.page_live = NULL;
		return;
	}
	/* aligned to a huge page: the head and the tail beyond it, unmapped */
	skew = (ARENA_ALIGN - ((uintptr_t)p & (ARENA_ALIGN - 1))) & (ARENA_ALIGN - 1);
	if (skew > 0)
		munmap(p, skew);
	munmap(p + skew + size, ARENA_ALIGN - skew);
	p += skew;
#ifdef MADV_HUGEPAGE
	(void)madvise(p, size, MADV_HUGEPAGE);	/* an advice: without it, small pages */
#endif
	ARENA_POISON(p, size);
	arena.base = p;
	arena.size = size;
	arena.page = page;
	arena.used = 0;
	arena.live = 0;
	arena.open = 1;
}

/* n bytes of zeroes for an entry, from the arena while a load cuts; or NULL. */
static void *
arena_cut(size_t n)
{
	size_t i, last;
	void *p;

	n = arena_len(n);
	if (!arena.open || arena.size - arena.used < n + ARENA_GAP)
		return NULL;
	p = arena.base + arena.used;
	ARENA_UNPOISON(p, n);
	last = (arena.used + n - 1) / arena.page;
	for (i = arena.used / arena.page; i <= last; i++)
		arena.page_live[i]++;	/* an entry takes 160 bytes or more */
	arena.used += n + ARENA_GAP;
	arena.live++;
	return p;
}

/* Unmapped, with nothing of ASan's left on its addresses for the next mapping there. */
static void
arena_unmap(uint8_t *p, size_t n)
{
	ARENA_UNPOISON(p, n);
	munmap(p, n);
}

static void
arena_drop(void)
{
	arena_unmap(arena.base, arena.size);
	free(arena.page_live);
	memset(&arena, 0, sizeof(arena));
}

/* The load is done: no more cut, and the pages it did not reach go. */
static void
arena_close(void)
{
	size_t keep;

	if (!arena.open)
		return;
	keep = (arena.used + arena.page - 1) & ~(arena.page - 1);
	arena.open = 0;
	if (arena.live == 0) {
		arena_drop();
		return;
	}
	if (keep < arena.size)
		arena_unmap(arena.base + keep, arena.size - keep);
	arena.size = keep;
}

/* 1 if e was cut from the arena (and is accounted as freed). */
static int
arena_free(struct entry *e, size_t n)
{
	size_t off, i, last;

	if (arena.base == NULL || (uint8_t *)e < arena.base ||
	    (uint8_t *)e >= arena.base + arena.size)
		return 0;
	n = arena_len(n);
	ARENA_POISON(e, n);
	if (--arena.live == 0 && !arena.open) {
		arena_drop();
		return 1;
	}
	off = (size_t)((uint8_t *)e - arena.base);
	last = (off + n - 1) / arena.page;
	for (i = off / arena.page; i <= last; i++)
		if (--arena.page_live[i] == 0)
			(void)madvise(arena.base + i * arena.page, arena.page, MADV_DONTNEED);
	return 1;
}

/* A new entry of key (checked), with its id: the one place SHA-256 is computed. */
struct entry *
entry_new(const char *key)
{
	return entry_new_view(key, 0);
}

struct entry *
entry_new_view(const char *key, unsigned view)
{
	char hex[3], hash[SB_HASH_CHARS + 1], id[ENTRY_ID_LEN + 1];

	sb_key_hash_view(key, view, hex, hash);
	memcpy(id, hex, 2);
	memcpy(id + 2, hash, SB_HASH_CHARS + 1);
	return entry_new_with_id(key, view, id);
}

/* A new entry of key (checked) in view whose id is id, as an earlier image computed it. */
struct entry *
entry_new_with_id(const char *key, unsigned view, const char *id)
{
	size_t len = strlen(key);
	struct entry *e;

	if ((e = arena_cut(sizeof(*e) + len + 1)) == NULL &&
	    (e = calloc(1, sizeof(*e) + len + 1)) == NULL)
		return NULL;
	memcpy(e->key, key, len + 1);
	e->keylen = (uint16_t)len;
	e->khash = siphash13(key, len);
	e->view = (uint8_t)view;
	memcpy(e->id, id, ENTRY_ID_LEN);
	e->id[ENTRY_ID_LEN] = '\0';
	e->fd = -1;
	e->link_root = -1;
	return e;
}

/* The entry of id (ENTRY_ID_LEN chars), whose id_hash() is h, or NULL. */
static struct entry *
id_lookup(const char *id, uint64_t h)
{
	size_t mask = 2 * nbuckets - 1, i;

	for (i = (size_t)h & mask; islots[i].e != NULL; i = (i + 1) & mask)
		if (islots[i].h == h && memcmp(islots[i].e->id, id, ENTRY_ID_LEN) == 0)
			return islots[i].e;
	return NULL;
}

struct entry *
entry_by_id(const char *id)
{
	if (strlen(id) != ENTRY_ID_LEN)
		return NULL;
	return id_lookup(id, id_hash(id));
}

/*
 * The entry of key, or NULL. With ret_collision, a key that has no entry
 * is also checked against the ids (SHA-256 of key): *ret_collision is
 * another key's entry at the same short path, or NULL.
 */
struct entry *
entry_find(const char *key, struct entry **ret_collision)
{
	char hex[3], hash[SB_HASH_CHARS + 1], id[ENTRY_ID_LEN + 1];
	size_t len = strlen(key);
	uint64_t h = siphash13(key, len);
	struct entry *e;

	if (ret_collision != NULL)
		*ret_collision = NULL;
	for (e = buckets[(size_t)h & (nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->khash == h && e->keylen == len && memcmp(e->key, key, len) == 0)
			return e;
	if (ret_collision != NULL) {
		sb_key_hash(key, hex, hash);
		memcpy(id, hex, 2);
		memcpy(id + 2, hash, SB_HASH_CHARS + 1);
		*ret_collision = entry_by_id(id);
	}
	return NULL;
}

/* Every entry of key in turn: start with NULL */
static struct entry *
key_next(const char *key, size_t len, uint64_t h, struct entry *e)
{
	for (e = e != NULL ? e->hnext : buckets[(size_t)h & (nbuckets - 1)]; e != NULL;
	    e = e->hnext)
		if (e->khash == h && e->keylen == len && memcmp(e->key, key, len) == 0)
			return e;
	return NULL;
}

struct entry *
entry_find_view(const char *key, unsigned view)
{
	size_t len = strlen(key);
	uint64_t h = siphash13(key, len);
	struct entry *e = NULL;

	while ((e = key_next(key, len, h, e)) != NULL)
		if (e->view == view)
			return e;
	return NULL;
}

struct entry *
entry_find_uid(const char *key, uid_t uid)
{
	size_t len = strlen(key);
	uint64_t h = siphash13(key, len);
	struct entry *e = NULL;

	while ((e = key_next(key, len, h, e)) != NULL)
		if (e->uid == uid)
			return e;
	return NULL;
}

struct entry *
entry_find_for(const char *key, uid_t uid)
{
	size_t len = strlen(key);
	uint64_t h = siphash13(key, len);
	struct entry *e = NULL, *host = NULL;

	while ((e = key_next(key, len, h, e)) != NULL) {
		if (e->uid == uid)
			return e;
		if (e->view == 0)
			host = e;
	}
	return host;
}

int
entry_views_other(const char *key, uid_t uid)
{
	size_t len = strlen(key);
	uint64_t h = siphash13(key, len);
	struct entry *e = NULL;
	int n = 0;

	while ((e = key_next(key, len, h, e)) != NULL) {
		if (e->uid == uid)
			return 0;
		n += e->view != 0;
	}
	return n > 0;
}

struct entry *
entry_find_sole(const char *key)
{
	size_t len = strlen(key);
	uint64_t h = siphash13(key, len);
	struct entry *first = key_next(key, len, h, NULL);

	return first != NULL && key_next(key, len, h, first) == NULL ? first : NULL;
}

int
entry_view_free(const char *key, unsigned from)
{
	char hex[3], hash[SB_HASH_CHARS + 1], id[ENTRY_ID_LEN + 1];
	unsigned v;

	for (v = from; v <= SB_VIEW_MAX; v++) {
		if (entry_find_view(key, v) != NULL)
			continue;
		sb_key_hash_view(key, v, hex, hash);
		memcpy(id, hex, 2);
		memcpy(id + 2, hash, SB_HASH_CHARS + 1);
		if (entry_by_id(id) == NULL)
			return (int)v;
	}
	return -1;
}

/*
 * Room in the tables for one more entry: they grow here if they must.
 * -ENOMEM if the id table could not grow and has no slot to spare, so
 * that a request is refused before entry_insert would have to stop the
 * broker.
 */
int
entries_room(void)
{
	if (nentries >= nbuckets)
		entries_grow();
	return nentries + 1 >= 2 * nbuckets ? -ENOMEM : 0;
}

/*
 * The journal's load at start (state.c): a filter of the ids inserted so
 * far, a bit each (16 bits per bucket of the table, a few hundred KiB
 * where the table's slots are MiB), and the slots a record's entry will
 * touch prefetched a batch ahead. Almost every record of a compacted
 * journal has a new key, which needed a walk of its key chain and of its
 * id's slots to find nothing; where the filter's bit of the id is clear,
 * no entry of that id, nor of that key in that view (the same id), exists.
 */
static uint64_t	*load_filter;
static size_t	 load_filter_mask;	/* its size in bits, less one */

static size_t
load_filter_bit(uint64_t idh)
{
	return (size_t)(idh >> 20) & load_filter_mask;
}

void
entries_load_begin(size_t n, size_t key_bytes)
{
	size_t bits = nbuckets * 16;

	arena_open(n, key_bytes);

	if (bits < 4096)
		bits = 4096;
	if ((load_filter = calloc(bits / 64, sizeof(*load_filter))) != NULL)
		load_filter_mask = bits - 1;
}

void
entries_load_end(void)
{
	arena_close();
	free(load_filter);
	load_filter = NULL;
}

/* Prefetch what inserting e will touch; the hash of its id (entry_insert_hashed()). */
uint64_t
entry_load_hint(const struct entry *e)
{
	uint64_t h = id_hash(e->id);

	__builtin_prefetch(&buckets[(size_t)e->khash & (nbuckets - 1)], 1);
	__builtin_prefetch(&islots[(size_t)h & (2 * nbuckets - 1)], 1);
	if (load_filter != NULL)
		__builtin_prefetch(&load_filter[load_filter_bit(h) / 64], 1);
	return h;
}

/* Can an entry of the id whose hash is idh be in the table? 0: surely not. */
int
entry_load_may_exist(uint64_t idh)
{
	size_t b;

	if (load_filter == NULL)
		return 1;
	b = load_filter_bit(idh);
	return (load_filter[b / 64] >> (b % 64)) & 1;
}

void
entry_insert(struct entry *e)
{
	entry_insert_hashed(e, id_hash(e->id));
}

/* Insert e, the hash of whose id is idh. */
void
entry_insert_hashed(struct entry *e, uint64_t idh)
{
	struct uidstat *u;
	size_t b;

	if (nentries >= nbuckets)
		entries_grow();
	/* the id table could not grow: a free slot must be left, or lookups would not end */
	if (nentries + 1 >= 2 * nbuckets)
		fatal("unable to allocate memory");
	b = (size_t)e->khash & (nbuckets - 1);
	e->hnext = buckets[b];
	buckets[b] = e;
	islot_put(islots, 2 * nbuckets, idh, e);
	if (load_filter != NULL) {
		b = load_filter_bit(idh);
		load_filter[b / 64] |= (uint64_t)1 << (b % 64);
	}
	e->prev = tail;
	e->next = NULL;
	if (tail != NULL)
		tail->next = e;
	else
		head = e;
	tail = e;
	nentries++;
	nonroot_entries += e->uid != 0;
	/*
	 * A request's entry has its client's uid, whose counters were made
	 * when it connected (uid_clients): this allocates only for an entry
	 * of the journal's load at start-up (or a unit test).
	 */
	if ((u = uidstat_get(e->uid)) == NULL)
		fatal("unable to allocate memory");
	u->entries++;
	e->linked = 1;
	entry_prepare_update(e);
}

void
entry_unlink(struct entry *e)
{
	struct uidstat *u;
	struct entry **pp;

	for (pp = &buckets[(size_t)e->khash & (nbuckets - 1)]; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	islot_remove(e);
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		tail = e->prev;
	e->prev = e->next = e->hnext = NULL;
	e->linked = 0;
	entry_prepare_update(e);
	nentries--;
	nonroot_entries -= e->uid != 0;
	if ((u = uidstat_find(e->uid)) != NULL)	/* made by its entry_insert() */
		u->entries--;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
entry_prepare_update(struct entry *e)
{
	/*
	 * An adopted entry of owner lifetime goes with its process: a program
	 * may bind, then take its time before it listens (the shim's binds).
	 */
	int want = e->linked && (e->flags & (EF_PREPARED | EF_READY)) == EF_PREPARED &&
	    e->kind == SB_KIND_SOCKET && !(e->adopted && e->lifetime == SB_LT_OWNER);
	struct uidstat *u = uidstat_find(e->uid);
	int count = want && !e->adopted;

	/* an adopted one has its deadline too, but its directory is ours: not counted */
	if (count != e->prep_counted) {
		if (count) {
			if (u != NULL)
				u->prepares++;
			nonroot_prepares += e->uid != 0;
		} else {
			if (u != NULL && u->prepares > 0)
				u->prepares--;
			nonroot_prepares -= e->uid != 0;
		}
		e->prep_counted = (uint8_t)count;
	}
	if (want == e->prep_pending)
		return;
	if (want) {
		e->prep_deadline = now_ms() + (int64_t)cfg.prepare_timeout_s * 1000;
		e->prep_next = NULL;
		e->prep_prev = prep_tail;
		if (prep_tail != NULL)
			prep_tail->prep_next = e;
		else
			prep_head = e;
		prep_tail = e;
	} else {
		if (e->prep_prev != NULL)
			e->prep_prev->prep_next = e->prep_next;
		else
			prep_head = e->prep_next;
		if (e->prep_next != NULL)
			e->prep_next->prep_prev = e->prep_prev;
		else
			prep_tail = e->prep_prev;
		e->prep_prev = e->prep_next = NULL;
	}
	e->prep_pending = (uint8_t)want;
}

unsigned
prepares_of(uid_t uid)
{
	struct uidstat *u = uidstat_find(uid);

	return u != NULL ? u->prepares : 0;
}

unsigned
prepares_nonroot(void)
{
	return nonroot_prepares;
}

long
entry_prepares_expire(void)
{
	int64_t now = now_ms();
	struct entry *e;

	/* one timeout for all: the list is in deadline order */
	while ((e = prep_head) != NULL && e->prep_deadline <= now) {
		log_info("%s was prepared by uid %lu pid %ld and not bound within %u s "
		    "(--prepare-timeout): released", e->key, (unsigned long)e->uid,
		    (long)e->pid, cfg.prepare_timeout_s);
		entry_destroy(e, "not bound in time");
	}
	return e != NULL ? (long)(e->prep_deadline - now) : -1;
}

/*
 * The service manager (the broker's parent), if e's fd is in its store and
 * someone but root may have queued fds in it (another uid may reach it, or
 * it is not root's): the closer waits for the manager to drop its copy (a
 * scan of its fds, up to 1 s); else 0.
 */
static pid_t
fdstore_holder(const struct entry *e)
{
	return e->in_fdstore && (e->uid != 0 || (e->mode & 077)) ? getppid() : 0;
}

void
entry_free(struct entry *e)
{
	if (e == NULL)
		return;
	/* a put fd's last close may block: not here; what others queued in it, drained */
	closer_close_held(e->fd, e->uid, fdstore_holder(e));
	if (!arena_free(e, sizeof(*e) + e->keylen + 1))
		free(e);
}

struct entry *
entry_first(void)
{
	return head;
}

unsigned
entries_total(void)
{
	return nentries;
}

/*
 * ROOT/xx/HASH/sock, put together by hand: it is in every GET reply, and
 * snprintf() was a third of the broker's own work per GET (bench/README).
 */
void
entry_short_path(const struct entry *e, char *buf, size_t size)
{
	static const char sock_tail[] = "/" SB_SOCK_NAME;
	size_t n = cfg.root_len, hl = ENTRY_ID_LEN - 2;

	if (n + 4 + hl + sizeof(sock_tail) > size) {
		buf[0] = '\0';		/* cannot happen: the root length is checked at start */
		return;
	}
	memcpy(buf, cfg.root, n);
	buf[n++] = '/';
	buf[n++] = e->id[0];
	buf[n++] = e->id[1];
	buf[n++] = '/';
	memcpy(buf + n, e->id + 2, hl);
	memcpy(buf + n + hl, sock_tail, sizeof(sock_tail));
}

/* Files */

/*
 * Open ROOT/xx, making it (0711, ours: others may cross it, never list it)
 * if needed; refuse anything else.
 */
/* The broker's euid: it never changes, and geteuid() is a system call. */
static uid_t
broker_uid(void)
{
	static uid_t uid = (uid_t)-1;

	if (uid == (uid_t)-1)
		uid = geteuid();
	return uid;
}

/*
 * The fan-out directories this process has checked (ours, not writable by
 * others): only the broker can replace one (the root is its own and not
 * writable by others), so each is checked once, not at every bind.
 */
static uint8_t fanout_checked[256];

static int fanout_index(const struct entry *e);

static int
fanout_open(const struct entry *e, char *err, size_t errlen)
{
	char xx[3] = { e->id[0], e->id[1], '\0' };
	int i = fanout_index(e);
	struct stat st;
	int fd;

	/* it is there but for the first entry of its 256th: open first, make if missing */
	fd = openat(cfg.root_fd, xx, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && fanout_checked[i])
		return fd;
	if (fd < 0 && errno == ENOENT) {
		fanout_checked[i] = 0;
		if (mkdirat(cfg.root_fd, xx, 0711) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "unable to create %s/%s: %s", cfg.root, xx,
			    strerror(errno));
			return -errno;
		}
		fd = openat(cfg.root_fd, xx, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		snprintf(err, errlen, "%s/%s is not a directory of the broker: %s",
		    cfg.root, xx, strerror(errno));
		return errno == ENOTDIR || errno == ELOOP ? -EEXIST : -errno;
	}
	if (fstat(fd, &st) < 0 || st.st_uid != broker_uid() || (st.st_mode & 022)) {
		snprintf(err, errlen, "%s/%s is not owned by the broker or is writable by others",
		    cfg.root, xx);
		close(fd);
		return -EEXIST;
	}
	/* one made by an older broker (0755) */
	if ((st.st_mode & 07777) != 0711)
		fchmod(fd, 0711);
	fanout_checked[i] = 1;
	return fd;
}

/*
 * Make ROOT/xx/HASH afresh, the broker's and 0700 until entry_dir_finish():
 * a stale one (of a release, of a broker that was killed) is moved to the
 * trash first, whatever is in it (cleaner.c removes it off the event loop).
 */
int
entry_dir_make(struct entry *e, uid_t dir_uid, int *ret_dirfd, char *err, size_t errlen)
{
	char xx[3] = { e->id[0], e->id[1], '\0' };
	const char *hash = e->id + 2;
	int xfd, dfd, r;

	(void)dir_uid;
	if ((xfd = fanout_open(e, err, errlen)) < 0)
		return xfd;
	/* mostly nothing is in the way: the trash only when something is */
	if (mkdirat(xfd, hash, 0700) < 0) {
		if ((r = -errno) == -EEXIST) {
			if ((r = cleaner_trash(xfd, xx, hash)) < 0 && r != -ENOENT) {
				snprintf(err, errlen, "the old directory %s/%s/%s of %s is %s: try "
				    "again", cfg.root, xx, hash, e->key, r == -EBUSY ?
				    "a mount point, being detached" : strerror(-r));
				close(xfd);
				return r == -EBUSY ? -EAGAIN : r;
			}
			r = mkdirat(xfd, hash, 0700) < 0 ? -errno : 0;
		}
		if (r < 0) {
			snprintf(err, errlen, "unable to create %s/%s/%s: %s", cfg.root, xx, hash,
			    strerror(-r));
			close(xfd);
			return r == -EEXIST ? -EAGAIN : r;
		}
	}
	dfd = dir_open_beneath(xfd, hash);
	close(xfd);
	if (dfd < 0) {
		snprintf(err, errlen, "unable to open %s/%s/%s: %s", cfg.root, xx, hash,
		    strerror(-dfd));
		return dfd;
	}
	*ret_dirfd = dfd;
	return 0;
}

/* Open the directory of e (no creation), or -errno. */
int
entry_dir_open(const struct entry *e)
{
	char path[ENTRY_ID_LEN + 2];
	int fd;

	snprintf(path, sizeof(path), "%.2s/%s", e->id, e->id + 2);
	fd = dir_open_beneath(cfg.root_fd, path);	/* never into a client's mount */
	return fd;
}

/* The fan-out directory of e, 0..255 ("xx" is hex) */
static int
fanout_index(const struct entry *e)
{
	static const char hexd[] = "0123456789abcdef";
	const char *hi = strchr(hexd, e->id[0]), *lo = strchr(hexd, e->id[1]);

	return hi != NULL && lo != NULL ? (int)((hi - hexd) * 16 + (lo - hexd)) : 0;
}

/*
 * The start's check of the prepared entries' directories, after READY: a
 * restart with 100,000 entries spent a third of its time to READY (50 of
 * 160 ms) reading the fan-out directories. After entry_dirs_check_begin(),
 * entry_dir_check_mark() marks each entry to check (dir_unchecked, in
 * the walk of every entry the start makes anyway); each step reads one
 * fan-out directory and clears the mark of each entry whose directory
 * ROOT/xx/HASH is there (a directory, not a symlink): one readdir of each
 * fan-out directory concerned rather than an openat of each entry's
 * directory. A fan-out directory that is a symlink or unreadable holds no
 * entry's directory. What is still marked at the end is looked at once
 * more by itself (entry_dir_checked()): a request may have made its
 * directory again since its fan-out directory was read.
 */
#define SCAN_BATCH	32

static uint8_t	check_fanout[256];	/* fan-out directories still to read */
static int	check_next = 256;	/* the next one to look at; 256: no check */

void
entry_dirs_check_begin(void)
{
	memset(check_fanout, 0, sizeof(check_fanout));
	check_next = 0;
}

/* Have the check look for e's directory (between begin and the first step). */
void
entry_dir_check_mark(struct entry *e)
{
	e->dir_unchecked = 1;
	check_fanout[fanout_index(e)] = 1;
}

int
entry_dirs_check_pending(void)
{
	return check_next < 256;
}

/* Read the next fan-out directory concerned; 1 if there are more to read. */
int
entry_dirs_check_step(void)
{
	static const char hexd[] = "0123456789abcdef";
	struct {
		char		 id[ENTRY_ID_LEN + 1];
		uint8_t		 type;
		uint64_t	 h;
		struct entry	*e;	/* the first slot's entry with hash h */
	} b[SCAN_BATCH];
	char xx[3];
	struct dirent *d;
	struct entry *e;
	size_t mask, k, nb, j;
	DIR *dir;
	int i, fd, isdir;

	while (check_next < 256 && !check_fanout[check_next])
		check_next++;
	if (check_next >= 256)
		return 0;
	i = check_next++;
	xx[0] = hexd[i >> 4];
	xx[1] = hexd[i & 15];
	xx[2] = '\0';
	fd = openat(cfg.root_fd, xx, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return entry_dirs_check_pending();
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return entry_dirs_check_pending();
	}
	/*
	 * The names a batch at a time, each lookup's slot then its entry
	 * prefetched before any is compared: the cache misses of the batch
	 * overlap instead of coming one after the other.
	 */
	mask = 2 * nbuckets - 1;
	do {
		for (nb = 0; nb < SCAN_BATCH && (d = readdir(dir)) != NULL;) {
			if (strlen(d->d_name) != SB_HASH_CHARS)
				continue;
			memcpy(b[nb].id, xx, 2);
			memcpy(b[nb].id + 2, d->d_name, SB_HASH_CHARS + 1);
			b[nb].type = d->d_type;
			b[nb].h = id_hash(b[nb].id);
			__builtin_prefetch(&islots[(size_t)b[nb].h & mask]);
			nb++;
		}
		for (k = 0; k < nb; k++) {
			b[k].e = NULL;
			for (j = (size_t)b[k].h & mask; islots[j].e != NULL; j = (j + 1) & mask)
				if (islots[j].h == b[k].h) {
					b[k].e = islots[j].e;
					__builtin_prefetch(b[k].e->id);
					break;
				}
		}
		for (k = 0; k < nb; k++) {
			/* no slot of hash h: no entry; another id of the same 64-bit hash: look on */
			if ((e = b[k].e) != NULL && memcmp(e->id, b[k].id, ENTRY_ID_LEN) != 0)
				e = id_lookup(b[k].id, b[k].h);
			if (e == NULL || !e->dir_unchecked)
				continue;
			/* DT_UNKNOWN: left to entry_dir_checked(), which never enters a mount */
			isdir = b[k].type == DT_DIR;
			if (isdir)
				e->dir_unchecked = 0;
		}
	} while (nb == SCAN_BATCH);
	closedir(dir);
	return entry_dirs_check_pending();
}

/*
 * Once every step has run: does e still have its directory, or no longer
 * need one? 0 only for an entry the check marked, that want() still names,
 * and whose directory is not there now either.
 */
int
entry_dir_checked(struct entry *e, int (*want)(const struct entry *))
{
	int fd;

	if (!e->dir_unchecked)
		return 1;
	e->dir_unchecked = 0;
	if (!want(e))
		return 1;
	if ((fd = entry_dir_open(e)) >= 0) {
		close(fd);
		return 1;
	}
	/* gone, or not a directory (a symlink); any other error (EMFILE...) keeps it */
	return !(fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP);
}

/*
 * The mode of e's directory: 0710 (its group is the entry's, which its
 * owner is in: req_mode_gid() checks it), and o+x if the mode lets others
 * in. Never r for others (the directory is not listed), never w (it is
 * not theirs): the socket file's own mode decides who may connect.
 */
static mode_t
dir_mode(const struct entry *e)
{
	return (mode_t)(0710 | ((e->mode & 07) ? 01 : 0));
}

/*
 * Set e's directory up: the broker's (group the entry's), not writable or
 * listable by others, crossable by the classes its mode lets in. A
 * prepared entry's directory is its owner's until BOUND (the client binds
 * its own socket in it): entry_dir_reclaim() then takes it back. An
 * adopted one (ADOPT: the broker bound the client's socket) stays ours.
 */
int
entry_dir_finish(struct entry *e, int dirfd)
{
	uid_t owner = (e->flags & EF_PREPARED) && !e->adopted ? e->uid : broker_uid();

	if (fchown(dirfd, owner, e->gid) < 0 || fchmod(dirfd, dir_mode(e)) < 0)
		return -errno;
	return 0;
}

/* BOUND: the client's socket is in e's directory; the directory is the broker's again. */
int
entry_dir_reclaim(const struct entry *e, int dirfd)
{
	if (fchown(dirfd, broker_uid(), e->gid) < 0 || fchmod(dirfd, dir_mode(e)) < 0)
		return -errno;
	return 0;
}

/*
 * Create e's socket in dirfd: bound at the short path (so that getsockname
 * names the short path, which QEMU unlinks at exit), with e's mode and
 * owner, listening if asked. The path walk only crosses the root (ours,
 * checked), ROOT/xx (ours) and dirfd (ours until entry_dir_finish); the
 * socket is checked to be in dirfd after bind: dirfd is new and only the
 * broker may write in it, so a "sock" there is the one just bound, and the
 * chown of dirfd's "sock" is that check (ENOENT: it landed elsewhere).
 *
 * The socket file's mode is the socket's own, set with fchmod() before
 * bind (the process umask is 0, main.c): no umask() around bind, which
 * changed it for every thread of the broker.
 */
int
entry_sock_make(struct entry *e, int dirfd, int *ret_fd, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int s, r;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	entry_short_path(e, sa.sun_path, sizeof(sa.sun_path));
	if ((s = socket(AF_UNIX, e->socktype | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errlen, "unable to create a socket for %s: %s", e->key, strerror(errno));
		return -errno;
	}
	if (fchmod(s, (mode_t)e->mode & 0777) < 0) {
		r = -errno;
		snprintf(err, errlen, "unable to set the mode of a socket for %s: %s", e->key,
		    strerror(errno));
		goto fail;
	}
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		snprintf(err, errlen, "unable to bind %s for %s: %s", sa.sun_path, e->key, strerror(errno));
		goto fail;
	}
	if (fchownat(dirfd, SB_SOCK_NAME, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0) {
		r = errno == ENOENT ? -EXDEV : -errno;
		if (r == -EXDEV)
			snprintf(err, errlen, "%s did not land in the entry directory of %s",
			    sa.sun_path, e->key);
		else
			snprintf(err, errlen, "unable to chown %s: %s", sa.sun_path, strerror(errno));
		goto fail;
	}
	if ((e->flags & EF_LISTENING) && listen(s, SOMAXCONN) < 0) {
		r = -errno;
		snprintf(err, errlen, "unable to listen on %s: %s", sa.sun_path, strerror(errno));
		goto fail;
	}
	*ret_fd = s;
	return 0;
fail:
	close(s);
	return r;
}

/*
 * Bind the client's socket s at e's short path. The walk crosses only the
 * root, ROOT/xx and dirfd, all ours and writable by no client; the
 * socket file gets e's mode (fchmod of the socket before bind, never the
 * umask every thread shares), then e's uid and gid, so that the
 * client may chmod it as a program does after bind (swtpm's mode=).
 */
int
entry_sock_adopt(struct entry *e, int dirfd, int s, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	int r;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	entry_short_path(e, sa.sun_path, sizeof(sa.sun_path));
	/* the file's mode is the socket's own (as in entry_sock_make): no umask() */
	if (fchmod(s, (mode_t)e->mode & 0777) < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		snprintf(err, errlen, "unable to bind the client's socket at %s for %s: %s",
		    sa.sun_path, e->key, strerror(errno));
		return r;
	}
	if (fstatat(dirfd, SB_SOCK_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s did not land in the entry directory of %s",
		    sa.sun_path, e->key);
		return -EXDEV;
	}
	if (fchownat(dirfd, SB_SOCK_NAME, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
		snprintf(err, errlen, "unable to chown %s: %s", sa.sun_path, strerror(errno));
		unlinkat(dirfd, SB_SOCK_NAME, 0);
		return r;
	}
	return 0;
}

/*
 * Remove ROOT/xx/HASH and whatever is in it: renamed to the trash here,
 * removed by cleaner.c off the event loop.
 */
void
entry_files_remove(const struct entry *e)
{
	char xx[3] = { e->id[0], e->id[1], '\0' };
	int xfd, r;

	if (e->kind != SB_KIND_SOCKET)
		return;
	if ((xfd = dir_open_beneath(cfg.root_fd, xx)) < 0)
		return;
	if ((r = cleaner_trash(xfd, xx, e->id + 2)) < 0 && r != -ENOENT)
		log_warn("unable to remove %s/%s/%s: %s%s", cfg.root, xx, e->id + 2, strerror(-r),
		    r == -EBUSY ? " (a mount point: detached, removed at its next bind)" : "");
	close(xfd);
}

static const struct entry_ops *up;	/* the layers above (entries_set_ops) */

void
entries_set_ops(const struct entry_ops *ops)
{
	up = ops;
}

/* Everything of e but the table and the journal */
static void
entry_drop_resources(struct entry *e, const char *why)
{
	pid_t manager = fdstore_holder(e);	/* holds a copy, being dropped */

	log_debug("release %s (%s)", e->key, why);
	up->untrack(e);
	up->fdstore_remove(e);		/* if it is there, with or without its fd here */
	if (e->fd >= 0) {
		/* what others queued in it is drained if the copy is the last */
		closer_close_held(e->fd, e->uid, manager);
		e->fd = -1;
	}
	entry_files_remove(e);
}

/*
 * Take e out of the table and journal its release. The record is written
 * once e is out of the table: if it makes the journal compact, the new
 * state must not hold e. If it cannot be written, e goes back.
 */
static int
entry_forget(struct entry *e)
{
	int r;

	up->gone(e);
	entry_unlink(e);
	if ((r = up->journal_del(e)) < 0)
		entry_insert(e);
	return r;
}

int
entry_release(struct entry *e, const char *why)
{
	int r;

	if ((r = entry_forget(e)) < 0)
		return r;
	entry_drop_resources(e, why);
	entry_free(e);
	up->stats_changed();
	return 0;
}

void
entry_destroy(struct entry *e, const char *why)
{
	if (entry_forget(e) < 0) {
		/* released here all the same; it may come back at a restart, as stale */
		up->gone(e);
		entry_unlink(e);
	}
	entry_drop_resources(e, why);
	entry_free(e);
	up->stats_changed();
}

void
entry_teardown(struct entry *e, const char *why)
{
	entry_drop_resources(e, why);
	entry_free(e);
	up->stats_changed();
}
