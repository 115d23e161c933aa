/* SPDX-License-Identifier: ISC */
/*
 * rewrite.c: the command-line rewriter of the shim, sockbroker exec and
 * sockbroker explain.
 *
 * A rule names an option of a program (or every argument, "*") and the
 * grammar of its value; the grammar finds the spans of the value that are
 * socket paths, each with its escaping (QEMU ",,", JSON, %XX) and, where
 * the syntax says, whether the program binds or connects. Each span whose
 * decoded path is longer than sun_path goes to the map; the replacement is
 * encoded back the same way and written in place, right to left, so that
 * several paths in one argument keep their offsets. Nothing else is ever
 * touched: an argument no rule names is rewritten only if it is, as a
 * whole (or as the value of --opt=), an existing socket (the generic client
 * side), and never for a program whose rules say "never".
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "rewrite.h"

#ifndef SB_REWRITE_DIRS
#define SB_REWRITE_DIRS "/etc/sockbroker/rewrite.d:/usr/share/sockbroker/rewrite.d"
#endif

/* How a path is escaped inside its argument. */
enum esc {
	ESC_NONE,	/* as is */
	ESC_NOCOMMA,	/* as is; a ',' cannot be written (socat, swtpm) */
	ESC_QEMU,	/* ",," is a literal comma */
	ESC_JSON,	/* a JSON string's contents */
	ESC_PCT,	/* %XX (URI, D-Bus) */
};

struct span {
	size_t		start, end;	/* raw bytes of the argument */
	enum esc	esc;
	enum sbrw_role	role;
};

#define SPANS_MAX	16
#define ITEMS_MAX	64
#define JSON_DEPTH_MAX	32

struct spans {
	struct span	s[SPANS_MAX];
	int		n;
	int		bad;		/* a syntax error: leave it all */
};

static void
span_add(struct spans *sp, size_t start, size_t end, enum esc esc, enum sbrw_role role)
{
	if (sp->n < SPANS_MAX && end > start)
		sp->s[sp->n++] = (struct span){ start, end, esc, role };
}

/* Escapes */

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Append the UTF-8 of code point cp; -1 if it does not fit. */
static int
put_utf8(char *out, size_t *o, size_t size, unsigned long cp)
{
	unsigned char b[4];
	size_t n, k;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (*o + n >= size)
		return -1;
	for (k = 0; k < n; k++)
		out[(*o)++] = (char)b[k];
	return 0;
}

