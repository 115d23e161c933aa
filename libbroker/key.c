/* SPDX-License-Identifier: ISC */
/*
 * key.c: keys, their short paths, the default root, error strings.
 * libc only: linked into the daemon, the library and the shim.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sb-proto.h"
#include "sb-internal.h"
#include "sockbroker.h"

/* SHA-256 (FIPS 180-4), enough of it to hash a key. */
struct sha256 {
	uint32_t	h[8];
	uint8_t		buf[64];
	uint64_t	total;
	size_t		used;
};

static const uint32_t k256[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n)	(((x) >> (n)) | ((x) << (32 - (n))))

static void
sha256_block(struct sha256 *s, const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h, t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (; i < 64; i++)
		w[i] = w[i - 16] + (ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3)) +
		    w[i - 7] + (ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10));
	a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
	e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
	for (i = 0; i < 64; i++) {
		t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + k256[i] + w[i];
		t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		h = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
	s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

/*
 * The same block with the SHA extensions (SHA-NI): four rounds per pair
 * of sha256rnds2, the schedule with sha256msg1/msg2. The state lives as
 * ABEF and CDGH, the order those instructions take. About ten times the
 * portable block: SHA-256 of every key was 58% of a restart with 100,000
 * entries (bench/README).
 */
__attribute__((target("sha,sse4.1")))
static void
sha256_block_ni(struct sha256 *s, const uint8_t *p)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i st0, st1, tmp, save0, save1, msg, w[4];
	int i;

	tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&s->h[0]), 0xB1);
	st1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&s->h[4]), 0x1B);
	st0 = _mm_alignr_epi8(tmp, st1, 8);		/* ABEF */
	st1 = _mm_blend_epi16(st1, tmp, 0xF0);		/* CDGH */
	save0 = st0;
	save1 = st1;
	/* unrolled, w[] lives in registers: a third less time per block than the loop */
#pragma GCC unroll 16
	for (i = 0; i < 16; i++) {
		if (i < 4)
			w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)),
			    bswap);
		else
			w[i & 3] = _mm_sha256msg2_epu32(_mm_add_epi32(
			    _mm_sha256msg1_epu32(w[i & 3], w[(i + 1) & 3]),
			    _mm_alignr_epi8(w[(i + 3) & 3], w[(i + 2) & 3], 4)), w[(i + 3) & 3]);
		msg = _mm_add_epi32(w[i & 3], _mm_loadu_si128((const __m128i *)&k256[4 * i]));
		st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
		st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(msg, 0x0E));
	}
	st0 = _mm_add_epi32(st0, save0);
	st1 = _mm_add_epi32(st1, save1);
	tmp = _mm_shuffle_epi32(st0, 0x1B);		/* FEBA */
	st1 = _mm_shuffle_epi32(st1, 0xB1);		/* DCHG */
	_mm_storeu_si128((__m128i *)&s->h[0], _mm_blend_epi16(tmp, st1, 0xF0));	/* ABCD */
	_mm_storeu_si128((__m128i *)&s->h[4], _mm_alignr_epi8(st1, tmp, 8));	/* EFGH */
}

/* 1 if the CPU has SHA-NI, SSSE3 and SSE4.1 (cpuid leaves 1 and 7). */
static int
sha_ni_present(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1))
		return 0;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return (b & bit_SHA) != 0;
}

/* 1: SHA-NI, 0: the portable block, -1: not asked yet (relaxed atomics: the shim has threads) */
static int sha_ni = -1;

void
sb_sha256_portable(int on)
{
	__atomic_store_n(&sha_ni, on ? 0 : -1, __ATOMIC_RELAXED);
}

static void
sha256_block_any(struct sha256 *s, const uint8_t *p)
{
	int ni = __atomic_load_n(&sha_ni, __ATOMIC_RELAXED);

	if (ni < 0) {
		ni = sha_ni_present();
		__atomic_store_n(&sha_ni, ni, __ATOMIC_RELAXED);
	}
	if (ni)
		sha256_block_ni(s, p);
	else
		sha256_block(s, p);
}
#else
#define sha256_block_any	sha256_block

void
sb_sha256_portable(int on)
{
	(void)on;
}
#endif

