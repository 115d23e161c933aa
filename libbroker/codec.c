/* SPDX-License-Identifier: ISC */
/*
 * codec.c: encode and decode sockbroker messages (see sb-proto.h).
 * libc only: it is linked into the daemon, the library and the shim.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <string.h>

#include "sb-proto.h"

#define BIT(f)	(UINT64_C(1) << (f))

_Static_assert(SB_F__MAX <= 64, "struct sb_msg's present has 64 bits");

struct field_desc {
	enum sb_field_kind	kind;
	uint16_t		max;	/* strings: bytes without NUL */
};

static const struct field_desc fields[SB_F__MAX] = {
	[SB_F_KEY] =		{ SB_FK_STR, SB_KEY_MAX },
	[SB_F_SOCKTYPE] =	{ SB_FK_U32, 0 },
	[SB_F_FLAGS] =		{ SB_FK_U32, 0 },
	[SB_F_MODE] =		{ SB_FK_U32, 0 },
	[SB_F_GID] =		{ SB_FK_U32, 0 },
	[SB_F_LIFETIME] =	{ SB_FK_U32, 0 },
	[SB_F_TIMEOUT_MS] =	{ SB_FK_U32, 0 },
	[SB_F_ERRNO] =		{ SB_FK_U32, 0 },
	[SB_F_MESSAGE] =	{ SB_FK_STR, SB_MESSAGE_SIZE - 1 },
	[SB_F_SHORT_PATH] =	{ SB_FK_STR, SB_SHORT_PATH_SIZE - 1 },
	[SB_F_UID] =		{ SB_FK_U32, 0 },
	[SB_F_PID] =		{ SB_FK_U32, 0 },
	[SB_F_CTIME] =		{ SB_FK_U64, 0 },
	[SB_F_KIND] =		{ SB_FK_U32, 0 },
	[SB_F_HOLDERS] =	{ SB_FK_U32, 0 },
	[SB_F_VERSION_MIN] =	{ SB_FK_U32, 0 },
	[SB_F_VERSION_MAX] =	{ SB_FK_U32, 0 },
	[SB_F_ENTRIES] =	{ SB_FK_U32, 0 },
	[SB_F_CLIENTS] =	{ SB_FK_U32, 0 },
	[SB_F_UPTIME] =		{ SB_FK_U64, 0 },
	[SB_F_LIMIT] =		{ SB_FK_U64, 0 },
	[SB_F_HAS_FD] =		{ SB_FK_U32, 0 },
	[SB_F_PROOF] =		{ SB_FK_U32, 0 },
	[SB_F_LISTENING] =	{ SB_FK_U32, 0 },
	[SB_F_BROKER_VERSION] =	{ SB_FK_STR, SB_VERSION_SIZE - 1 },
	[SB_F_ROOT] =		{ SB_FK_STR, SB_ROOT_MAX },
	[SB_F_MAX_CLIENTS] =	{ SB_FK_U32, 0 },
	[SB_F_MAX_CLIENTS_PER_UID] = { SB_FK_U32, 0 },
	[SB_F_MAX_ENTRIES] =	{ SB_FK_U32, 0 },
	[SB_F_MAX_ENTRIES_PER_UID] = { SB_FK_U32, 0 },
	[SB_F_CLIENT_TIMEOUT_MS] = { SB_FK_U32, 0 },
};

struct type_desc {
	uint16_t	 type;
	const char	*name;
	uint64_t	 required;
	uint64_t	 allowed;	/* includes required */
};

#define STATUS_FIELDS (BIT(SB_F_VERSION_MIN) | BIT(SB_F_VERSION_MAX) | \
	BIT(SB_F_ENTRIES) | BIT(SB_F_CLIENTS) | BIT(SB_F_UPTIME) | BIT(SB_F_PID) | \
	BIT(SB_F_BROKER_VERSION) | BIT(SB_F_ROOT) | \
	BIT(SB_F_MAX_CLIENTS) | BIT(SB_F_MAX_CLIENTS_PER_UID) | BIT(SB_F_MAX_ENTRIES) | \
	BIT(SB_F_MAX_ENTRIES_PER_UID) | BIT(SB_F_CLIENT_TIMEOUT_MS))
#define ENTRY_FIELDS (BIT(SB_F_KEY) | BIT(SB_F_KIND) | BIT(SB_F_UID) | \
	BIT(SB_F_PID) | BIT(SB_F_GID) | BIT(SB_F_MODE) | BIT(SB_F_LIFETIME) | \
	BIT(SB_F_CTIME) | BIT(SB_F_HOLDERS) | BIT(SB_F_LISTENING))

