/* SPDX-License-Identifier: ISC */
/*
 * check_codec.c: the wire codec, both ways, and every malformed input.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check-common.h"
#include "sb-internal.h"
#include "sb-proto.h"

static uint8_t buf[SB_MSG_MAX + 64];

static size_t
encode_bind(const char *key)
{
	struct sb_msg m;
	ssize_t n;

	sb_msg_init(&m, SB_MSG_BIND, 42);
	sb_msg_set_str(&m, SB_F_KEY, key);
	sb_msg_set_u32(&m, SB_F_SOCKTYPE, SOCK_STREAM);
	sb_msg_set_u32(&m, SB_F_FLAGS, SB_BIND_LISTEN);
	sb_msg_set_u32(&m, SB_F_MODE, 0660);
	n = sb_msg_encode(&m, buf, sizeof(buf));
	ck_assert_int_gt(n, SB_HDR_SIZE);
	return (size_t)n;
}

static void
put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void
put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

START_TEST(roundtrip_bind)
{
	struct sb_msg d;
	size_t n = encode_bind("tpm-vm1");

	d.fd = -1;
	ck_assert_int_eq(sb_msg_decode(&d, buf, n), 0);
	ck_assert_uint_eq(d.type, SB_MSG_BIND);
	ck_assert_uint_eq(d.id, 42);
	ck_assert_uint_eq(d.version, SB_PROTO_VERSION);
	ck_assert_str_eq(d.str[SB_F_KEY], "tpm-vm1");
	ck_assert_uint_eq(d.len[SB_F_KEY], 7);
	ck_assert_uint_eq(d.num[SB_F_SOCKTYPE], SOCK_STREAM);
	ck_assert_uint_eq(d.num[SB_F_FLAGS], SB_BIND_LISTEN);
	ck_assert_uint_eq(d.num[SB_F_MODE], 0660);
	ck_assert(!SB_HAS(&d, SB_F_GID));
	ck_assert_int_eq(d.fd, -1);
}
END_TEST

START_TEST(roundtrip_every_type)
{
	static const uint16_t types[] = {
		SB_MSG_HELLO, SB_MSG_LIST, SB_MSG_STATUS, SB_MSG_END, SB_MSG_REEXEC,
	};
	struct sb_msg m, d;
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		ssize_t n;

		sb_msg_init(&m, types[i], (uint32_t)i);
		n = sb_msg_encode(&m, buf, sizeof(buf));
		ck_assert_int_eq(n, SB_HDR_SIZE);
		ck_assert_int_eq(sb_msg_decode(&d, buf, (size_t)n), 0);
		ck_assert_uint_eq(d.type, types[i]);
	}
	/* an error reply with every field, a u64 among them */
	sb_msg_init(&m, SB_MSG_ERROR, 7);
	sb_msg_set_u32(&m, SB_F_ERRNO, EDQUOT);
	sb_msg_set_str(&m, SB_F_MESSAGE, "uid 1000 has 1024 entries");
	sb_msg_set_u64(&m, SB_F_LIMIT, 1ull << 40);
	ck_assert_int_gt(sb_msg_encode(&m, buf, sizeof(buf)), 0);
	ck_assert_int_eq(sb_msg_decode(&d, buf, (size_t)sb_msg_encode(&m, buf, sizeof(buf))), 0);
	ck_assert_uint_eq(d.num[SB_F_ERRNO], EDQUOT);
	ck_assert_uint_eq(d.num[SB_F_LIMIT], 1ull << 40);
	ck_assert_str_eq(d.str[SB_F_MESSAGE], "uid 1000 has 1024 entries");
}
END_TEST

START_TEST(roundtrip_longest_key)
{
	char *key = malloc(SB_PATH_KEY_MAX + 1);
	struct sb_msg d;
	size_t n;

	memset(key, 'a', SB_PATH_KEY_MAX);
	key[0] = '/';
	key[SB_PATH_KEY_MAX] = '\0';
	n = encode_bind(key);
	ck_assert_int_eq(sb_msg_decode(&d, buf, n), 0);
	ck_assert_uint_eq(d.len[SB_F_KEY], SB_PATH_KEY_MAX);
	ck_assert_int_eq(memcmp(d.str[SB_F_KEY], key, SB_PATH_KEY_MAX), 0);
	free(key);
}
END_TEST

