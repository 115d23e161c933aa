/* SPDX-License-Identifier: ISC */
/*
 * readconfig.c: socket paths in QEMU's -readconfig files.
 *
 * QEMU's config format (util/qemu-config.c, read with fgets into a
 * 1024-byte line):
 *   # comment            only in the first column
 *   (empty line)
 *   [group "id"]         or [group]
 *   key = "value"        leading blanks allowed; key up to 63 bytes,
 *                        value up to 1023 bytes, no escapes
 * Anything else is a parse error for QEMU, and then the file is left as
 * it is here too: QEMU reports it with its own line numbers.
 *
 * Only values in a socket context are touched (see readconfig.h); a file
 * path, a directory (fsdev path=), a chardev of another backend, a spice
 * addr= without unix=on never are, and bytes outside the rewritten values
 * are copied as they are.
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
#include <sys/stat.h>
#include <unistd.h>

#include "readconfig.h"

#define LINE_MAX_QEMU	1023	/* fgets(line, 1024): longer lines are split */
#define KEY_MAX		63
#define VALUE_MAX	1023

/* One key = "value" line: offsets into the text. */
struct kv {
	size_t	key, key_len;
	size_t	val, val_len;
};

/* A group's lines: [start, end) of the text. */
struct section {
	char	group[KEY_MAX + 1];
	size_t	start, end;
};

struct edit {
	size_t	off, len;		/* the value replaced */
	char	text[SBRW_SUN_PATH_MAX + 8];	/* "unix:" + short path */
};

struct rc {
	const char	*s;
	size_t		 len;
	sbrw_map_fn	 map;
	void		*ctx;
	struct edit	 edits[SBRC_PATHS_MAX];
	int		 nedits;
};

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The end of the line that starts at i (the '\n' or the end of text). */
static size_t
line_end(const struct rc *rc, size_t i)
{
	const char *nl = memchr(rc->s + i, '\n', rc->len - i);

	return nl != NULL ? (size_t)(nl - rc->s) : rc->len;
}

/*
 * Parse the key line [i, e) as QEMU does (" %63s = \"%1023[^\"]\"").
 * 1 with *kv set, 0 if it is not one.
 */
static int
parse_kv(const struct rc *rc, size_t i, size_t e, struct kv *kv)
{
	const char *s = rc->s;

	while (i < e && is_blank(s[i]))
		i++;
	kv->key = i;
	while (i < e && !is_blank(s[i]) && i - kv->key < KEY_MAX)
		i++;
	kv->key_len = i - kv->key;
	if (kv->key_len == 0)
		return 0;
	while (i < e && is_blank(s[i]))
		i++;
	if (i >= e || s[i++] != '=')
		return 0;
	while (i < e && is_blank(s[i]))
		i++;
	if (i >= e || s[i++] != '"')
		return 0;
	kv->val = i;
	while (i < e && s[i] != '"')
		i++;
	kv->val_len = i - kv->val;
	/* no closing quote on the line, or a value QEMU would cut: not ours */
	return i < e && kv->val_len <= VALUE_MAX;
}

/*
 * Parse the group line [i, e): "[group \"id\"]" or "[group]". 1 with
 * group set, 0 if QEMU would not take it.
 */
static int
parse_group(const struct rc *rc, size_t i, size_t e, char group[KEY_MAX + 1])
{
	const char *s = rc->s;
	size_t g = ++i, n, q;

	/* [%63s "%63[^"]"] */
	while (i < e && !is_blank(s[i]) && i - g < KEY_MAX)
		i++;
	n = i - g;
	q = i;
	while (q < e && is_blank(s[q]))
		q++;
	if (n > 0 && q > i && q < e && s[q] == '"') {
		size_t id = ++q;

		while (q < e && s[q] != '"' && q - id < KEY_MAX)
			q++;
		if (q > id) {	/* sscanf has both fields: QEMU takes it */
			memcpy(group, s + g, n);
			group[n] = '\0';
			return 1;
		}
	}
	/* [%63[^]]] */
	for (i = g; i < e && s[i] != ']' && i - g < KEY_MAX; i++)
		;
	if (i == g || i >= e || s[i] != ']')
		return 0;
	memcpy(group, s + g, i - g);
	group[i - g] = '\0';
	return 1;
}

