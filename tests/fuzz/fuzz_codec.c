/* SPDX-License-Identifier: ISC */
/*
 * fuzz_codec.c: libFuzzer target for the wire codec. Whatever the bytes,
 * decoding never reads outside them, and a message that decodes encodes
 * again and decodes to the same type, id and fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sb-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[SB_MSG_MAX];
	struct sb_msg m, m2;
	uint8_t *copy;
	ssize_t n;
	int f;

	/* an exact-size heap copy, so that ASan sees any overread */
	copy = malloc(size ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	m.fd = -1;
	if (sb_msg_decode(&m, copy, size) == 0) {
		n = sb_msg_encode(&m, out, sizeof(out));
		if (n < 0)
			abort();	/* what decodes must encode */
		m2.fd = -1;
		if (sb_msg_decode(&m2, out, (size_t)n) != 0)
			abort();
		if (m2.type != m.type || m2.id != m.id || m2.present != m.present)
			abort();
		for (f = 1; f < SB_F__MAX; f++) {
			if (!SB_HAS(&m, f))
				continue;
			if (m.str[f] != NULL &&
			    (m2.len[f] != m.len[f] || memcmp(m2.str[f], m.str[f], m.len[f]) != 0))
				abort();
			if (m.str[f] == NULL && m2.num[f] != m.num[f])
				abort();
		}
	}
	free(copy);
	return 0;
}