static void
sha256_update(struct sha256 *s, const uint8_t *p, size_t n)
{
	s->total += n;
	for (; s->used == 0 && n >= 64; p += 64, n -= 64)
		sha256_block_any(s, p);		/* whole blocks straight from the input */
	while (n > 0) {
		size_t take = 64 - s->used < n ? 64 - s->used : n;

		memcpy(s->buf + s->used, p, take);
		s->used += take;
		p += take;
		n -= take;
		if (s->used == 64) {
			sha256_block_any(s, s->buf);
			s->used = 0;
		}
	}
}

void
sb_sha256(const void *data, size_t len, uint8_t out[32])
{
	static const uint32_t init[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};
	struct sha256 s;
	uint64_t bits;
	uint8_t pad[72];
	size_t padlen;
	int i;

	memcpy(s.h, init, sizeof(init));
	s.total = 0;
	s.used = 0;
	if (len <= 55) {
		/* one block (most keys): the data, 0x80, zeros, the length in bits */
		memset(s.buf, 0, sizeof(s.buf));
		memcpy(s.buf, data, len);
		s.buf[len] = 0x80;
		bits = (uint64_t)len * 8;
		for (i = 0; i < 8; i++)
			s.buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
		sha256_block_any(&s, s.buf);
		for (i = 0; i < 32; i++)
			out[i] = (uint8_t)(s.h[i / 4] >> (24 - 8 * (i % 4)));
		return;
	}
	sha256_update(&s, data, len);
	bits = s.total * 8;
	padlen = (s.used < 56 ? 56 : 120) - s.used;
	memset(pad, 0, sizeof(pad));
	pad[0] = 0x80;
	for (i = 0; i < 8; i++)
		pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(&s, pad, padlen + 8);
	for (i = 0; i < 32; i++)
		out[i] = (uint8_t)(s.h[i / 4] >> (24 - 8 * (i % 4)));
}

/* Keys */

/*
 * A name's bytes: [A-Za-z0-9._:@+-]. Compared, not searched with strchr():
 * every request's key goes through here (callgrind: 115 instructions of
 * an 8-byte name's check, of ~2,000 per GET in the broker).
 */