static int
key_is(const struct rc *rc, const struct kv *kv, const char *key)
{
	size_t n = strlen(key);

	return kv->key_len == n && memcmp(rc->s + kv->key, key, n) == 0;
}

static int
val_is(const struct rc *rc, const struct kv *kv, const char *val)
{
	size_t n = strlen(val);

	return kv->val_len == n && memcmp(rc->s + kv->val, val, n) == 0;
}

/* The value of key in the section, or 0 if it has none (the last one wins). */
static int
section_get(const struct rc *rc, const struct section *sec, const char *key, size_t key_len,
    struct kv *ret)
{
	struct kv kv;
	size_t i, e;
	int found = 0;

	for (i = sec->start; i < sec->end; i = e + 1) {
		e = line_end(rc, i);
		if (rc->s[i] == '#' || rc->s[i] == '[' || !parse_kv(rc, i, e, &kv))
			continue;
		if (kv.key_len == key_len && memcmp(rc->s + kv.key, key, key_len) == 0) {
			*ret = kv;
			found = 1;
		}
	}
	return found;
}

/* QEMU's booleans (qapi_bool_parse): on, yes, true, y. */
static int
section_true(const struct rc *rc, const struct section *sec, const char *key)
{
	struct kv kv;

	return section_get(rc, sec, key, strlen(key), &kv) &&
	    (val_is(rc, &kv, "on") || val_is(rc, &kv, "yes") || val_is(rc, &kv, "true") ||
	    val_is(rc, &kv, "y"));
}

static int
section_is(const struct rc *rc, const struct section *sec, const char *key, const char *val)
{
	struct kv kv;

	return section_get(rc, sec, key, strlen(key), &kv) && val_is(rc, &kv, val);
}

/*
 * Is kv a socket path in its section? The offset of the path inside the
 * value (vnc's "unix:"), or -1.
 */
static long
socket_value(const struct rc *rc, const struct section *sec, const struct kv *kv)
{
	const char *k = rc->s + kv->key;
	struct kv t;
	size_t plen;

	if (strcmp(sec->group, "chardev") == 0 && key_is(rc, kv, "path"))
		return section_is(rc, sec, "backend", "socket") ? 0 : -1;
	if (strcmp(sec->group, "spice") == 0 && key_is(rc, kv, "addr"))
		return section_true(rc, sec, "unix") ? 0 : -1;
	if (strcmp(sec->group, "vnc") == 0 && key_is(rc, kv, "vnc"))
		return kv->val_len > 5 && memcmp(rc->s + kv->val, "unix:", 5) == 0 ? 5 : -1;
	/* PFX.path beside PFX.type = "unix" */
	if (kv->key_len < 4 || memcmp(k + kv->key_len - 4, "path", 4) != 0)
		return -1;
	plen = kv->key_len - 4;
	if (plen > 0 && k[plen - 1] != '.')
		return -1;
	{
		char tkey[KEY_MAX + 1];

		memcpy(tkey, k, plen);
		memcpy(tkey + plen, "type", 5);
		if (plen + 4 > KEY_MAX || !section_get(rc, sec, tkey, plen + 4, &t))
			return -1;
	}
	if (plen == 0 && strcmp(sec->group, "chardev") == 0)
		return -1;	/* chardev type= is not a thing; backend= decided */
	return val_is(rc, &t, "unix") ? 0 : -1;
}