/* Four hex digits at s; -1 if not. */
static long
hex4(const char *s, size_t i, size_t end)
{
	long v = 0;
	int k, h;

	if (i + 4 > end)
		return -1;
	for (k = 0; k < 4; k++) {
		if ((h = hexval((unsigned char)s[i + k])) < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* A JSON escape at s[i] == '\\': decoded into out; the bytes it used, or 0. */
static size_t
json_unescape(const char *s, size_t i, size_t end, char *out, size_t *o, size_t size)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *p;
	long cp, lo;

	if (i + 1 >= end)
		return 0;
	if (s[i + 1] != 'u') {
		if ((p = strchr(from, s[i + 1])) == NULL || s[i + 1] == '\0' || *o + 1 >= size)
			return 0;
		out[(*o)++] = to[p - from];
		return 2;
	}
	if ((cp = hex4(s, i + 2, end)) <= 0)
		return 0;	/* bad, or \u0000 */
	if (cp >= 0xd800 && cp < 0xdc00) {
		if (i + 12 > end || s[i + 6] != '\\' || s[i + 7] != 'u' ||
		    (lo = hex4(s, i + 8, end)) < 0xdc00 || lo >= 0xe000)
			return 0;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		return put_utf8(out, o, size, (unsigned long)cp) < 0 ? 0 : 12;
	}
	if (cp >= 0xdc00 && cp < 0xe000)
		return 0;
	return put_utf8(out, o, size, (unsigned long)cp) < 0 ? 0 : 6;
}

/* Decode s[start, end) into out (size bytes); its length, or -1. */
static int
decode(const char *s, size_t start, size_t end, enum esc esc, char *out, size_t size)
{
	size_t i, o = 0, used;
	int h, l;

	for (i = start; i < end; ) {
		if (o + 1 >= size)
			return -1;
		switch (esc) {
		case ESC_QEMU:
			out[o++] = s[i];
			i += s[i] == ',' ? 2 : 1;	/* the second comma of ",," */
			break;
		case ESC_JSON:
			if (s[i] == '\\') {
				if ((used = json_unescape(s, i, end, out, &o, size)) == 0)
					return -1;
				i += used;
			} else
				out[o++] = s[i++];
			break;
		case ESC_PCT:
			if (s[i] == '%') {
				if (i + 2 >= end || (h = hexval((unsigned char)s[i + 1])) < 0 ||
				    (l = hexval((unsigned char)s[i + 2])) < 0 || (h == 0 && l == 0))
					return -1;
				out[o++] = (char)(h * 16 + l);
				i += 3;
			} else
				out[o++] = s[i++];
			break;
		default:
			out[o++] = s[i++];
			break;
		}
	}
	out[o] = '\0';
	return (int)o;
}

/* Is c left as it is in a %-escaped value? (URI unreserved, '/', D-Bus's) */
static int
pct_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '_' || c == '.' || c == '/' || c == '~';
}

/* Encode in for its context into out; the length, or -1. */
static int
encode(const char *in, enum esc esc, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	unsigned char c;

	for (; *in != '\0'; in++) {
		c = (unsigned char)*in;
		if (o + 7 >= size)
			return -1;
		switch (esc) {
		case ESC_NOCOMMA:
			if (c == ',')
				return -1;	/* cannot be written here */
			out[o++] = (char)c;
			break;
		case ESC_QEMU:
			out[o++] = (char)c;
			if (c == ',')
				out[o++] = ',';
			break;
		case ESC_JSON:
			if (c == '"' || c == '\\') {
				out[o++] = '\\';
				out[o++] = (char)c;
			} else if (c < 0x20) {
				o += (size_t)snprintf(out + o, size - o, "\\u%04x", c);
			} else
				out[o++] = (char)c;
			break;
		case ESC_PCT:
			if (pct_plain(c))
				out[o++] = (char)c;
			else {
				out[o++] = '%';
				out[o++] = hex[c >> 4];
				out[o++] = hex[c & 15];
			}
			break;
		default:
			out[o++] = (char)c;
			break;
		}
	}
	out[o] = '\0';
	return (int)o;
}

/* Option lists: QEMU keyval ("k=v,k2,,x"), swtpm ("k=v,k2=v2"). */

struct item {
	size_t	ks, ke;		/* key (ks == ke: none, an implied value or a flag) */
	size_t	vs, ve;		/* value */
};

/* Split s[a, b) at single commas. The number of items. */
static int
items_split(const char *s, size_t a, size_t b, enum esc esc, struct item *it, int max)
{
	size_t i = a, start, eq;
	int n = 0;

	while (n < max) {
		start = i;
		eq = (size_t)-1;
		while (i < b) {
			if (s[i] == ',') {
				if (esc == ESC_QEMU && i + 1 < b && s[i + 1] == ',') {
					i += 2;
					continue;
				}
				break;
			}
			if (s[i] == '=' && eq == (size_t)-1)
				eq = i;
			i++;
		}
		if (eq == (size_t)-1)
			it[n++] = (struct item){ start, start, start, i };
		else
			it[n++] = (struct item){ start, eq, eq + 1, i };
		if (i >= b)
			break;
		i++;
	}
	return n;
}

static int
key_is(const char *s, const struct item *it, const char *key, size_t n)
{
	return it->ke - it->ks == n && memcmp(s + it->ks, key, n) == 0;
}

static int
val_is(const char *s, const struct item *it, const char *val)
{
	size_t n = strlen(val);

	return it->ve - it->vs == n && memcmp(s + it->vs, val, n) == 0;
}

/* The item of key (n bytes), or NULL. */
static const struct item *
item_find(const char *s, const struct item *it, int nit, const char *key, size_t n)
{
	int i;

	for (i = 0; i < nit; i++)
		if (key_is(s, &it[i], key, n))
			return &it[i];
	return NULL;
}

/* Is the QEMU boolean key (n bytes) on: "key", "key=on|yes|true|y"? */
static int
item_bool(const char *s, const struct item *it, int nit, const char *key, size_t n)
{
	int i;

	for (i = 0; i < nit; i++) {
		if (it[i].ks == it[i].ke && it[i].ve - it[i].vs == n &&
		    memcmp(s + it[i].vs, key, n) == 0)
			return 1;
		if (key_is(s, &it[i], key, n))
			return val_is(s, &it[i], "on") || val_is(s, &it[i], "yes") ||
			    val_is(s, &it[i], "true") || val_is(s, &it[i], "y");
	}
	return 0;
}

/* Does s[a, b) start with text? */
static int
starts(const char *s, size_t a, size_t b, const char *text)
{
	size_t n = strlen(text);

	return b - a >= n && memcmp(s + a, text, n) == 0;
}

static const char *
memfind(const char *s, size_t a, size_t b, const char *text)
{
	size_t n = strlen(text), i;

	for (i = a; i + n <= b; i++)
		if (memcmp(s + i, text, n) == 0)
			return s + i;
	return NULL;
}

/* Addresses: URIs, unix:, D-Bus */

/*
 * SCHEME://AUTHORITY/PATH?QUERY, SCHEME "unix" or "X+unix": the socket is
 * the query's socket= (nbd+unix, qemu+unix), else for unix, spice+unix and
 * vnc+unix the path. s[a, b), %-escaped.
 */
static int
uri_spans(const char *s, size_t a, size_t b, struct spans *sp, enum sbrw_role role)
{
	const char *sep = memfind(s, a, b, "://");
	size_t scheme_end, p, q, e, k;
	int path_is_socket;

	if (sep == NULL)
		return 0;
	scheme_end = (size_t)(sep - s);
	if (!((scheme_end - a == 4 && memcmp(s + a, "unix", 4) == 0) ||
	    (scheme_end - a > 5 && memcmp(s + scheme_end - 5, "+unix", 5) == 0)))
		return 0;
	for (k = a; k < scheme_end; k++)
		if (!(s[k] == '+' || s[k] == '-' || s[k] == '.' ||
		    (s[k] >= 'a' && s[k] <= 'z') || (s[k] >= '0' && s[k] <= '9')))
			return 0;
	path_is_socket = (scheme_end - a == 4) ||
	    (scheme_end - a == 10 && memcmp(s + a, "spice+unix", 10) == 0) ||
	    (scheme_end - a == 8 && memcmp(s + a, "vnc+unix", 8) == 0);
	p = scheme_end + 3;
	while (p < b && s[p] != '/' && s[p] != '?' && s[p] != '#')
		p++;	/* the authority */
	for (q = p; q < b && s[q] != '?' && s[q] != '#'; q++)
		;
	if (q < b && s[q] == '?') {
		for (k = q + 1; k < b && s[k] != '#'; k = e + 1) {
			for (e = k; e < b && s[e] != '&' && s[e] != ';' && s[e] != '#'; e++)
				;
			if (e - k > 7 && memcmp(s + k, "socket=", 7) == 0) {
				span_add(sp, k + 7, e, ESC_PCT, role);
				return 1;
			}
			if (e >= b || s[e] == '#')
				break;
		}
	}
	if (path_is_socket && q > p) {
		span_add(sp, p, q, ESC_PCT, role);
		return 1;
	}
	return 0;
}

/* D-Bus: TRANSPORT:KEY=VALUE,...;... ; unix's path= is a socket path. */
static int
dbus_spans(const char *s, size_t a, size_t b, struct spans *sp, enum sbrw_role role)
{
	struct item it[ITEMS_MAX];
	size_t i = a, e, colon;
	int n, k, found = 0;

	while (i < b) {
		for (e = i; e < b && s[e] != ';'; e++)
			;
		for (colon = i; colon < e && s[colon] != ':'; colon++)
			;
		if (colon - i == 4 && memcmp(s + i, "unix", 4) == 0 && colon < e) {
			n = items_split(s, colon + 1, e, ESC_NONE, it, ITEMS_MAX);
			for (k = 0; k < n; k++)
				if (key_is(s, &it[k], "path", 4)) {
					span_add(sp, it[k].vs, it[k].ve, ESC_PCT, role);
					found = 1;
				}
		}
		i = e + 1;
	}
	return found;
}

/*
 * A value that is an address: unix:path=P (D-Bus), a unix URI, unix:P,
 * QEMU's nbd:unix:P[:exportname=X]. esc: how the value is escaped around it
 * (QEMU keyval or none); URIs inside a QEMU value with ",," are left.
 */
static int
address_spans(const char *s, size_t a, size_t b, enum esc esc, struct spans *sp,
    enum sbrw_role role)
{
	const char *x;

	if (starts(s, a, b, "unix:path=") || starts(s, a, b, "unix:abstract=") ||
	    starts(s, a, b, "unix:dir=") || starts(s, a, b, "unix:tmpdir=") ||
	    starts(s, a, b, "unix:runtime="))
		return esc == ESC_NONE ? dbus_spans(s, a, b, sp, role) : 0;
	if (memfind(s, a, b, "://") != NULL)
		return (esc == ESC_QEMU && memfind(s, a, b, ",,") != NULL) ? 0 :
		    uri_spans(s, a, b, sp, role);
	if (starts(s, a, b, "unix:")) {
		span_add(sp, a + 5, b, esc, role);
		return 1;
	}
	if (starts(s, a, b, "nbd:unix:")) {
		x = memfind(s, a + 9, b, ":exportname=");
		span_add(sp, a + 9, x != NULL ? (size_t)(x - s) : b, esc, role);
		return 1;
	}
	return 0;
}

/* QEMU */

static void qemu_json(const char *s, size_t a, size_t b, struct spans *sp);

/*
 * A QEMU keyval option value. Socket paths: PFX.path (or PFX.data.path)
 * beside PFX.type=unix (-netdev stream/dgram addr., local., remote.,
 * -blockdev/-drive nbd server., file.server., --nbd-server and --export
 * addr.); path= of a socket chardev ("socket,...", backend=socket) unless
 * abstract=on; -spice addr= with unix=on; and any value that is an address
 * (unix:P of -qmp/-monitor/-serial/-incoming, vnc=unix:P, nbd+unix://...).
 */
static void
qemu_keyval(const char *s, size_t a, size_t b, int typed, struct spans *sp)
{
	struct item it[ITEMS_MAX];
	const struct item *t;
	char key[SBRW_RULE_TEXT_SIZE * 2];
	enum sbrw_role role;
	size_t kn, pn;
	int n, i, chardev;

	n = items_split(s, a, b, ESC_QEMU, it, ITEMS_MAX);
	/* unix:P (legacy) or a URI: the first item is the address, '=' and all */
	if (n > 0 && (starts(s, it[0].ks, it[0].ve, "unix:") ||
	    starts(s, it[0].ks, it[0].ve, "nbd:unix:") || memfind(s, it[0].ks, it[0].ke, "://"))) {
		it[0].vs = it[0].ks;
		it[0].ke = it[0].ks;
	}
	role = item_bool(s, it, n, "server", 6) ? SBRW_ROLE_SERVER : SBRW_ROLE_ANY;
	chardev = (n > 0 && it[0].ks == it[0].ke && val_is(s, &it[0], "socket")) ||
	    ((t = item_find(s, it, n, "backend", 7)) != NULL && val_is(s, t, "socket"));
	for (i = 0; i < n; i++) {
		kn = it[i].ke - it[i].ks;
		if (kn >= sizeof(key) - 16)
			continue;
		if ((kn == 4 || (kn > 4 && s[it[i].ke - 5] == '.')) &&
		    memcmp(s + it[i].ke - 4, "path", 4) == 0) {
			int sock = 0;

			pn = kn - 4;	/* "addr." */
			memcpy(key, s + it[i].ks, pn);
			memcpy(key + pn, "abstract", 8);
			if (item_bool(s, it, n, key, pn + 8))
				continue;
			memcpy(key + pn, "type", 4);	/* addr.path beside addr.type=unix */
			t = item_find(s, it, n, key, pn + 4);
			sock = t != NULL && val_is(s, t, "unix");
			if (!sock && pn >= 5 && memcmp(key + pn - 5, "data.", 5) == 0) {
				memcpy(key + pn - 5, "type", 4);	/* addr.data.path */
				t = item_find(s, it, n, key, pn - 1);
				sock = t != NULL && val_is(s, t, "unix");
			}
			if (!sock && pn == 0 && chardev)
				sock = 1;	/* -chardev socket,path= */
			if (sock) {
				span_add(sp, it[i].vs, it[i].ve, ESC_QEMU,
				    chardev && role == SBRW_ROLE_ANY ? SBRW_ROLE_CLIENT : role);
				continue;
			}
		}
		if (kn == 4 && memcmp(s + it[i].ks, "addr", 4) == 0 &&
		    item_bool(s, it, n, "unix", 4)) {
			span_add(sp, it[i].vs, it[i].ve, ESC_QEMU, SBRW_ROLE_SERVER);	/* -spice */
			continue;
		}
		if (typed && starts(s, it[i].vs, it[i].ve, "unix:"))
			continue;	/* free text there, or no such syntax */
		address_spans(s, it[i].vs, it[i].ve, ESC_QEMU, sp,
		    starts(s, it[i].vs, it[i].ve, "unix:") && role == SBRW_ROLE_ANY ?
		    SBRW_ROLE_CLIENT : role);
	}
}

/*
 * A QEMU option value; typed: only typed socket contexts count, not a
 * bare unix:P (no image, device, object or netdev takes one, and there a
 * string value is free text: a serial number, a secret).
 */
static void
qemu_spans(const char *s, size_t a, size_t b, int typed, struct spans *sp)
{
	size_t i = a;

	while (i < b && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n'))
		i++;
	if (i < b && s[i] == '{')
		qemu_json(s, i, b, sp);
	else if (starts(s, i, b, "json:"))
		qemu_json(s, i + 5, b, sp);	/* a filename of QEMU's json: protocol */
	else
		qemu_keyval(s, a, b, typed, sp);
}

/*
 * JSON (-blockdev, -netdev, -device, -object '{...}'): a real scanner. An
 * object with "type": "unix" has its "path" string (or "data": {"path"})
 * as a socket path, unless "abstract": true. Any "server": true makes the
 * role server.
 */
struct jp {
	const char	*s;
	size_t		 i, b;
	int		 server, bad;
	struct spans	*sp;
};

/* A string's contents, with the scanner after its closing quote. */
struct jstr {
	size_t	start, end;
	int	ok;
};

static void
j_ws(struct jp *p)
{
	while (p->i < p->b && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
	    p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

static struct jstr
j_string(struct jp *p)
{
	struct jstr r = { 0, 0, 0 };

	if (p->i >= p->b || p->s[p->i] != '"') {
		p->bad = 1;
		return r;
	}
	r.start = ++p->i;
	while (p->i < p->b && p->s[p->i] != '"') {
		if ((unsigned char)p->s[p->i] < 0x20) {
			p->bad = 1;
			return r;
		}
		p->i += p->s[p->i] == '\\' ? 2 : 1;
	}
	if (p->i >= p->b) {
		p->bad = 1;
		return r;
	}
	r.end = p->i++;
	r.ok = 1;
	return r;
}

/* Is the string's decoded text equal to text? */
static int
j_eq(const struct jp *p, struct jstr str, const char *text)
{
	char buf[32];
	int n;

	n = decode(p->s, str.start, str.end, ESC_JSON, buf, sizeof(buf));
	return n >= 0 && strcmp(buf, text) == 0;
}

static int
j_literal(struct jp *p, const char *word)
{
	size_t n = strlen(word);

	if (p->b - p->i >= n && memcmp(p->s + p->i, word, n) == 0) {
		p->i += n;
		return 1;
	}
	return 0;
}

/*
 * After a member or an element: 1 past a ',' (another follows), 0 past
 * close (the object or array ends), -1 at anything else (p->bad is set).
 */
static int
j_sep(struct jp *p, char close)
{
	j_ws(p);
	if (p->i < p->b && p->s[p->i] == ',') {
		p->i++;
		return 1;
	}
	if (p->i < p->b && p->s[p->i] == close) {
		p->i++;
		return 0;
	}
	p->bad = 1;
	return -1;
}

static struct jstr j_value(struct jp *p, int depth, int *ret_true);

/* An object; returns its "path" string if it has no "type" (for a parent's data). */
static struct jstr
j_object(struct jp *p, int depth)
{
	struct jstr key, path = { 0, 0, 0 }, data = { 0, 0, 0 }, v, none = { 0, 0, 0 };
	int is_unix = 0, has_type = 0, abstract = 0, t, r;

	p->i++;	/* '{' */
	j_ws(p);
	if (p->i < p->b && p->s[p->i] == '}') {
		p->i++;
		return none;
	}
	for (;;) {
		j_ws(p);
		key = j_string(p);
		if (p->bad)
			return none;
		j_ws(p);
		if (p->i >= p->b || p->s[p->i] != ':') {
			p->bad = 1;
			return none;
		}
		p->i++;
		j_ws(p);
		t = 0;
		if (p->i < p->b && p->s[p->i] == '"' && (j_eq(p, key, "type") ||
		    j_eq(p, key, "path"))) {
			v = j_string(p);
			if (j_eq(p, key, "type")) {
				has_type = 1;
				is_unix = v.ok && j_eq(p, v, "unix");
			} else
				path = v;
		} else if (j_eq(p, key, "data") && p->i < p->b && p->s[p->i] == '{')
			data = j_object(p, depth + 1);
		else {
			j_value(p, depth + 1, &t);
			if (t && j_eq(p, key, "abstract"))
				abstract = 1;
			if (t && j_eq(p, key, "server"))
				p->server = 1;
		}
		if (p->bad || (r = j_sep(p, '}')) < 0)
			return none;
		if (r == 0)
			break;
	}
	if (is_unix && !abstract) {
		if (path.ok)
			span_add(p->sp, path.start, path.end, ESC_JSON, SBRW_ROLE_ANY);
		else if (data.ok)
			span_add(p->sp, data.start, data.end, ESC_JSON, SBRW_ROLE_ANY);
	}
	return has_type ? none : path;
}

static struct jstr
j_value(struct jp *p, int depth, int *ret_true)
{
	struct jstr none = { 0, 0, 0 };

	*ret_true = 0;
	if (depth > JSON_DEPTH_MAX) {
		p->bad = 1;
		return none;
	}
	j_ws(p);
	if (p->i >= p->b) {
		p->bad = 1;
		return none;
	}
	switch (p->s[p->i]) {
	case '{':
		return j_object(p, depth);
	case '[':
		p->i++;
		j_ws(p);
		if (p->i < p->b && p->s[p->i] == ']') {
			p->i++;
			return none;
		}
		for (;;) {
			int t;

			j_value(p, depth + 1, &t);
			if (p->bad || j_sep(p, ']') <= 0)
				return none;
		}
	case '"':
		j_string(p);
		return none;
	default:
		if (j_literal(p, "true")) {
			*ret_true = 1;
			return none;
		}
		if (j_literal(p, "false") || j_literal(p, "null"))
			return none;
		if (p->s[p->i] != '-' && (p->s[p->i] < '0' || p->s[p->i] > '9')) {
			p->bad = 1;
			return none;
		}
		while (p->i < p->b && strchr("+-.eE0123456789", p->s[p->i]) != NULL &&
		    p->s[p->i] != '\0')
			p->i++;
		return none;
	}
}

static void
qemu_json(const char *s, size_t a, size_t b, struct spans *sp)
{
	struct jp p = { s, a, b, 0, 0, sp };
	int t, k, first = sp->n;

	j_value(&p, 0, &t);
	j_ws(&p);
	if (p.bad || p.i != b) {
		sp->n = first;	/* not JSON QEMU would take: leave it */
		return;
	}
	for (k = first; k < sp->n; k++)
		sp->s[k].role = p.server ? SBRW_ROLE_SERVER : SBRW_ROLE_ANY;
}

/* swtpm: type=unixio,path=P,mode=... (no escapes) */
static void
swtpm_spans(const char *s, size_t a, size_t b, struct spans *sp)
{
	struct item it[ITEMS_MAX];
	const struct item *t, *path;
	int n;

	n = items_split(s, a, b, ESC_NONE, it, ITEMS_MAX);
	if ((t = item_find(s, it, n, "type", 4)) != NULL && val_is(s, t, "unixio") &&
	    (path = item_find(s, it, n, "path", 4)) != NULL)
		span_add(sp, path->vs, path->ve, ESC_NOCOMMA, SBRW_ROLE_ANY);
}

/* socat */

static const struct {
	const char	*keyword;
	enum sbrw_role	 role;
} socat_addrs[] = {
	{ "UNIX-LISTEN", SBRW_ROLE_SERVER },
	{ "UNIX-RECVFROM", SBRW_ROLE_SERVER },
	{ "UNIX-RECV", SBRW_ROLE_SERVER },
	{ "UNIX-CONNECT", SBRW_ROLE_CLIENT },
	{ "UNIX-CLIENT", SBRW_ROLE_CLIENT },
	{ "UNIX-SENDTO", SBRW_ROLE_CLIENT },
	{ "UNIX", SBRW_ROLE_CLIENT },
	{ "LOCAL", SBRW_ROLE_CLIENT },
};

/*
 * One socat address s[a, b): KEYWORD:PATH[,opt...]; bind=P among the
 * options is the local path a client binds. Keywords in any case.
 */
static void
socat_one(const char *s, size_t a, size_t b, struct spans *sp)
{
	struct item it[ITEMS_MAX];
	size_t colon, comma, k;
	int n, i;

	for (colon = a; colon < b && s[colon] != ':' && s[colon] != ','; colon++)
		;
	if (colon >= b || s[colon] != ':')
		return;
	for (k = 0; k < sizeof(socat_addrs) / sizeof(socat_addrs[0]); k++)
		if (strlen(socat_addrs[k].keyword) == colon - a &&
		    strncasecmp(s + a, socat_addrs[k].keyword, colon - a) == 0)
			break;
	if (k == sizeof(socat_addrs) / sizeof(socat_addrs[0]))
		return;
	for (comma = colon + 1; comma < b && s[comma] != ','; comma++)
		;
	span_add(sp, colon + 1, comma, ESC_NOCOMMA, socat_addrs[k].role);
	if (comma >= b)
		return;
	n = items_split(s, comma + 1, b, ESC_NONE, it, ITEMS_MAX);
	for (i = 0; i < n; i++)
		if (key_is(s, &it[i], "bind", 4))
			span_add(sp, it[i].vs, it[i].ve, ESC_NOCOMMA, SBRW_ROLE_SERVER);
}

static void
socat_spans(const char *s, size_t a, size_t b, struct spans *sp)
{
	const char *dual = memfind(s, a, b, "!!");

	if (dual != NULL) {
		socat_one(s, a, (size_t)(dual - s), sp);
		socat_one(s, (size_t)(dual - s) + 2, b, sp);
	} else
		socat_one(s, a, b, sp);
}

/* kv:KEY: KEY=P, the key in any case; a value with % tokens is the program's */
static void
kv_spans(const char *s, size_t a, size_t b, const char *key, struct spans *sp)
{
	size_t n = strlen(key);

	if (b - a > n && strncasecmp(s + a, key, n) == 0 && s[a + n] == '=' &&
	    memchr(s + a + n + 1, '%', b - a - n - 1) == NULL)
		span_add(sp, a + n + 1, b, ESC_NONE, SBRW_ROLE_ANY);
}

/* prefix:TEXT: the argument, or one of its ,-items, starts with TEXT */
static void
prefix_spans(const char *s, size_t a, size_t b, const char *text, struct spans *sp)
{
	struct item it[ITEMS_MAX];
	int n, i;

	n = items_split(s, a, b, ESC_QEMU, it, ITEMS_MAX);
	for (i = 0; i < n; i++)
		if (starts(s, it[i].ks, it[i].ve, text))
			span_add(sp, it[i].ks + strlen(text), it[i].ve, ESC_QEMU, SBRW_ROLE_ANY);
}

/* The spans of s[a, b) in the grammar of rule. */
static void
grammar_spans(const struct sbrw_rule *r, const char *s, size_t a, size_t b, struct spans *sp)
{
	switch (r->grammar) {
	case SBRW_G_PATH:
	case SBRW_G_OPERAND:
		span_add(sp, a, b, ESC_NONE, SBRW_ROLE_ANY);
		break;
	case SBRW_G_QEMU:
	case SBRW_G_QEMU_TYPED:
		qemu_spans(s, a, b, r->grammar == SBRW_G_QEMU_TYPED, sp);
		break;
	case SBRW_G_SWTPM:
		swtpm_spans(s, a, b, sp);
		break;
	case SBRW_G_SOCAT:
		socat_spans(s, a, b, sp);
		break;
	case SBRW_G_DBUS:
		dbus_spans(s, a, b, sp, SBRW_ROLE_ANY);
		break;
	case SBRW_G_URI:
		uri_spans(s, a, b, sp, SBRW_ROLE_ANY);
		break;
	case SBRW_G_ADDRESS:
		address_spans(s, a, b, ESC_NONE, sp, SBRW_ROLE_ANY);
		break;
	case SBRW_G_KV:
		kv_spans(s, a, b, r->arg, sp);
		break;
	case SBRW_G_PREFIX:
		prefix_spans(s, a, b, r->arg, sp);
		break;
	case SBRW_G_QEMU_CONFIG:
	case SBRW_G_GETOPT:
		break;
	}
}

/* The rewriter */

struct rw {
	const struct sbrw_ops	*ops;
	int			 count;
};

static void
report(struct rw *rw, int argi, const char *arg, const struct sbrw_rule *rule,
    const char *long_path, const char *short_path, enum sbrw_role role, const char *why)
{
	struct sbrw_event ev = { argi, arg, rule, long_path, short_path, role, why };

	if (rw->ops->report != NULL)
		rw->ops->report(rw->ops->ctx, &ev);
}

/* Is an argument worth a "left alone" line? Over-long and with a '/'. */
static int
pathlike(const char *s)
{
	return sbrw_too_long(strlen(s)) && strchr(s, '/') != NULL;
}

static int
span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * Rewrite the spans of argv[argi], right to left, then zero the bytes the
 * argument no longer uses. Returns how many were rewritten.
 */
static int
rewrite_spans(struct rw *rw, int argi, char *arg, struct spans *sp,
    const struct sbrw_rule *rule)
{
	char longp[PATH_MAX], shortp[SBRW_SUN_PATH_MAX], enc[8 * SBRW_SUN_PATH_MAX];
	size_t old = strlen(arg), now, tail;
	enum sbrw_role role;
	int k, len, done = 0, r;

	qsort(sp->s, (size_t)sp->n, sizeof(sp->s[0]), span_cmp);
	for (k = 0; k + 1 < sp->n; k++)
		if (sp->s[k].end > sp->s[k + 1].start)
			return 0;	/* overlapping: a grammar bug, touch nothing */
	for (k = sp->n - 1; k >= 0; k--) {
		struct span *s = &sp->s[k];

		len = decode(arg, s->start, s->end, s->esc, longp, sizeof(longp));
		if (len < 0) {
			if (s->end - s->start > SBRW_SUN_PATH_MAX)
				report(rw, argi, arg, rule, NULL, NULL, s->role,
				    "a socket path that cannot be decoded (bad escape, or too long)");
			continue;
		}
		if (!sbrw_too_long((size_t)len))
			continue;
		role = rule != NULL && rule->role != SBRW_ROLE_ANY ? rule->role : s->role;
		if ((r = rw->ops->map(rw->ops->ctx, longp, role, shortp, sizeof(shortp))) < 0) {
			report(rw, argi, arg, rule, longp, NULL, role, strerror(-r));
			continue;
		}
		len = encode(shortp, s->esc, enc, sizeof(enc));
		if (len < 0 || (size_t)len > s->end - s->start) {
			report(rw, argi, arg, rule, longp, NULL, role,
			    "its short path cannot be written in this syntax");
			continue;
		}
		report(rw, argi, arg, rule, longp, shortp, role, NULL);
		tail = strlen(arg + s->end);
		memmove(arg + s->start + len, arg + s->end, tail + 1);
		memcpy(arg + s->start, enc, (size_t)len);
		rw->count++;
		done++;
	}
	now = strlen(arg);
	if (now < old)
		memset(arg + now, 0, old - now);
	return done;
}

/*
 * Apply rule to argv[argi] from offset off. Returns the rewrites; *found
 * says whether the grammar saw a socket context at all.
 */
static int
apply(struct rw *rw, const struct sbrw_rule *r, char **argv, int argi, size_t off, int *found)
{
	struct spans sp;
	char *arg = argv[argi];
	size_t b = strlen(arg);
	int k, n;

	sp.n = 0;
	sp.bad = 0;
	*found = 0;
	if (r->role == SBRW_ROLE_NEVER) {
		*found = 1;
		if (pathlike(arg))
			report(rw, argi, arg, r, NULL, NULL, r->role,
			    "its rule says it is never a socket path");
		return 0;
	}
	if (r->grammar == SBRW_G_QEMU_CONFIG) {
		*found = 1;
		if (off != 0)
			return 0;
		if (rw->ops->config == NULL) {
			report(rw, argi, arg, r, NULL, NULL, r->role,
			    "a QEMU config file: its socket paths are not rewritten here");
			return 0;
		}
		n = rw->ops->config(rw->ops->ctx, &argv[argi], rw->ops->map, rw->ops->ctx);
		if (n > 0)
			rw->count++;
		return n > 0;
	}
	if (!sbrw_too_long(b - off))
		return 0;
	grammar_spans(r, arg, off, b, &sp);
	if (sp.n == 0)
		return 0;
	*found = 1;
	for (k = 0; k < sp.n; k++)
		if (sbrw_too_long(sp.s[k].end - sp.s[k].start))
			break;
	if (k == sp.n)
		return 0;
	return rewrite_spans(rw, argi, arg, &sp, r);
}

/* The generic client side: a whole value that is an existing socket. */
static int
generic(struct rw *rw, char **argv, int argi, size_t off)
{
	struct spans sp;
	char *arg = argv[argi];
	const char *v = arg + off;

	if (v[0] != '/' || !sbrw_too_long(strlen(v)))
		return 0;
	if (rw->ops->is_socket == NULL || !rw->ops->is_socket(rw->ops->ctx, v))
		return 0;
	sp.n = 0;
	sp.bad = 0;
	span_add(&sp, off, strlen(arg), ESC_NONE, SBRW_ROLE_CLIENT);
	return rewrite_spans(rw, argi, arg, &sp, NULL);
}

/*
 * Does argument a name option opt? 2: its value is the next argument; 1:
 * the value is in a from *ret_off ("--opt=P", "-oP"); 0: no.
 */
static int
opt_match(const char *opt, const char *a, size_t *ret_off)
{
	size_t n = strlen(opt);

	if (strcmp(a, opt) == 0)
		return 2;
	if (strncmp(a, opt, n) == 0 && a[n] == '=' && (n > 2 || opt[1] == '-')) {
		*ret_off = n + 1;
		return 1;
	}
	if (n == 2 && opt[1] != '-' && strncmp(a, opt, 2) == 0 && a[2] != '\0') {
		*ret_off = 2;	/* -SPATH */
		return 1;
	}
	if (n > 2 && opt[1] != '-') {
		/* QEMU and Go: -name and --name are one option */
		if (a[0] == '-' && strcmp(a + 1, opt) == 0)
			return 2;
		if (a[0] == '-' && strncmp(a + 1, opt, n) == 0 && a[n + 1] == '=') {
			*ret_off = n + 2;
			return 1;
		}
	}
	return 0;
}

/* Is the flag of an operand rule given by a ("-U", "-lU", "--unixsock")? */
static int
flag_given(const char *opt, const char *a)
{
	size_t i;

	if (opt[1] == '-' || opt[2] != '\0')
		return strcmp(a, opt) == 0;
	if (a[0] != '-' || a[1] == '-' || a[1] == '\0')
		return 0;
	for (i = 1; a[i] != '\0'; i++) {
		if (!((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= 'A' && a[i] <= 'Z') ||
		    (a[i] >= '0' && a[i] <= '9')))
			return 0;
		if (a[i] == opt[1])
			return 1;
	}
	return 0;
}

int
sbrw_rules_never(const struct sbrw_rules *rules)
{
	int i;

	for (i = 0; rules != NULL && i < rules->n; i++)
		if (rules->rule[i].role == SBRW_ROLE_NEVER && strcmp(rules->rule[i].opt, "*") == 0)
			return 1;
	return 0;
}

/*
 * Apply the rules of option opt (its spelling in the rule) to argv[t] from
 * off, in order, until one finds a socket context. 1 if a rule applied.
 */
static int
value_rules(struct rw *rw, const struct sbrw_rules *rules, const char *opt, char **argv,
    int t, size_t off)
{
	const struct sbrw_rule *r, *last = NULL;
	int k, found = 0;

	for (k = 0; rules != NULL && k < rules->n && !found; k++) {
		r = &rules->rule[k];
		if (strcmp(r->opt, opt) != 0 || r->grammar == SBRW_G_OPERAND ||
		    r->grammar == SBRW_G_GETOPT)
			continue;
		last = r;
		apply(rw, r, argv, t, off, &found);
		if (r->role == SBRW_ROLE_NEVER || r->grammar == SBRW_G_QEMU_CONFIG)
			return 1;
	}
	if (last == NULL)
		return 0;
	if (!found && pathlike(argv[t] + off))
		report(rw, t, argv[t], last, NULL, NULL, last->role,
		    "no socket path in it (not a socket context of this option)");
	return 1;
}

/* An option argument that a rule names ("--opt P", "--opt=P", "-oP"). */
static int
do_option(struct rw *rw, const struct sbrw_rules *rules, int argc, char **argv, int *i)
{
	const struct sbrw_rule *r;
	size_t off = 0;
	int k, m;

	for (k = 0; rules != NULL && k < rules->n; k++) {
		r = &rules->rule[k];
		if (r->opt[0] != '-' || r->grammar == SBRW_G_OPERAND || r->grammar == SBRW_G_GETOPT)
			continue;
		if ((m = opt_match(r->opt, argv[*i], &off)) == 0)
			continue;
		if (m == 2) {
			if (*i + 1 >= argc || argv[*i + 1] == NULL)
				return 1;
			++*i;
			off = 0;
		}
		value_rules(rw, rules, r->opt, argv, *i, off);
		return 1;
	}
	return 0;
}

/*
 * A cluster of short options ("-vS P", "-lU") of a program whose rules give
 * its getopt string: the value of an option that takes one goes to that
 * option's rules (or the generic client side).
 */
static void
do_cluster(struct rw *rw, const struct sbrw_rules *rules, const char *optstring, int argc,
    char **argv, int *i)
{
	const char *a = argv[*i], *p;
	char opt[3] = { '-', 0, 0 };
	size_t j, off;
	int t;

	for (j = 1; a[j] != '\0'; j++) {
		if (a[j] == ':' || (p = strchr(optstring, a[j])) == NULL || p[1] != ':')
			continue;
		if (a[j + 1] != '\0') {
			t = *i;
			off = j + 1;
		} else if (*i + 1 < argc && argv[*i + 1] != NULL) {
			t = ++*i;
			off = 0;
		} else
			return;
		opt[1] = a[j];
		if (!value_rules(rw, rules, opt, argv, t, off) && generic(rw, argv, t, off) == 0 &&
		    pathlike(argv[t] + off))
			report(rw, t, argv[t], NULL, NULL, NULL, SBRW_ROLE_ANY,
			    "no rule names it, and it is not an existing socket");
		return;
	}
}

int
sbrw_argv(int argc, char **argv, const struct sbrw_rules *rules, const struct sbrw_ops *ops)
{
	struct rw rw = { ops, 0 };
	const struct sbrw_rule *operand = NULL, *opts = NULL;
	int i, k, dd = 0, found, done;

	if (sbrw_rules_never(rules)) {
		for (i = 1; i < argc && argv[i] != NULL; i++)
			if (pathlike(argv[i]))
				report(&rw, i, argv[i], NULL, NULL, NULL, SBRW_ROLE_NEVER,
				    "the rules of this program say no argument is a socket path");
		return 0;
	}
	for (k = 0; rules != NULL && k < rules->n; k++)
		if (rules->rule[k].grammar == SBRW_G_GETOPT && opts == NULL)
			opts = &rules->rule[k];
	for (i = 1; i < argc && argv[i] != NULL && operand == NULL; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		for (k = 0; rules != NULL && k < rules->n; k++)
			if (rules->rule[k].grammar == SBRW_G_OPERAND &&
			    rules->rule[k].role != SBRW_ROLE_NEVER &&
			    flag_given(rules->rule[k].opt, argv[i]))
				operand = &rules->rule[k];
	}
	for (i = 1; i < argc && argv[i] != NULL; i++) {
		char *a = argv[i];
		size_t off = 0;

		if (!dd && strcmp(a, "--") == 0) {
			dd = 1;
			continue;
		}
		if (!dd && a[0] == '-' && a[1] != '\0') {
			if (do_option(&rw, rules, argc, argv, &i))
				continue;
			if (opts != NULL && a[1] != '-') {
				do_cluster(&rw, rules, opts->arg, argc, argv, &i);
				continue;
			}
		} else if (opts != NULL)
			break;	/* the first operand: a command of its own follows */
		found = 0;
		done = 0;
		for (k = 0; rules != NULL && k < rules->n && !found; k++)
			if (strcmp(rules->rule[k].opt, "*") == 0)
				done = apply(&rw, &rules->rule[k], argv, i, 0, &found);
		if (found) {
			if (done == 0 && pathlike(a))
				report(&rw, i, a, &rules->rule[k - 1], NULL, NULL, SBRW_ROLE_ANY,
				    "no socket path over 108 bytes in it");
			continue;
		}
		if (operand != NULL && (dd || a[0] != '-')) {
			if (apply(&rw, operand, argv, i, 0, &found) == 0 && pathlike(a))
				report(&rw, i, a, operand, NULL, NULL, SBRW_ROLE_ANY,
				    "not rewritten");
			continue;
		}
		if (!dd && a[0] == '-' && a[1] == '-' && strchr(a, '=') != NULL)
			off = (size_t)(strchr(a, '=') - a) + 1;
		if (generic(&rw, argv, i, off) == 0 && pathlike(a))
			report(&rw, i, a, NULL, NULL, NULL, SBRW_ROLE_ANY,
			    "no rule names it, and it is not an existing socket");
	}
	return rw.count;
}

int
sbrw_candidates(int argc, char *const *argv)
{
	int i;

	for (i = 1; i < argc && argv[i] != NULL; i++)
		if (sbrw_too_long(strlen(argv[i])) || strcmp(argv[i], "-readconfig") == 0 ||
		    strcmp(argv[i], "--readconfig") == 0)
			return 1;
	return 0;
}

const char *
sbrw_program(const char *argv0)
{
	const char *slash;

	if (argv0 == NULL)
		return "";
	slash = strrchr(argv0, '/');
	return slash != NULL ? slash + 1 : argv0;
}

const char *
sbrw_role_name(enum sbrw_role role)
{
	switch (role) {
	case SBRW_ROLE_SERVER:
		return "server";
	case SBRW_ROLE_CLIENT:
		return "client";
	case SBRW_ROLE_NEVER:
		return "never";
	default:
		return "either";
	}
}

/* Rules */

static const struct {
	const char		*name;
	enum sbrw_grammar	 grammar;
	int			 has_arg;
} grammars[] = {
	{ "path", SBRW_G_PATH, 0 },
	{ "qemu", SBRW_G_QEMU, 0 },
	{ "qemu-typed", SBRW_G_QEMU_TYPED, 0 },
	{ "qemu-image", SBRW_G_QEMU_TYPED, 0 },	/* its first name */
	{ "qemu-config", SBRW_G_QEMU_CONFIG, 0 },
	{ "swtpm", SBRW_G_SWTPM, 0 },
	{ "socat", SBRW_G_SOCAT, 0 },
	{ "dbus", SBRW_G_DBUS, 0 },
	{ "address", SBRW_G_ADDRESS, 0 },
	{ "uri", SBRW_G_URI, 0 },
	{ "kv", SBRW_G_KV, 1 },
	{ "prefix", SBRW_G_PREFIX, 1 },
	{ "operand", SBRW_G_OPERAND, 0 },
	{ "getopt", SBRW_G_GETOPT, 1 },
};

static const struct {
	const char	*name;
	enum sbrw_role	 role;
} roles[] = {
	{ "server", SBRW_ROLE_SERVER },
	{ "client", SBRW_ROLE_CLIENT },
	{ "either", SBRW_ROLE_ANY },
	{ "never", SBRW_ROLE_NEVER },
};

/*
 * Does one of the ','-separated globs of progs match program? A glob's
 * text before its first special character must be program's own: most
 * lines are for other programs, and this tells most of them without
 * fnmatch() (a glob that is all text is compared whole).
 */
static int
progs_match(const char *progs, size_t n, const char *program)
{
	char glob[SBRW_RULE_TEXT_SIZE];
	size_t i = 0, e, lit, plen = strlen(program);

	while (i < n) {
		for (e = i; e < n && progs[e] != ','; e++)
			;
		for (lit = i; lit < e && progs[lit] != '*' && progs[lit] != '?' &&
		    progs[lit] != '[' && progs[lit] != '\\'; lit++)
			;
		if (e - i == 0 || e - i >= sizeof(glob) || lit - i > plen ||
		    memcmp(progs + i, program, lit - i) != 0)
			;	/* not program's */
		else if (lit == e) {
			if (e - i == plen)
				return 1;
		} else {
			memcpy(glob, progs + i, e - i);
			glob[e - i] = '\0';
			if (fnmatch(glob, program, 0) == 0)
				return 1;
		}
		i = e + 1;
	}
	return 0;
}

struct field {
	const char	*p;
	size_t		 n;
};

/*
 * Parse one line (no comment, trimmed) into r; 0, or an error text. 1 in
 * *ret_match if it applies to program.
 */
static const char *
parse_line(const char *line, size_t len, const char *program, struct sbrw_rule *r,
    int *ret_match)
{
	struct field f[5];
	size_t i = 0, k, nf = 0;
	const char *g;

	*ret_match = 0;
	while (i < len && nf < 5) {
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i >= len)
			break;
		f[nf].p = line + i;
		while (i < len && line[i] != ' ' && line[i] != '\t')
			i++;
		f[nf].n = (size_t)(line + i - f[nf].p);
		nf++;
	}
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i < len)
		return "too many fields (want PROGRAMS OPTION ROLE GRAMMAR)";
	/*
	 * a line for other programs is not this one's business, good or bad;
	 * looked at before anything is copied: most lines of most files are
	 * for other programs, and every shimmed process with a long argument
	 * reads every file
	 */
	if (nf > 1 && !progs_match(f[0].p, f[0].n, program))
		return NULL;
	memset(r, 0, sizeof(*r));
	snprintf(r->line, sizeof(r->line), "%.*s", (int)len, line);
	if (nf == 1) {
		/* the old SOCKBROKER_REWRITE items, for every program */
		if (f[0].n > 4 && memcmp(f[0].p, "opt:", 4) == 0) {
			if (f[0].n - 4 >= sizeof(r->opt) || f[0].p[4] != '-')
				return "opt:TEXT wants an option of at most 63 bytes";
			memcpy(r->opt, f[0].p + 4, f[0].n - 4);
			r->grammar = SBRW_G_PATH;
		} else if (f[0].n > 7 && memcmp(f[0].p, "prefix:", 7) == 0) {
			if (f[0].n - 7 >= sizeof(r->arg))
				return "prefix:TEXT wants at most 127 bytes";
			strcpy(r->opt, "*");
			memcpy(r->arg, f[0].p + 7, f[0].n - 7);
			r->grammar = SBRW_G_PREFIX;
		} else
			return "want PROGRAMS OPTION ROLE GRAMMAR (or opt:TEXT, prefix:TEXT)";
		r->role = SBRW_ROLE_ANY;
		*ret_match = 1;
		return NULL;
	}
	if (nf < 3 || (nf == 3 && !(f[2].n == 5 && memcmp(f[2].p, "never", 5) == 0)))
		return "want PROGRAMS OPTION ROLE GRAMMAR";
	if (f[1].n >= sizeof(r->opt) || !((f[1].n == 1 && f[1].p[0] == '*') ||
	    (f[1].n >= 2 && f[1].p[0] == '-' && f[1].p[1] != '=')) ||
	    memchr(f[1].p, '=', f[1].n) != NULL)
		return "OPTION is '*' or starts with '-' (at most 63 bytes, no '=')";
	memcpy(r->opt, f[1].p, f[1].n);
	for (k = 0; k < sizeof(roles) / sizeof(roles[0]); k++)
		if (strlen(roles[k].name) == f[2].n && memcmp(roles[k].name, f[2].p, f[2].n) == 0)
			break;
	if (k == sizeof(roles) / sizeof(roles[0]))
		return "ROLE is server, client, either or never";
	r->role = roles[k].role;
	r->grammar = SBRW_G_PATH;
	if (nf == 4) {
		g = memchr(f[3].p, ':', f[3].n);
		for (k = 0; k < sizeof(grammars) / sizeof(grammars[0]); k++)
			if (strlen(grammars[k].name) == (size_t)((g != NULL ? g : f[3].p + f[3].n) - f[3].p) &&
			    memcmp(grammars[k].name, f[3].p, strlen(grammars[k].name)) == 0)
				break;
		if (k == sizeof(grammars) / sizeof(grammars[0]))
			return "GRAMMAR is path, qemu, qemu-typed, qemu-config, swtpm, socat, "
			    "dbus, address, uri, kv:KEY, prefix:TEXT, operand or getopt:OPTS";
		if (grammars[k].has_arg != (g != NULL) ||
		    (g != NULL && (size_t)(f[3].p + f[3].n - g - 1) >= sizeof(r->arg)))
			return grammars[k].has_arg ? "this GRAMMAR wants :TEXT (at most 127 bytes)" :
			    "this GRAMMAR takes no :TEXT";
		if (g != NULL) {
			memcpy(r->arg, g + 1, (size_t)(f[3].p + f[3].n - g - 1));
			if (r->arg[0] == '\0')
				return "this GRAMMAR wants :TEXT (at most 127 bytes)";
		}
		r->grammar = grammars[k].grammar;
		if (r->grammar == SBRW_G_OPERAND && r->opt[0] != '-')
			return "operand wants the flag as OPTION";
		if ((r->grammar == SBRW_G_GETOPT) != (strcmp(r->opt, "--") == 0 &&
		    r->role == SBRW_ROLE_NEVER))
			return "getopt:OPTSTRING goes with OPTION -- and ROLE never";
	}
	*ret_match = 1;
	return NULL;
}

int
sbrw_rules_add_text(struct sbrw_rules *rules, const char *program, const char *text,
    size_t len, int semi, const char *origin, sbrw_error_fn err, void *err_ctx)
{
	struct sbrw_rule r;
	size_t i = 0, e, s, t;
	const char *why;
	char msg[SBRW_ORIGIN_SIZE + SBRW_LINE_SIZE];
	int lineno = 0, bad = 0, match;

	while (i < len) {
		if (!semi) {
			const char *nl = memchr(text + i, '\n', len - i);

			e = nl != NULL ? (size_t)(nl - text) : len;
		} else
			for (e = i; e < len && text[e] != '\n' && text[e] != ';'; e++)
				;
		lineno++;
		for (s = i; s < e && (text[s] == ' ' || text[s] == '\t'); s++)
			;
		for (t = e; t > s && (text[t - 1] == ' ' || text[t - 1] == '\t' ||
		    text[t - 1] == '\r'); t--)
			;
		if (t > s && text[s] != '#') {
			if (t - s >= SBRW_LINE_SIZE)
				why = "line too long";
			else
				why = parse_line(text + s, t - s, program, &r, &match);
			if (why != NULL) {
				bad++;
				if (err != NULL) {
					snprintf(msg, sizeof(msg), "%s:%d: %s: line ignored", origin,
					    lineno, why);
					err(err_ctx, msg);
				}
			} else if (match && rules->n < SBRW_RULES_MAX) {
				snprintf(r.origin, sizeof(r.origin), "%s:%d", origin, lineno);
				rules->rule[rules->n++] = r;
			} else if (match)
				rules->dropped++;
		}
		i = e + 1;
	}
	return bad;
}

struct rule_file {
	char		name[64];
	int		dir;
	unsigned char	type;	/* d_type: DT_REG needs no fstat */
};

/*
 * Does a short read of a regular file in the directory dirfd mean its end?
 * On a local disk or memory file system, yes; FUSE (direct_io), 9p, NFS
 * and the like may answer a read with less than is there, so there the
 * file is read until a read gives nothing.
 */
static int
dir_reads_whole(int dirfd)
{
	static const unsigned long whole[] = {
		0xEF53,		/* ext2, ext3, ext4 */
		0x58465342,	/* xfs */
		0x9123683E,	/* btrfs */
		0x01021994,	/* tmpfs */
		0x73717368,	/* squashfs */
	};
	struct statfs sf;
	size_t i;

	if (fstatfs(dirfd, &sf) < 0)
		return 0;
	for (i = 0; i < sizeof(whole) / sizeof(whole[0]); i++)
		if ((unsigned long)sf.f_type == whole[i])
			return 1;
	return 0;
}

static int
file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rule_file *)a)->name, ((const struct rule_file *)b)->name);
}