static inline int
key_name_char(unsigned char c)
{
	unsigned char l = c | 0x20;	/* ASCII letters to lower case */

	return (l >= 'a' && l <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	    c == ':' || c == '@' || c == '+' || c == '-';
}

int
sb_key_name_char(unsigned char c)
{
	return key_name_char(c);
}

int
sb_key_is_path(const char *key)
{
	return key != NULL && key[0] == '/';
}

int
sb_key_dir(const char *key, char *dir, size_t size, const char **ret_base)
{
	const char *slash;
	size_t n;

	if (!sb_key_is_path(key))
		return -EINVAL;
	slash = strrchr(key, '/');
	n = slash == key ? 1 : (size_t)(slash - key);	/* "/" for a key in / */
	if (n >= size)
		return -ENAMETOOLONG;
	memcpy(dir, key, n);
	dir[n] = '\0';
	if (ret_base != NULL)
		*ret_base = slash + 1;
	return 0;
}

int
sb_key_check(const char *key)
{
	size_t n, i;

	if (key == NULL || key[0] == '\0')
		return -EINVAL;
	n = strnlen(key, SB_PATH_KEY_MAX + 1);
	if (!sb_key_is_path(key)) {
		if (n > SB_NAME_MAX)
			return -ENAMETOOLONG;
		for (i = 0; i < n; i++)
			if (!key_name_char((unsigned char)key[i]))
				return -EINVAL;
		return 0;
	}
	if (n > SB_PATH_KEY_MAX)
		return -ENAMETOOLONG;
	if (n == 1 || key[n - 1] == '/')
		return -EINVAL;
	/* every component non-empty and neither "." nor ".." */
	for (i = 0; i < n; i++) {
		const char *c;
		size_t clen;

		if (key[i] != '/')
			continue;
		c = key + i + 1;
		clen = strcspn(c, "/");
		if (clen == 0 || (clen == 1 && c[0] == '.') ||
		    (clen == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
	}
	return 0;
}

/* Lexically clean an absolute path: drop empty and "." components. */
static int
clean_path(const char *in, char *out, size_t size)
{
	size_t o = 0;
	const char *p = in;

	while (*p != '\0') {
		size_t clen;

		while (*p == '/')
			p++;
		clen = strcspn(p, "/");
		if (clen == 0)
			break;
		if (!(clen == 1 && p[0] == '.')) {
			if (o + 1 + clen >= size)
				return -ENAMETOOLONG;
			out[o++] = '/';
			memcpy(out + o, p, clen);
			o += clen;
		}
		p += clen;
	}
	if (o == 0) {
		if (size < 2)
			return -ENAMETOOLONG;
		out[o++] = '/';
	}
	out[o] = '\0';
	return 0;
}

int
sb_key_from_path(const char *path, char *buf, size_t size)
{
	char abs[PATH_MAX * 2], clean[PATH_MAX], dir[PATH_MAX];
	const char *base;
	char *slash;
	size_t n;
	int r;

	if (path == NULL || path[0] == '\0')
		return -EINVAL;
	if (path[0] == '/') {
		if (strlen(path) >= sizeof(abs))
			return -ENAMETOOLONG;
		strcpy(abs, path);
	} else {
		if (getcwd(abs, PATH_MAX) == NULL)
			return -errno;
		n = strlen(abs);
		if (n + 1 + strlen(path) >= sizeof(abs))
			return -ENAMETOOLONG;
		abs[n] = '/';
		strcpy(abs + n + 1, path);
	}
	if ((r = clean_path(abs, clean, sizeof(clean))) < 0)
		return r;
	/* resolve the directory if it exists, so that every spelling of it agrees */
	slash = strrchr(clean, '/');
	base = slash + 1;
	if (slash != clean) {
		*slash = '\0';
		if (realpath(clean, dir) != NULL) {
			n = strlen(dir);
			if (n + 1 + strlen(base) >= sizeof(clean))
				return -ENAMETOOLONG;
			if (strcmp(dir, "/") == 0)
				n = 0;
			memmove(clean + n + 1, base, strlen(base) + 1);
			memcpy(clean, dir, n);
			clean[n] = '/';
		} else
			*slash = '/';
	}
	if ((r = sb_key_check(clean)) < 0)
		return r;
	if (strlen(clean) >= size)
		return -ENAMETOOLONG;
	strcpy(buf, clean);
	return 0;
}

/* Short paths */

void
sb_key_hash(const char *key, char hex[3], char hash[SB_HASH_CHARS + 1])
{
	sb_key_hash_view(key, 0, hex, hash);
}

/*
 * View n > 0 of a path key (another uid's claim of the same string in
 * another mount namespace): SHA-256 of the key, a NUL and the byte n, a
 * string no key can be (a key has no NUL), so it never meets view 0 of
 * another key by construction, only by a SHA-256 collision (checked).
 */
void
sb_key_hash_view(const char *key, unsigned view, char hex[3], char hash[SB_HASH_CHARS + 1])
{
	static const char b32[] = "0123456789abcdefghijklmnopqrstuv";
	static const char hexd[] = "0123456789abcdef";
	char buf[SB_KEY_MAX + 3];
	uint8_t d[32];
	uint64_t acc = 0;
	size_t n = strlen(key);
	int bits = 0, i, o = 0, in = 1;

	if (view == 0 || n > SB_KEY_MAX)
		sb_sha256(key, n, d);
	else {
		memcpy(buf, key, n);
		buf[n] = '\0';
		buf[n + 1] = (char)view;
		sb_sha256(buf, n + 2, d);
	}
	hex[0] = hexd[d[0] >> 4];
	hex[1] = hexd[d[0] & 15];
	hex[2] = '\0';
	while (o < SB_HASH_CHARS) {
		if (bits < 5) {
			acc = (acc << 8) | d[in++];
			bits += 8;
		}
		hash[o++] = b32[(acc >> (bits - 5)) & 31];
		bits -= 5;
	}
	hash[o] = '\0';
	for (i = 0; i < 32; i++)
		d[i] = 0;
}

int
sb_root_get(const char *root, char buf[SB_SHORT_PATH_SIZE], const char **ret_root,
    size_t *ret_len)
{
	size_t n;
	int r;

	if (root == NULL) {
		if ((r = sb_default_root(buf, SB_SHORT_PATH_SIZE)) < 0)
			return r;
		root = buf;
	}
	if (root[0] != '/')
		return -EINVAL;
	n = strlen(root);
	while (n > 1 && root[n - 1] == '/')
		n--;
	*ret_root = root;
	*ret_len = n;
	return 0;
}

int
sb_short_path(const char *root, const char *key, char *buf, size_t size)
{
	return sb_short_path_view(root, key, 0, buf, size);
}

int
sb_short_path_view(const char *root, const char *key, unsigned view, char *buf, size_t size)
{
	char rootbuf[SB_SHORT_PATH_SIZE], hex[3], hash[SB_HASH_CHARS + 1];
	size_t rlen;
	int r;

	if ((r = sb_key_check(key)) < 0)
		return r;
	if ((r = sb_root_get(root, rootbuf, &root, &rlen)) < 0)
		return r;
	if (rlen > SB_ROOT_MAX)
		return -ENAMETOOLONG;
	if (rlen + SB_SHORT_TAIL + 1 > size)
		return -ENOBUFS;
	sb_key_hash_view(key, view, hex, hash);
	snprintf(buf, size, "%.*s/%s/%s/" SB_SOCK_NAME, (int)rlen, root, hex, hash);
	return 0;
}

int
sb_short_path_view_of(const char *root, const char *key, const char *path)
{
	char sp[SB_SHORT_PATH_SIZE];
	unsigned v;

	if (!sb_key_is_path(key))
		return sb_short_path(root, key, sp, sizeof(sp)) == 0 && strcmp(sp, path) == 0 ?
		    0 : -1;
	for (v = 0; v <= SB_VIEW_MAX; v++)
		if (sb_short_path_view(root, key, v, sp, sizeof(sp)) == 0 && strcmp(sp, path) == 0)
			return (int)v;
	return -1;
}

/*
 * The broker's rule as the caller can see it. The link at key names a
 * view's short path once the key is bound in this view (a restarted
 * server, a client). Otherwise a claim from here gets the first view
 * nobody holds (no directory of its short path), from 0 in the broker's
 * own view, from 1 in any other: a view 0 held and not named by this
 * view's link is another view's (the host's), so the answer is the first
 * free one. With view 0 free the caller cannot tell the host's view from
 * a private one (the broker compares the link it will prove in both): the
 * answer is view 0, and the broker's reply to the bind is the truth. A
 * readlink and a stat or two.
 */
int
sb_short_path_here(const char *root, const char *key, char *buf, size_t size)
{
	char target[SB_SHORT_PATH_SIZE + 1], sp[SB_SHORT_PATH_SIZE];
	struct stat st;
	ssize_t n;
	unsigned v;
	char *slash;
	int r, saved = errno;

	if ((r = sb_short_path(root, key, buf, size)) < 0)
		return r;
	if (!sb_key_is_path(key))
		return 0;
	n = readlink(key, target, sizeof(target));
	if (n > 0 && (size_t)n < sizeof(target) && (size_t)n < size) {
		target[n] = '\0';
		if ((r = sb_short_path_view_of(root, key, target)) >= 0) {
			memcpy(buf, target, (size_t)n + 1);
			errno = saved;
			return r;
		}
	}
	for (v = 0; v <= SB_VIEW_MAX; v++) {
		if (sb_short_path_view(root, key, v, sp, sizeof(sp)) < 0 ||
		    (slash = strrchr(sp, '/')) == NULL)
			break;
		*slash = '\0';
		if (lstat(sp, &st) < 0 && errno == ENOENT) {
			*slash = '/';
			if (v > 0 && strlen(sp) < size)
				strcpy(buf, sp);
			errno = saved;
			return v > 0 && strlen(sp) < size ? (int)v : 0;
		}
	}
	errno = saved;
	return 0;
}

int
sb_default_root(char *buf, size_t size)
{
	const char *env;
	int n;

	env = sb_getenv("SOCKBROKER_ROOT");
	if (env != NULL && env[0] != '\0')
		n = snprintf(buf, size, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(buf, size, SB_SYSTEM_ROOT);
	else if ((env = sb_getenv("XDG_RUNTIME_DIR")) != NULL && env[0] == '/')
		n = snprintf(buf, size, "%s/sockbroker", env);
	else
		n = snprintf(buf, size, "/run/user/%u/sockbroker", (unsigned)geteuid());
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

const char *
sb_getenv(const char *name)
{
#ifdef HAVE_SECURE_GETENV
	return secure_getenv(name);
#else
	return getenv(name);
#endif
}

const char *
sb_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case EPROTONOSUPPORT:
		return "the broker speaks another protocol version";
	case EPROTO:
		return "protocol error";
	case EBADMSG:
		return "malformed message";
	case ENAMETOOLONG:
		return "name or path too long";
	case EDQUOT:
		return "quota exceeded";
	default:
		return strerror(err);
	}
}