/* Map the socket path of kv (at offset skip in the value) and record the edit. */
static int
rewrite_value(struct rc *rc, const struct section *sec, const struct kv *kv, size_t skip)
{
	char path[VALUE_MAX + 1], out[SBRW_SUN_PATH_MAX];
	struct edit *ed;
	size_t n = kv->val_len - skip;
	enum sbrw_role role = SBRW_ROLE_ANY;

	if (!sbrw_too_long(n) || rc->nedits == SBRC_PATHS_MAX)
		return 0;
	memcpy(path, rc->s + kv->val + skip, n);
	path[n] = '\0';
	if (strcmp(sec->group, "chardev") == 0)
		role = section_true(rc, sec, "server") ? SBRW_ROLE_SERVER : SBRW_ROLE_CLIENT;
	else if (strcmp(sec->group, "spice") == 0 || strcmp(sec->group, "vnc") == 0)
		role = SBRW_ROLE_SERVER;
	if (rc->map(rc->ctx, path, role, out, sizeof(out)) < 0)
		return 0;
	ed = &rc->edits[rc->nedits++];
	ed->off = kv->val;
	ed->len = kv->val_len;
	snprintf(ed->text, sizeof(ed->text), "%.*s%s", (int)skip, rc->s + kv->val, out);
	return 1;
}

/* Walk the text: 0, or -1 if QEMU would refuse it (then nothing is rewritten). */
static int
walk(struct rc *rc)
{
	struct section sec = { .group = "", .start = 0, .end = 0 };
	struct kv kv;
	size_t i, e;
	int have_group = 0;

	for (i = 0; i < rc->len; i = e + 1) {
		e = line_end(rc, i);
		if (e - i > LINE_MAX_QEMU - (e < rc->len ? 1 : 0))
			return -1;
		if (e == i || rc->s[i] == '#')
			continue;
		if (rc->s[i] == '[' && parse_group(rc, i, e, sec.group)) {
			size_t j, je;

			/* the section runs to the next group line */
			sec.start = e + 1;
			for (j = sec.start; j < rc->len; j = je + 1) {
				je = line_end(rc, j);
				if (rc->s[j] == '[')
					break;
			}
			sec.end = j < rc->len ? j : rc->len;
			have_group = 1;
			continue;
		}
		if (!parse_kv(rc, i, e, &kv) || !have_group)
			return -1;
		if (sbrw_too_long(kv.val_len)) {
			long skip = socket_value(rc, &sec, &kv);

			if (skip >= 0)
				rewrite_value(rc, &sec, &kv, (size_t)skip);
		}
	}
	return 0;
}

int
sbrc_rewrite(const char *in, size_t len, sbrw_map_fn map, void *ctx, char **ret_out,
    size_t *ret_len)
{
	struct rc *rc;
	size_t i, o, n;
	char *out;
	int k, count;

	*ret_out = NULL;
	*ret_len = 0;
	if (len > SBRC_FILE_MAX || memchr(in, '\0', len) != NULL)
		return 0;
	if ((rc = calloc(1, sizeof(*rc))) == NULL)
		return -ENOMEM;
	rc->s = in;
	rc->len = len;
	rc->map = map;
	rc->ctx = ctx;
	if (walk(rc) < 0 || rc->nedits == 0) {
		free(rc);
		return 0;
	}
	if ((out = malloc(len + 1)) == NULL) {	/* every edit shortens */
		free(rc);
		return -ENOMEM;
	}
	for (i = 0, o = 0, k = 0; k < rc->nedits; k++) {
		struct edit *ed = &rc->edits[k];

		memcpy(out + o, in + i, ed->off - i);
		o += ed->off - i;
		n = strlen(ed->text);
		memcpy(out + o, ed->text, n);
		o += n;
		i = ed->off + ed->len;
	}
	memcpy(out + o, in + i, len - i);
	o += len - i;
	out[o] = '\0';
	count = rc->nedits;
	free(rc);
	*ret_out = out;
	*ret_len = o;
	return count;
}