/*
 * Read one rule file, name in the directory dirfd (path, for messages),
 * into rules. Every shimmed process with a long argument reads every
 * rule file, so a usual one costs three system calls: openat beside the
 * directory's fd (no walk of the whole path), one read of up to the limit
 * and a byte (whole: the directory's file system ends a regular file at a
 * short read), close. Only what readdir did not call a regular file is
 * looked at with fstat: a link (to /dev/null, or anything but a file)
 * masks, with no rules; so does a directory or FIFO put there since.
 */
static void
load_file(struct sbrw_rules *rules, const char *program, int dirfd, const char *name,
    unsigned char type, int whole, const char *path, sbrw_error_fn err, void *err_ctx)
{
	char buf[SBRW_FILE_MAX + 1], msg[PATH_MAX + 64];
	struct stat st;
	size_t n = 0;
	ssize_t r;
	int fd;

	/* O_NONBLOCK: a FIFO there must not hang the program */
	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		if (err != NULL) {
			snprintf(msg, sizeof(msg), "%s: cannot read it: %s", path, strerror(errno));
			err(err_ctx, msg);
		}
		return;
	}
	if (type != DT_REG && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		return;
	}
	/*
	 * A short read of a regular file of a whole-reading file system is
	 * its end; anything else is read until a read gives nothing, up to a
	 * byte past the limit. A directory (EISDIR) or FIFO (EAGAIN) swapped
	 * in since readdir reads as nothing.
	 */
	while (n < sizeof(buf)) {
		if ((r = read(fd, buf + n, sizeof(buf) - n)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (whole && type == DT_REG && n < sizeof(buf))
			break;
	}
	close(fd);
	if (n > SBRW_FILE_MAX) {
		if (err != NULL) {
			snprintf(msg, sizeof(msg), "%s: larger than %d bytes: ignored", path,
			    SBRW_FILE_MAX);
			err(err_ctx, msg);
		}
		return;
	}
	sbrw_rules_add_text(rules, program, buf, n, 0, path, err, err_ctx);
}

int
sbrw_rules_load(struct sbrw_rules *rules, const char *program, const char *dirs,
    sbrw_error_fn err, void *err_ctx)
{
	struct rule_file files[SBRW_FILES_MAX];
	const char *dstart[16], *p, *e;
	size_t dlen[16], n;
	char path[PATH_MAX], dir[PATH_MAX], msg[PATH_MAX + 64];
	struct dirent *de;
	DIR *dp[16];
	int nd = 0, nf = 0, d, k, full = 0, whole[16];

	for (p = dirs; p != NULL && *p != '\0' && nd < 16; p = *e != '\0' ? e + 1 : e) {
		if ((e = strchr(p, ':')) == NULL)
			e = p + strlen(p);
		if (e > p && (size_t)(e - p) < sizeof(dir)) {
			dstart[nd] = p;
			dlen[nd++] = (size_t)(e - p);
		}
	}
	for (d = 0; d < nd; d++) {
		/* kept open until its files are read: each is opened beside it */
		snprintf(dir, sizeof(dir), "%.*s", (int)dlen[d], dstart[d]);
		if ((dp[d] = opendir(dir)) == NULL)
			continue;	/* no such directory: no rules there */
		whole[d] = dir_reads_whole(dirfd(dp[d]));
		while ((de = readdir(dp[d])) != NULL) {
			n = strlen(de->d_name);
			if (de->d_name[0] == '.' || n < 7 || n >= sizeof(files[0].name) || strcmp(de->d_name + n - 6, ".rules") != 0)
				continue;
			for (k = 0; k < nf; k++)
				if (strcmp(files[k].name, de->d_name) == 0)
					break;
			if (k < nf)
				continue;	/* an earlier directory has it */
			if (nf == SBRW_FILES_MAX) {
				full = 1;
				continue;
			}
			memcpy(files[nf].name, de->d_name, n + 1);
			files[nf].type = de->d_type;
			files[nf++].dir = d;
		}
	}
	if (full && err != NULL) {
		snprintf(msg, sizeof(msg), "more than %d rule files: the rest are ignored",
		    SBRW_FILES_MAX);
		err(err_ctx, msg);
	}
	qsort(files, (size_t)nf, sizeof(files[0]), file_cmp);
	for (k = 0; k < nf; k++) {
		size_t nlen = strlen(files[k].name);

		d = files[k].dir;
		/* DIR/NAME, for the messages: joined by hand, snprintf cost a tenth of a load */
		if (dlen[d] + 1 + nlen >= sizeof(path))
			continue;
		memcpy(path, dstart[d], dlen[d]);
		path[dlen[d]] = '/';
		memcpy(path + dlen[d] + 1, files[k].name, nlen + 1);
		load_file(rules, program, dirfd(dp[d]), files[k].name, files[k].type, whole[d],
		    path, err, err_ctx);
	}
	for (d = 0; d < nd; d++)
		if (dp[d] != NULL)
			closedir(dp[d]);
	return nf;
}

const char *
sbrw_dirs(void)
{
	const char *e;

#ifdef HAVE_SECURE_GETENV
	e = secure_getenv("SOCKBROKER_REWRITE_DIRS");
#else
	e = getuid() == geteuid() && getgid() == getegid() ?
	    getenv("SOCKBROKER_REWRITE_DIRS") : NULL;
#endif
	return e != NULL && e[0] != '\0' ? e : SB_REWRITE_DIRS;
}

int
sbrw_stat_is_socket(void *ctx, const char *path)
{
	struct stat st;

	(void)ctx;
	return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}