/* STATUS FLAGS=DETAILS and its reply; the details belong to replies only. */
START_TEST(roundtrip_status_details)
{
	char root[SB_ROOT_MAX + 2];
	struct sb_msg m, d;
	ssize_t n;

	sb_msg_init(&m, SB_MSG_STATUS, 3);
	sb_msg_set_u32(&m, SB_F_FLAGS, SB_STATUS_DETAILS);
	ck_assert_int_gt(n = sb_msg_encode(&m, buf, sizeof(buf)), 0);
	d.fd = -1;
	ck_assert_int_eq(sb_msg_decode(&d, buf, (size_t)n), 0);
	ck_assert_uint_eq(d.num[SB_F_FLAGS], SB_STATUS_DETAILS);

	sb_msg_init(&m, SB_MSG_OK, 3);
	sb_msg_set_u32(&m, SB_F_ENTRIES, 1);
	sb_msg_set_str(&m, SB_F_BROKER_VERSION, "0.1.0");
	sb_msg_set_str(&m, SB_F_ROOT, "/run/sockbroker");
	sb_msg_set_u32(&m, SB_F_MAX_CLIENTS, 4096);
	sb_msg_set_u32(&m, SB_F_CLIENT_TIMEOUT_MS, 300000);
	ck_assert_int_gt(n = sb_msg_encode(&m, buf, sizeof(buf)), 0);
	ck_assert_int_eq(sb_msg_decode(&d, buf, (size_t)n), 0);
	ck_assert_str_eq(d.str[SB_F_BROKER_VERSION], "0.1.0");
	ck_assert_str_eq(d.str[SB_F_ROOT], "/run/sockbroker");
	ck_assert_uint_eq(d.num[SB_F_MAX_CLIENTS], 4096);
	ck_assert_uint_eq(d.num[SB_F_CLIENT_TIMEOUT_MS], 300000);
	ck_assert(SB_HAS(&d, SB_F_CLIENT_TIMEOUT_MS) && !SB_HAS(&d, SB_F_MAX_ENTRIES));

	/* a root over SB_ROOT_MAX, a version string over its buffer */
	memset(root, 'r', sizeof(root) - 1);
	root[sizeof(root) - 1] = '\0';
	sb_msg_init(&m, SB_MSG_OK, 3);
	sb_msg_set_str(&m, SB_F_ROOT, root);
	ck_assert_int_eq(sb_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	sb_msg_init(&m, SB_MSG_OK, 3);
	sb_msg_set_str(&m, SB_F_BROKER_VERSION, "0123456789012345678901234567890123");
	ck_assert_int_eq(sb_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	/* a request carrying a reply's field */
	sb_msg_init(&m, SB_MSG_STATUS, 3);
	sb_msg_set_str(&m, SB_F_ROOT, "/x");
	ck_assert_int_eq(sb_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
}
END_TEST

START_TEST(encode_refuses)
{
	char *key = malloc(SB_PATH_KEY_MAX + 2);
	struct sb_msg m;

	/* a key over its limit */
	memset(key, 'a', SB_PATH_KEY_MAX + 1);
	key[SB_PATH_KEY_MAX + 1] = '\0';
	sb_msg_init(&m, SB_MSG_GET, 1);
	sb_msg_set_str(&m, SB_F_KEY, key);
	ck_assert_int_eq(sb_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	free(key);
	/* a required field missing */
	sb_msg_init(&m, SB_MSG_GET, 1);
	ck_assert_int_eq(sb_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	/* a field not allowed for the type */
	sb_msg_init(&m, SB_MSG_GET, 1);
	sb_msg_set_str(&m, SB_F_KEY, "x");
	sb_msg_set_u32(&m, SB_F_MODE, 0600);
	ck_assert_int_eq(sb_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	/* an unknown type */
	sb_msg_init(&m, 0x7777, 1);
	ck_assert_int_eq(sb_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	/* a buffer too small */
	sb_msg_init(&m, SB_MSG_GET, 1);
	sb_msg_set_str(&m, SB_F_KEY, "name");
	ck_assert_int_eq(sb_msg_encode(&m, buf, SB_HDR_SIZE + 4), -EMSGSIZE);
	ck_assert_int_eq(sb_msg_encode(&m, buf, 3), -EMSGSIZE);
}
END_TEST

START_TEST(decode_every_truncation)
{
	struct sb_msg d;
	size_t n = encode_bind("a-name"), cut;

	/* every prefix is refused; none reads past what it was given */
	for (cut = 0; cut < n; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		int r;

		memcpy(copy, buf, cut);
		r = sb_msg_decode(&d, copy, cut);
		ck_assert_msg(r == -EBADMSG, "prefix of %zu bytes: %d", cut, r);
		/* with the length fixed up to the prefix, fields are truncated */
		if (cut >= SB_HDR_SIZE) {
			put32(copy + 8, (uint32_t)cut);
			r = sb_msg_decode(&d, copy, cut);
			/* only whole fields, KEY (the first: 16 + 4 + 7) among them, decode */
			if (cut >= 27 && (cut - 27) % 8 == 0)
				ck_assert_msg(r == 0, "fields prefix of %zu bytes: %d", cut, r);
			else
				ck_assert_msg(r == -EBADMSG || r == -EPROTO,
				    "fixed prefix of %zu bytes: %d", cut, r);
		}
		free(copy);
	}
}
END_TEST

START_TEST(decode_bad_header)
{
	struct sb_msg d;
	size_t n = encode_bind("a");

	buf[0] ^= 0xff;
	ck_assert_int_eq(sb_msg_decode(&d, buf, n), -EBADMSG);
	buf[0] ^= 0xff;
	/* length says more or less than received */
	put32(buf + 8, (uint32_t)n + 1);
	ck_assert_int_eq(sb_msg_decode(&d, buf, n), -EBADMSG);
	put32(buf + 8, (uint32_t)n - 1);
	ck_assert_int_eq(sb_msg_decode(&d, buf, n), -EBADMSG);
	put32(buf + 8, (uint32_t)n);
	/* another version: refused, but id and version are known for the reply */
	put16(buf + 4, SB_PROTO_VERSION + 1);
	ck_assert_int_eq(sb_msg_decode(&d, buf, n), -EPROTONOSUPPORT);
	ck_assert_uint_eq(d.version, SB_PROTO_VERSION + 1);
	ck_assert_uint_eq(d.id, 42);
	put16(buf + 4, SB_PROTO_VERSION);
	/* unknown type */
	put16(buf + 6, 0x0999);
	ck_assert_int_eq(sb_msg_decode(&d, buf, n), -EPROTO);
	/* oversized */
	ck_assert_int_eq(sb_msg_decode(&d, buf, SB_MSG_MAX + 1), -EMSGSIZE);
}
END_TEST

/* Build a message by hand: header then raw TLVs. */
static size_t
raw(uint16_t type, const uint8_t *tlvs, size_t tlen)
{
	put32(buf, SB_PROTO_MAGIC);
	put16(buf + 4, SB_PROTO_VERSION);
	put16(buf + 6, type);
	put32(buf + 8, (uint32_t)(SB_HDR_SIZE + tlen));
	put32(buf + 12, 1);
	if (tlen > 0)
		memcpy(buf + SB_HDR_SIZE, tlvs, tlen);
	return SB_HDR_SIZE + tlen;
}

START_TEST(decode_bad_fields)
{
	struct sb_msg d;
	/* KEY "ab" */
	const uint8_t good[] = { SB_F_KEY, 0, 3, 0, 'a', 'b', 0 };
	const uint8_t no_nul[] = { SB_F_KEY, 0, 2, 0, 'a', 'b' };
	const uint8_t inner_nul[] = { SB_F_KEY, 0, 3, 0, 'a', 0, 0 };
	const uint8_t empty_str[] = { SB_F_KEY, 0, 0, 0 };
	const uint8_t dup[] = { SB_F_KEY, 0, 2, 0, 'a', 0, SB_F_KEY, 0, 2, 0, 'b', 0 };
	const uint8_t unknown[] = { SB_F_KEY, 0, 2, 0, 'a', 0, 99, 0, 0, 0 };
	const uint8_t zero_field[] = { SB_F_KEY, 0, 2, 0, 'a', 0, 0, 0, 0, 0 };
	const uint8_t short_u32[] = { SB_F_KEY, 0, 2, 0, 'a', 0, SB_F_MODE, 0, 2, 0, 1, 2 };
	const uint8_t long_u32[] = { SB_F_KEY, 0, 2, 0, 'a', 0, SB_F_MODE, 0, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8 };
	const uint8_t not_allowed[] = { SB_F_KEY, 0, 2, 0, 'a', 0, SB_F_ERRNO, 0, 4, 0, 1, 0, 0, 0 };
	const uint8_t overrun[] = { SB_F_KEY, 0, 0xff, 0x7f, 'a', 0 };
	const uint8_t half_tlv[] = { SB_F_KEY, 0, 2, 0, 'a', 0, SB_F_MODE };

	ck_assert_int_eq(sb_msg_decode(&d, buf, raw(SB_MSG_GET, good, sizeof(good))), 0);
	ck_assert_str_eq(d.str[SB_F_KEY], "ab");
	ck_assert_int_eq(sb_msg_decode(&d, buf, raw(SB_MSG_GET, no_nul, sizeof(no_nul))), -EPROTO);
	ck_assert_int_eq(sb_msg_decode(&d, buf, raw(SB_MSG_GET, inner_nul, sizeof(inner_nul))), -EPROTO);
	ck_assert_int_eq(sb_msg_decode(&d, buf, raw(SB_MSG_GET, empty_str, sizeof(empty_str))), -EPROTO);
	ck_assert_int_eq(sb_msg_decode(&d, buf, raw(SB_MSG_GET, dup, sizeof(dup))), -EPROTO);
	ck_assert_int_eq(sb_msg_decode(&d, buf, raw(SB_MSG_GET, unknown, sizeof(unknown))), -EPROTO);
	ck_assert_int_eq(sb_msg_decode(&d, buf, raw(SB_MSG_GET, zero_field, sizeof(zero_field))), -EPROTO);
	ck_assert_int_eq(sb_msg_decode(&d, buf, raw(SB_MSG_BIND, short_u32, sizeof(short_u32))), -EPROTO);
	ck_assert_int_eq(sb_msg_decode(&d, buf, raw(SB_MSG_BIND, long_u32, sizeof(long_u32))), -EPROTO);
	ck_assert_int_eq(sb_msg_decode(&d, buf, raw(SB_MSG_GET, not_allowed, sizeof(not_allowed))), -EPROTO);
	ck_assert_int_eq(sb_msg_decode(&d, buf, raw(SB_MSG_GET, overrun, sizeof(overrun))), -EBADMSG);
	ck_assert_int_eq(sb_msg_decode(&d, buf, raw(SB_MSG_GET, half_tlv, sizeof(half_tlv))), -EBADMSG);
	/* a required field missing */
	ck_assert_int_eq(sb_msg_decode(&d, buf, raw(SB_MSG_GET, NULL, 0)), -EPROTO);
}
END_TEST

START_TEST(decode_string_limits)
{
	static uint8_t tlv[SB_TLV_HDR_SIZE + SB_SHORT_PATH_SIZE + 1];
	struct sb_msg d;
	size_t vlen;

	/* SHORT_PATH of exactly the limit (107 bytes + NUL) passes; one more fails */
	for (vlen = SB_SHORT_PATH_SIZE; vlen <= SB_SHORT_PATH_SIZE + 1; vlen++) {
		put16(tlv, SB_F_SHORT_PATH);
		put16(tlv + 2, (uint16_t)vlen);
		memset(tlv + 4, 'p', vlen - 1);
		tlv[4 + vlen - 1] = 0;
		ck_assert_int_eq(sb_msg_decode(&d, buf, raw(SB_MSG_OK, tlv, 4 + vlen)),
		    vlen == SB_SHORT_PATH_SIZE ? 0 : -EPROTO);
	}
}
END_TEST

/* Over a real socketpair: fds, extra fds, truncation. */
START_TEST(wire_fd_passing)
{
	struct sb_msg m, d;
	uint8_t rbuf[SB_MSG_MAX];
	int sv[2];
	struct stat a, b;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	sb_msg_init(&m, SB_MSG_PUT, 9);
	sb_msg_set_str(&m, SB_F_KEY, "held");
	sb_msg_set_u32(&m, SB_F_HAS_FD, 1);
	ck_assert_int_eq(sb_msg_send(sv[0], &m, STDIN_FILENO), 0);
	ck_assert_int_eq(sb_msg_recv(sv[1], rbuf, sizeof(rbuf), &d, 0), 0);
	ck_assert_int_ge(d.fd, 0);
	ck_assert_int_eq(fstat(d.fd, &a), 0);
	ck_assert_int_eq(fstat(STDIN_FILENO, &b), 0);
	ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	ck_assert_str_eq(d.str[SB_F_KEY], "held");
	close(d.fd);

	/* end of stream */
	close(sv[0]);
	ck_assert_int_eq(sb_msg_recv(sv[1], rbuf, sizeof(rbuf), &d, 0), -ECONNRESET);
	close(sv[1]);
}
END_TEST

START_TEST(wire_too_many_fds)
{
	uint8_t rbuf[SB_MSG_MAX], mbuf[SB_MSG_MAX];
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(3 * sizeof(int))];
	} c;
	struct sb_msg m, d;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *cm;
	int sv[2], fds[3] = { 0, 1, 2 }, before;
	ssize_t n;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	sb_msg_init(&m, SB_MSG_PUT, 1);
	sb_msg_set_str(&m, SB_F_KEY, "x");
	sb_msg_set_u32(&m, SB_F_HAS_FD, 1);
	n = sb_msg_encode(&m, mbuf, sizeof(mbuf));
	ck_assert_int_gt(n, 0);
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = mbuf;
	iov.iov_len = (size_t)n;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = c.b;
	mh.msg_controllen = sizeof(c.b);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	ck_assert_int_eq(sendmsg(sv[0], &mh, 0), n);
	before = check_count_fds();
	ck_assert_int_eq(sb_msg_recv(sv[1], rbuf, sizeof(rbuf), &d, 0), -EBADMSG);
	ck_assert_int_eq(d.fd, -1);
	/* all three received fds were closed again */
	ck_assert_int_eq(check_count_fds(), before);

	/* an oversized datagram */
	{
		static uint8_t big[SB_MSG_MAX + 100];

		memset(big, 0, sizeof(big));
		ck_assert_int_eq(send(sv[0], big, sizeof(big), 0), (ssize_t)sizeof(big));
		ck_assert_int_eq(sb_msg_recv(sv[1], rbuf, sizeof(rbuf), &d, 0), -EMSGSIZE);
	}
	close(sv[0]);
	close(sv[1]);
}
END_TEST


/* A receiver whose fd table is full is told so, not "malformed message". */
START_TEST(wire_fd_table_full)
{
	uint8_t rbuf[SB_MSG_MAX];
	struct sb_msg m, d;
	struct rlimit rl;
	int sv[2], fd, r;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	sb_msg_init(&m, SB_MSG_OK, 1);
	sb_msg_set_u32(&m, SB_F_HAS_FD, 1);
	ck_assert_int_eq(sb_msg_send(sv[0], &m, STDIN_FILENO), 0);
	/* fill the table up to a low limit (this test runs in its own process) */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = 64;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	while ((fd = dup(0)) >= 0)
		;
	r = sb_msg_recv(sv[1], rbuf, sizeof(rbuf), &d, 0);
	/* room again: LeakSanitizer opens /proc at exit */
	for (fd = 3; fd < (int)rl.rlim_cur; fd++)
		close(fd);
	ck_assert_int_eq(r, -EMFILE);
	ck_assert_int_eq(d.fd, -1);
}
END_TEST

static Suite *
codec_suite(void)
{
	Suite *s = suite_create("codec");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, roundtrip_bind);
	tcase_add_test(tc, roundtrip_every_type);
	tcase_add_test(tc, roundtrip_longest_key);
	tcase_add_test(tc, roundtrip_status_details);
	tcase_add_test(tc, encode_refuses);
	tcase_add_test(tc, decode_every_truncation);
	tcase_add_test(tc, decode_bad_header);
	tcase_add_test(tc, decode_bad_fields);
	tcase_add_test(tc, decode_string_limits);
	tcase_add_test(tc, wire_fd_passing);
	tcase_add_test(tc, wire_too_many_fds);
	tcase_add_test(tc, wire_fd_table_full);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(codec_suite(), CK_FORK_GETENV);
}