/*
 * Read a regular file of at most SBRC_FILE_MAX bytes. Anything else
 * (a FIFO, a device) is QEMU's to open: a stat first, so that a device
 * whose open does something (a serial line, a tape) is not opened, and
 * O_NONBLOCK, so that a FIFO put there since is not waited for; fstat
 * decides, and nothing is read from anything but a regular file.
 */
static int
read_file(const char *path, char **ret_buf, size_t *ret_len)
{
	struct stat st;
	char *buf;
	size_t n = 0;
	ssize_t r;
	int fd;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > SBRC_FILE_MAX) {
		close(fd);
		return -EINVAL;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (n < (size_t)st.st_size && (r = read(fd, buf + n, (size_t)st.st_size - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			close(fd);
			free(buf);
			return (int)r;
		}
		n += (size_t)r;
	}
	close(fd);
	*ret_buf = buf;
	*ret_len = n;
	return 0;
}

/* A sealed memfd holding text: its fd, or -errno. */
static int
sealed_memfd(const char *text, size_t len)
{
	size_t n = 0;
	ssize_t r;
	int fd;

	if ((fd = memfd_create("sockbroker-qemu.conf", MFD_CLOEXEC | MFD_ALLOW_SEALING)) < 0)
		return -errno;
	while (n < len) {
		if ((r = write(fd, text + n, len - n)) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			close(fd);
			return (int)r;
		}
		n += (size_t)r;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		r = -errno;
		close(fd);
		return (int)r;
	}
	return fd;
}

static int
is_qemu_system(const char *argv0)
{
	const char *base = strrchr(argv0, '/');

	base = base != NULL ? base + 1 : argv0;
	return strncmp(base, "qemu-system-", 12) == 0;
}

/* Point argv[i] at name: in place when it fits (the rest zeroed), else a copy. */
static int
set_arg(char **argv, int i, const char *name)
{
	size_t n = strlen(name), old = strlen(argv[i]);
	char *p;

	if (n <= old) {
		memcpy(argv[i], name, n);
		memset(argv[i] + n, 0, old - n + 1);
		return 0;
	}
	if ((p = strdup(name)) == NULL)
		return -ENOMEM;
	argv[i] = p;	/* lives as long as the process: argv does */
	return 0;
}

/* Rewrite one -readconfig FILE: 1 if replaced, 0 if left, -errno. */
static int
readconfig_one(char **argv, int i, sbrw_map_fn map, void *ctx, const char **ret_why)
{
	char *text = NULL, *out, name[32];
	size_t len = 0, olen;
	int r, fd;

	*ret_why = NULL;
	if ((r = read_file(argv[i], &text, &len)) < 0)
		return 0;	/* QEMU says why it cannot read it */
	r = sbrc_rewrite(text, len, map, ctx, &out, &olen);
	free(text);
	if (r <= 0) {
		if (r < 0)
			*ret_why = "out of memory";
		return r;
	}
	fd = sealed_memfd(out, olen);
	free(out);
	if (fd < 0) {
		*ret_why = "cannot make a memfd for the rewritten copy";
		return fd;
	}
	snprintf(name, sizeof(name), "/proc/self/fd/%d", fd);
	if ((r = set_arg(argv, i, name)) < 0) {
		close(fd);
		*ret_why = "out of memory";
		return r;
	}
	return 1;
}

int
sbrc_argv(int argc, char **argv, sbrw_map_fn map, void *ctx,
    void (*report)(const char *file, const char *why))
{
	const char *why;
	char file[4096];
	int i, n = 0;

	if (argc < 3 || argv[0] == NULL || !is_qemu_system(argv[0]))
		return 0;
	for (i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "-readconfig") != 0 && strcmp(argv[i], "--readconfig") != 0)
			continue;
		snprintf(file, sizeof(file), "%s", argv[++i]);
		if (readconfig_one(argv, i, map, ctx, &why) > 0)
			n++;
		else if (why != NULL && report != NULL)
			report(file, why);
	}
	return n;
}