static const struct type_desc types[] = {
	{ SB_MSG_HELLO, "hello", 0,
	    BIT(SB_F_VERSION_MIN) | BIT(SB_F_VERSION_MAX) },
	{ SB_MSG_BIND, "bind", BIT(SB_F_KEY),
	    BIT(SB_F_KEY) | BIT(SB_F_SOCKTYPE) | BIT(SB_F_FLAGS) | BIT(SB_F_MODE) |
	    BIT(SB_F_GID) | BIT(SB_F_LIFETIME) | BIT(SB_F_HAS_FD) | BIT(SB_F_PROOF) },
	{ SB_MSG_GET, "get", BIT(SB_F_KEY), BIT(SB_F_KEY) },
	{ SB_MSG_PUT, "put", BIT(SB_F_KEY) | BIT(SB_F_HAS_FD),
	    BIT(SB_F_KEY) | BIT(SB_F_HAS_FD) | BIT(SB_F_MODE) | BIT(SB_F_GID) },
	{ SB_MSG_RESOLVE, "resolve", BIT(SB_F_KEY), BIT(SB_F_KEY) },
	{ SB_MSG_WAIT, "wait", BIT(SB_F_KEY), BIT(SB_F_KEY) | BIT(SB_F_TIMEOUT_MS) },
	{ SB_MSG_RELEASE, "release", BIT(SB_F_KEY), BIT(SB_F_KEY) | BIT(SB_F_FLAGS) },
	{ SB_MSG_LIST, "list", 0, 0 },
	{ SB_MSG_STATUS, "status", 0, BIT(SB_F_FLAGS) },
	{ SB_MSG_OK, "ok", 0,
	    STATUS_FIELDS | BIT(SB_F_SHORT_PATH) | BIT(SB_F_KIND) | BIT(SB_F_HAS_FD) |
	    BIT(SB_F_LIFETIME) },
	{ SB_MSG_ERROR, "error", BIT(SB_F_ERRNO),
	    BIT(SB_F_ERRNO) | BIT(SB_F_MESSAGE) | BIT(SB_F_LIMIT) },
	{ SB_MSG_ENTRY, "entry", ENTRY_FIELDS,
	    ENTRY_FIELDS | BIT(SB_F_SOCKTYPE) | BIT(SB_F_SHORT_PATH) },
	{ SB_MSG_END, "end", 0, 0 },
	{ SB_MSG_REEXEC, "reexec", 0, 0 },
};

static const struct type_desc *
type_lookup(uint16_t type)
{
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].type == type)
			return &types[i];
	return NULL;
}

const char *
sb_msg_type_name(uint16_t type)
{
	const struct type_desc *t = type_lookup(type);

	return t ? t->name : "unknown";
}

int
sb_msg_is_request(uint16_t type)
{
	return type == SB_MSG_HELLO || type == SB_MSG_REEXEC ||
	    (type >= SB_MSG_BIND && type <= SB_MSG_STATUS);
}

void
sb_msg_init(struct sb_msg *m, uint16_t type, uint32_t id)
{
	memset(m, 0, sizeof(*m));
	m->version = SB_PROTO_VERSION;
	m->type = type;
	m->id = id;
	m->fd = -1;
	m->fd2 = -1;
}

void
sb_msg_set_u32(struct sb_msg *m, enum sb_field f, uint32_t v)
{
	m->num[f] = v;
	m->present |= BIT(f);
}

void
sb_msg_set_u64(struct sb_msg *m, enum sb_field f, uint64_t v)
{
	m->num[f] = v;
	m->present |= BIT(f);
}

/* Strings longer than their field allows are caught by sb_msg_encode(). */
void
sb_msg_set_str(struct sb_msg *m, enum sb_field f, const char *s)
{
	size_t n = strlen(s);

	m->str[f] = s;
	m->len[f] = n > UINT16_MAX ? UINT16_MAX : (uint16_t)n;
	m->present |= BIT(f);
}

static void
put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void
put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static uint16_t
get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t
get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

