/* SPDX-License-Identifier: ISC */
/*
 * proto-dump: the protocol numbers as the C code has them, one per line,
 * for unit-sbproto.py to compare with tests/sbproto.py:
 *
 *   type NAME VALUE	every message type of codec.c's table
 *   field NAME NUM KIND	every field (KIND: 1 u32, 2 u64, 3 str)
 *   const NAME VALUE	the other numbers sbproto.py copies
 *
 * It includes codec.c itself to read the field kinds from the table the
 * codec uses, rather than from a second copy.
 */
#include "codec.c"

#include <stdio.h>

struct named {
	const char	*name;
	unsigned long	 value;
};

#define N(x)	{ #x, (unsigned long)(x) }

static const struct named field_names[] = {
	N(SB_F_KEY), N(SB_F_SOCKTYPE), N(SB_F_FLAGS), N(SB_F_MODE), N(SB_F_GID),
	N(SB_F_LIFETIME), N(SB_F_TIMEOUT_MS), N(SB_F_ERRNO), N(SB_F_MESSAGE),
	N(SB_F_SHORT_PATH), N(SB_F_UID), N(SB_F_PID), N(SB_F_CTIME), N(SB_F_KIND),
	N(SB_F_HOLDERS), N(SB_F_VERSION_MIN), N(SB_F_VERSION_MAX), N(SB_F_ENTRIES),
	N(SB_F_CLIENTS), N(SB_F_UPTIME), N(SB_F_LIMIT), N(SB_F_HAS_FD), N(SB_F_PROOF),
	N(SB_F_LISTENING), N(SB_F_BROKER_VERSION), N(SB_F_ROOT), N(SB_F_MAX_CLIENTS),
	N(SB_F_MAX_CLIENTS_PER_UID), N(SB_F_MAX_ENTRIES), N(SB_F_MAX_ENTRIES_PER_UID),
	N(SB_F_CLIENT_TIMEOUT_MS),
};

static const struct named consts[] = {
	N(SB_PROTO_MAGIC), N(SB_PROTO_VERSION), N(SB_HDR_SIZE), N(SB_MSG_MAX),
	N(SB_BIND_LISTEN), N(SB_BIND_PREPARE), N(SB_BIND_BOUND), N(SB_BIND_ADOPT),
	N(SB_BIND_SAY_LIFETIME), N(SB_STATUS_DETAILS),
	N(SB_LT_HOLD), N(SB_LT_OWNER), N(SB_KIND_SOCKET), N(SB_KIND_FD),
	N(SB_FK_U32), N(SB_FK_U64), N(SB_FK_STR),
};

#define COUNT(a)	(sizeof(a) / sizeof((a)[0]))

int
main(void)
{
	unsigned seen[SB_F__MAX] = { 0 };
	size_t i;
	unsigned f;

	for (i = 0; i < COUNT(types); i++)
		printf("type %s %u\n", types[i].name, (unsigned)types[i].type);
	for (i = 0; i < COUNT(field_names); i++) {
		f = (unsigned)field_names[i].value;
		if (f == 0 || f >= SB_F__MAX || seen[f]++) {
			fprintf(stderr, "proto-dump: %s: no field or named twice\n",
			    field_names[i].name);
			return 1;
		}
		printf("field %s %u %d\n", field_names[i].name, f, (int)fields[f].kind);
	}
	for (f = 1; f < SB_F__MAX; f++)
		if (!seen[f]) {
			fprintf(stderr, "proto-dump: field %u has no name here: add it\n", f);
			return 1;
		}
	for (i = 0; i < COUNT(consts); i++)
		printf("const %s %lu\n", consts[i].name, consts[i].value);
	return 0;
}