ssize_t
sb_msg_encode(const struct sb_msg *m, uint8_t *buf, size_t cap)
{
	const struct type_desc *t = type_lookup(m->type);
	size_t off = SB_HDR_SIZE, vlen;
	uint64_t bits;
	unsigned f;

	if (t == NULL || (m->present & ~t->allowed) != 0 ||
	    (m->present & t->required) != t->required || (m->present & 1u) != 0)
		return -EINVAL;
	if (cap > SB_MSG_MAX)
		cap = SB_MSG_MAX;
	if (cap < SB_HDR_SIZE)
		return -EMSGSIZE;
	/* the fields present, in order (a reply has 3 or 4 of the 30-odd) */
	for (bits = m->present; bits != 0; bits &= bits - 1) {
		f = (unsigned)__builtin_ctzll(bits);
		if (f >= SB_F__MAX)
			return -EINVAL;
		switch (fields[f].kind) {
		case SB_FK_U32:
			if (m->num[f] > UINT32_MAX)
				return -EINVAL;
			vlen = 4;
			break;
		case SB_FK_U64:
			vlen = 8;
			break;
		default:
			if (m->str[f] == NULL || m->len[f] > fields[f].max ||
			    memchr(m->str[f], '\0', m->len[f]) != NULL)
				return -EINVAL;
			vlen = (size_t)m->len[f] + 1;
			break;
		}
		if (cap - off < SB_TLV_HDR_SIZE + vlen)
			return -EMSGSIZE;
		put16(buf + off, (uint16_t)f);
		put16(buf + off + 2, (uint16_t)vlen);
		off += SB_TLV_HDR_SIZE;
		if (fields[f].kind == SB_FK_U32)
			put32(buf + off, (uint32_t)m->num[f]);
		else if (fields[f].kind == SB_FK_U64)
			memcpy(buf + off, &m->num[f], 8);
		else {
			memcpy(buf + off, m->str[f], vlen - 1);
			buf[off + vlen - 1] = '\0';
		}
		off += vlen;
	}
	put32(buf, SB_PROTO_MAGIC);
	put16(buf + 4, m->version);
	put16(buf + 6, m->type);
	put32(buf + 8, (uint32_t)off);
	put32(buf + 12, m->id);
	return (ssize_t)off;
}

static int
decode_field(struct sb_msg *m, uint16_t f, const uint8_t *v, uint16_t vlen)
{
	uint32_t u32;

	if (f == 0 || f >= SB_F__MAX || SB_HAS(m, f))
		return -EPROTO;
	switch (fields[f].kind) {
	case SB_FK_U32:
		if (vlen != 4)
			return -EPROTO;
		u32 = get32(v);
		m->num[f] = u32;
		break;
	case SB_FK_U64:
		if (vlen != 8)
			return -EPROTO;
		memcpy(&m->num[f], v, 8);
		break;
	default:
		/* exactly one NUL, at the end */
		if (vlen == 0 || vlen - 1 > fields[f].max || v[vlen - 1] != '\0' ||
		    memchr(v, '\0', vlen - 1) != NULL)
			return -EPROTO;
		m->str[f] = (const char *)v;
		m->len[f] = vlen - 1;
		break;
	}
	m->present |= BIT(f);
	return 0;
}

int
sb_msg_decode(struct sb_msg *m, const uint8_t *buf, size_t len)
{
	const struct type_desc *t;
	uint32_t total;
	size_t off;
	int fd = m->fd, fd2 = m->fd2, r;

	memset(m, 0, sizeof(*m));
	m->fd = fd;
	m->fd2 = fd2;
	if (len > SB_MSG_MAX)
		return -EMSGSIZE;
	if (len < SB_HDR_SIZE || get32(buf) != SB_PROTO_MAGIC)
		return -EBADMSG;
	m->version = get16(buf + 4);
	m->type = get16(buf + 6);
	m->id = get32(buf + 12);
	total = get32(buf + 8);
	if (total != len)
		return -EBADMSG;
	if (m->version != SB_PROTO_VERSION)
		return -EPROTONOSUPPORT;
	if ((t = type_lookup(m->type)) == NULL)
		return -EPROTO;
	for (off = SB_HDR_SIZE; off < len; ) {
		uint16_t f, vlen;

		if (len - off < SB_TLV_HDR_SIZE)
			return -EBADMSG;
		f = get16(buf + off);
		vlen = get16(buf + off + 2);
		off += SB_TLV_HDR_SIZE;
		if (len - off < vlen)
			return -EBADMSG;
		if ((r = decode_field(m, f, buf + off, vlen)) < 0)
			return r;
		off += vlen;
	}
	if ((m->present & ~t->allowed) != 0 ||
	    (m->present & t->required) != t->required)
		return -EPROTO;
	return 0;
}
