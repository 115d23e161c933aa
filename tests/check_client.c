/* SPDX-License-Identifier: ISC */
/*
 * check_client.c: libsockbroker without a daemon. Key helpers through the
 * public API, NULL safety, and the client against a scripted fake broker
 * (a thread on ROOT/control) for replies a real broker should never send.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "check-common.h"
#include "sb-internal.h"
#include "sb-proto.h"
#include "sockbroker.h"

/* Key helpers */

START_TEST(short_path_pure)
{
	char a[SB_SHORT_PATH_SIZE], b[SB_SHORT_PATH_SIZE], small[20];

	ck_assert_int_eq(sb_short_path("/run/sb", "tpm-vm1", a, sizeof(a)), 0);
	ck_assert_int_eq(sb_short_path("/run/sb/", "tpm-vm1", b, sizeof(b)), 0);
	ck_assert_str_eq(a, b);
	ck_assert(strncmp(a, "/run/sb/", 8) == 0);
	ck_assert_int_eq((int)strlen(a), 8 + 2 + 1 + 16 + 1 + 4);
	ck_assert_int_eq(sb_short_path("/run/sb", "tpm-vm2", b, sizeof(b)), 0);
	ck_assert_str_ne(a, b);
	ck_assert_int_eq(sb_short_path("/run/sb", "tpm-vm1", small, sizeof(small)), -ENOBUFS);
	ck_assert_int_eq(sb_short_path("/run/sb", "bad key", a, sizeof(a)), -EINVAL);
	ck_assert_int_eq(sb_short_path("run/sb", "k", a, sizeof(a)), -EINVAL);
	/* a root leaving no room for the short path */
	memset(b, 'r', sizeof(b) - 1);
	b[0] = '/';
	b[sizeof(b) - 1] = '\0';
	ck_assert_int_eq(sb_short_path(b, "k", a, sizeof(a)), -ENAMETOOLONG);
}
END_TEST

START_TEST(short_path_default_root)
{
	char a[SB_SHORT_PATH_SIZE], root[SB_SHORT_PATH_SIZE];

	setenv("SOCKBROKER_ROOT", "/tmp/sb-default", 1);
	ck_assert_int_eq(sb_default_root(root, sizeof(root)), 0);
	ck_assert_str_eq(root, "/tmp/sb-default");
	ck_assert_int_eq(sb_short_path(NULL, "name", a, sizeof(a)), 0);
	ck_assert(strncmp(a, "/tmp/sb-default/", 16) == 0);
	unsetenv("SOCKBROKER_ROOT");
}
END_TEST

START_TEST(key_from_path)
{
	char buf[PATH_MAX], cwd[PATH_MAX], want[PATH_MAX * 2];
	char *big;

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(sb_key_from_path("x.sock", buf, sizeof(buf)), 0);
	snprintf(want, sizeof(want), "%s/x.sock", strcmp(cwd, "/") ? cwd : "");
	ck_assert_str_eq(buf, want);
	ck_assert_int_eq(sb_key_from_path("/tmp//./a.sock", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/tmp/a.sock");
	ck_assert_int_eq(sb_key_is_path(buf), 1);
	ck_assert_int_eq(sb_key_is_path("name"), 0);
	ck_assert_int_eq(sb_key_from_path("/no/such/dir/../x", buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(sb_key_from_path("", buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(sb_key_from_path("/tmp/a.sock", buf, 5), -ENAMETOOLONG);
	big = malloc(SB_PATH_LEN_MAX + 10);
	ck_assert_ptr_nonnull(big);
	memset(big, 'a', SB_PATH_LEN_MAX + 9);
	big[0] = '/';
	big[SB_PATH_LEN_MAX + 9] = '\0';
	ck_assert_int_eq(sb_key_from_path(big, buf, sizeof(buf)), -ENAMETOOLONG);
	ck_assert_int_eq(sb_key_check(big), -ENAMETOOLONG);
	free(big);
	ck_assert_int_eq(sb_key_check("ok.name:1@x+y-z_"), 0);
	ck_assert_int_eq(sb_key_check("no/slash-in-middle"), -EINVAL);
	ck_assert_int_eq(sb_key_check("/a/../b"), -EINVAL);
	ck_assert_int_eq(sb_key_check(NULL), -EINVAL);
}
END_TEST

START_TEST(strerror_texts)
{
	ck_assert_str_eq(sb_strerror(0), "success");
	ck_assert_str_eq(sb_strerror(-EPROTONOSUPPORT), sb_strerror(EPROTONOSUPPORT));
	ck_assert(strstr(sb_strerror(-EPROTONOSUPPORT), "version") != NULL);
	ck_assert(strstr(sb_strerror(-ENAMETOOLONG), "too long") != NULL);
	ck_assert_str_eq(sb_strerror(-ENOENT), strerror(ENOENT));
	ck_assert_ptr_nonnull(sb_strerror(-99999));
}
END_TEST

START_TEST(null_safety)
{
	char buf[SB_SHORT_PATH_SIZE] = "untouched";
	struct sb_status st;
	int fd = 42;

	sb_client_close(NULL);
	ck_assert_str_eq(sb_client_message(NULL), "");
	ck_assert_uint_eq(sb_client_limit(NULL), 0);
	ck_assert_int_eq(sb_client_open("/tmp", NULL), -EINVAL);
	ck_assert_int_eq(sb_bind(NULL, "k", NULL, &fd, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(sb_get(NULL, "k", &fd), -EINVAL);
	ck_assert_int_eq(sb_put(NULL, "k", 0, 0, (gid_t)-1), -EINVAL);
	ck_assert_int_eq(sb_resolve(NULL, "k", buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(sb_wait(NULL, "k", 0, buf, sizeof(buf)), -EINVAL);
	ck_assert_int_eq(sb_release(NULL, "k"), -EINVAL);
	ck_assert_int_eq(sb_list(NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(sb_status(NULL, &st), -EINVAL);
	ck_assert_int_eq(sb_reexec(NULL), -EINVAL);
	ck_assert_int_eq(fd, 42);
	ck_assert_str_eq(buf, "untouched");
}
END_TEST

START_TEST(open_missing_root)
{
	sb_client *c = (sb_client *)0x1;

	ck_assert_int_eq(sb_client_open("/nonexistent/sockbroker-root", &c), -ENOENT);
	ck_assert_ptr_eq(c, (sb_client *)0x1);
	ck_assert_int_eq(sb_client_open("relative/root", &c), -EINVAL);
	ck_assert_ptr_eq(c, (sb_client *)0x1);
}
END_TEST

/* Does a broker answer on ROOT/control? Asked without ever waiting. */
START_TEST(control_answers)
{
	char root[] = "/tmp/check_client.XXXXXX", path[128], lng[200];
	struct sockaddr_un sun;
	socklen_t len;
	int lfd, fds[64], n = 0, fd;

	ck_assert_ptr_nonnull(mkdtemp(root));
	ck_assert_int_eq(sb_control_answers(root), 0);
	ck_assert_int_eq(sb_control_answers("relative/root"), 0);
	memset(lng, 'r', sizeof(lng) - 1);
	lng[0] = '/';
	lng[sizeof(lng) - 1] = '\0';
	ck_assert_int_eq(sb_control_addr(lng, &sun, &len), -ENAMETOOLONG);
	ck_assert_int_eq(sb_control_answers(lng), 0);
	/* a file that is no socket answers nothing */
	snprintf(path, sizeof(path), "%s/" SB_CONTROL_NAME, root);
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600), 0);
	close(fd);
	ck_assert_int_eq(sb_control_answers(root), 0);
	ck_assert_int_eq(unlink(path), 0);

	ck_assert_int_eq(sb_control_addr(root, &sun, &len), 0);
	ck_assert_str_eq(sun.sun_path, path);
	ck_assert_int_ge(lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sun, len), 0);
	ck_assert_int_eq(listen(lfd, 0), 0);
	ck_assert_int_eq(sb_control_answers(root), 1);
	/* a full backlog is a busy broker: it answers, and the question does not wait */
	for (n = 0; n < 64; n++) {
		fds[n] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		ck_assert_int_ge(fds[n], 0);
		if (connect(fds[n], (struct sockaddr *)&sun, len) < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			break;
		}
	}
	ck_assert_int_lt(n, 64);
	ck_assert_int_eq(sb_control_answers(root), 1);
	for (; n >= 0; n--)
		close(fds[n]);
	close(lfd);
	unlink(path);
	rmdir(root);
}
END_TEST

/*
 * The fake broker: a thread that accepts connections on ROOT/control and
 * answers each request with script(), which sends whatever it likes.
 */
struct fake {
	char		 root[64];
	int		 lfd;
	pthread_t	 thread;
	int		 (*script)(struct fake *, int sock, struct sb_msg *req);
	int		 conns;		/* connections accepted */
	int		 last_proof_ok;	/* bind: the proof fd was a link to the short path */
	uint32_t	 last_timeout;
	int		 nreq;
	volatile int	 closed;	/* connections closed by the fake */
	int		 status_details; /* knows SB_STATUS_DETAILS */
};

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	uint8_t buf[SB_MSG_MAX];
	struct sb_msg m;
	int s;

	while ((s = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		f->conns++;
		for (;;) {
			int r = sb_msg_recv(s, buf, sizeof(buf), &m, 0);

			if (r < 0) {
				if (m.fd >= 0)
					close(m.fd);
				break;
			}
			f->nreq++;
			r = f->script(f, s, &m);
			if (m.fd >= 0)
				close(m.fd);
			if (r < 0)
				break;
		}
		close(s);
		__atomic_add_fetch(&f->closed, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

static void
fake_start(struct fake *f, int (*script)(struct fake *, int, struct sb_msg *))
{
	struct sockaddr_un sun;

	memset(f, 0, sizeof(*f));
	snprintf(f->root, sizeof(f->root), "/tmp/sbcc.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->root));
	f->script = script;
	f->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(f->lfd, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/control", f->root);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(f->lfd, 8), 0);
	ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void
fake_stop(struct fake *f)
{
	char path[128];

	shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->thread, NULL);
	close(f->lfd);
	snprintf(path, sizeof(path), "%s/control", f->root);
	unlink(path);
	rmdir(f->root);
}

static int
reply(int sock, struct sb_msg *m, int fd)
{
	return sb_msg_send(sock, m, fd);
}

static int
reply_error(int sock, uint32_t id, int e, const char *msg, uint64_t limit)
{
	struct sb_msg m;

	sb_msg_init(&m, SB_MSG_ERROR, id);
	sb_msg_set_u32(&m, SB_F_ERRNO, (uint32_t)e);
	if (msg != NULL)
		sb_msg_set_str(&m, SB_F_MESSAGE, msg);
	if (limit != 0)
		sb_msg_set_u64(&m, SB_F_LIMIT, limit);
	return reply(sock, &m, -1);
}

/* resolve: OK; get: ERROR ENXIO with a message and a limit */
static int
script_basic(struct fake *f, int sock, struct sb_msg *req)
{
	struct sb_msg m;
	int sv[2], r;

	switch (req->type) {
	case SB_MSG_RESOLVE:
		sb_msg_init(&m, SB_MSG_OK, req->id);
		sb_msg_set_str(&m, SB_F_SHORT_PATH, "/r/ab/cdefghijklmnopqr/sock");
		sb_msg_set_u32(&m, SB_F_KIND, SB_KIND_SOCKET);
		return reply(sock, &m, -1);
	case SB_MSG_GET:
		if (strcmp(req->str[SB_F_KEY], "held") == 0) {
			ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
			sb_msg_init(&m, SB_MSG_OK, req->id);
			sb_msg_set_u32(&m, SB_F_KIND, SB_KIND_FD);
			sb_msg_set_u32(&m, SB_F_HAS_FD, 1);
			r = reply(sock, &m, sv[0]);
			close(sv[0]);
			close(sv[1]);
			return r;
		}
		return reply_error(sock, req->id, ENXIO, "no held fd", 4095);
	case SB_MSG_WAIT:
		f->last_timeout = (uint32_t)req->num[SB_F_TIMEOUT_MS];
		return reply_error(sock, req->id, ETIMEDOUT, NULL, 0);
	case SB_MSG_STATUS:
		sb_msg_init(&m, SB_MSG_OK, req->id);
		sb_msg_set_u32(&m, SB_F_VERSION_MIN, 1);
		sb_msg_set_u32(&m, SB_F_VERSION_MAX, 1);
		sb_msg_set_u32(&m, SB_F_ENTRIES, 7);
		sb_msg_set_u32(&m, SB_F_CLIENTS, 2);
		sb_msg_set_u64(&m, SB_F_UPTIME, 99);
		sb_msg_set_u32(&m, SB_F_PID, 1234);
		return reply(sock, &m, -1);
	case SB_MSG_LIST: {
		static const char *keys[] = { "a", "b", "c" };
		size_t i;

		for (i = 0; i < 3; i++) {
			sb_msg_init(&m, SB_MSG_ENTRY, req->id);
			sb_msg_set_str(&m, SB_F_KEY, keys[i]);
			sb_msg_set_u32(&m, SB_F_KIND, SB_KIND_SOCKET);
			sb_msg_set_u32(&m, SB_F_UID, 0);
			sb_msg_set_u32(&m, SB_F_PID, 1);
			sb_msg_set_u32(&m, SB_F_GID, 0);
			sb_msg_set_u32(&m, SB_F_MODE, 0600);
			sb_msg_set_u32(&m, SB_F_LIFETIME, SB_LT_HOLD);
			sb_msg_set_u64(&m, SB_F_CTIME, 1);
			sb_msg_set_u32(&m, SB_F_HOLDERS, 1);
			sb_msg_set_u32(&m, SB_F_LISTENING, 1);
			sb_msg_set_u32(&m, SB_F_SOCKTYPE, SOCK_STREAM);
			sb_msg_set_str(&m, SB_F_SHORT_PATH, "/r/ab/cdefghijklmnopqr/sock");
			if ((r = reply(sock, &m, -1)) < 0)
				return r;
		}
		sb_msg_init(&m, SB_MSG_END, req->id);
		return reply(sock, &m, -1);
	}
	default:
		return reply_error(sock, req->id, EINVAL, "unexpected", 0);
	}
}

static int
stop_after_one(const struct sb_entry_info *e, void *userdata)
{
	int *n = userdata;

	ck_assert_str_eq(e->key, "a");
	ck_assert_int_eq(e->kind, SB_KIND_SOCKET_ENTRY);
	ck_assert_int_eq(e->lifetime, SB_LIFETIME_HOLD);
	ck_assert_int_eq(e->mode, 0600);
	ck_assert_int_eq(e->listening, 1);
	(*n)++;
	return 1;
}

START_TEST(fake_basic)
{
	char sp[SB_SHORT_PATH_SIZE];
	struct sb_status st;
	struct fake f;
	sb_client *c;
	int fd = -7, n = 0;

	fake_start(&f, script_basic);
	ck_assert_int_eq(sb_client_open(f.root, &c), 0);
	ck_assert_int_eq(sb_resolve(c, "k", sp, sizeof(sp)), 0);
	ck_assert_str_eq(sp, "/r/ab/cdefghijklmnopqr/sock");
	ck_assert_str_eq(sb_client_message(c), "");

	ck_assert_int_eq(sb_get(c, "owner-entry", &fd), -ENXIO);
	ck_assert_int_eq(fd, -7);
	ck_assert_str_eq(sb_client_message(c), "no held fd");
	ck_assert_uint_eq(sb_client_limit(c), 4095);

	ck_assert_int_eq(sb_get(c, "held", &fd), 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	close(fd);
	ck_assert_str_eq(sb_client_message(c), "");	/* reset by a new request */
	ck_assert_uint_eq(sb_client_limit(c), 0);

	ck_assert_int_eq(sb_wait(c, "k", -1, sp, sizeof(sp)), -ETIMEDOUT);
	ck_assert_uint_eq(f.last_timeout, SB_WAIT_TIMEOUT_MAX_MS);
	ck_assert_int_eq(sb_wait(c, "k", 250, sp, sizeof(sp)), -ETIMEDOUT);
	ck_assert_uint_eq(f.last_timeout, 250);

	/* a callback that stops early: the rest is drained, the next call works */
	ck_assert_int_eq(sb_list(c, stop_after_one, &n), 3);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(sb_status(c, &st), 0);
	ck_assert_uint_eq(st.entries, 7);
	ck_assert_uint_eq(st.clients, 2);
	ck_assert_uint_eq(st.uptime, 99);
	ck_assert_int_eq(st.pid, 1234);
	ck_assert_uint_eq(st.version, 1);

	ck_assert_int_eq(sb_get(c, "bad key!", &fd), -EINVAL);
	ck_assert_int_eq(sb_put(c, "/a/path", 0, 0, (gid_t)-1), -EINVAL);
	ck_assert_int_eq(f.conns, 1);
	sb_client_close(c);
	fake_stop(&f);
}
END_TEST

/* BIND BOUND: ERROR EPERM (its sender does not wait for it); GET: OK with an fd */
static int
script_async(struct fake *f, int sock, struct sb_msg *req)
{
	struct sb_msg m;
	int sv[2], r;

	if (req->type == SB_MSG_BIND)
		return reply_error(sock, req->id, EPERM, "not yours", 0);
	if (req->type != SB_MSG_GET)
		return reply_error(sock, req->id, EOPNOTSUPP, NULL, 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	sb_msg_init(&m, SB_MSG_OK, req->id);
	sb_msg_set_u32(&m, SB_F_KIND, SB_KIND_FD);
	sb_msg_set_u32(&m, SB_F_HAS_FD, 1);
	r = reply(sock, &m, sv[0]);
	close(sv[0]);
	close(sv[1]);
	return r;
}

/*
 * sb_bound_async() does not wait: the next call reads and drops the
 * replies it left (an ERROR here), then gets its own, on the same
 * connection; more than SB_ASYNC_MAX outstanding makes it wait.
 */
START_TEST(fake_bound_async)
{
	struct fake f;
	sb_client *c;
	int fd = -1, i;

	fake_start(&f, script_async);
	ck_assert_int_eq(sb_client_open(f.root, &c), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(sb_bound_async(c, "k"), 0);
	ck_assert_int_eq(sb_get(c, "held", &fd), 0);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_str_eq(sb_client_message(c), "");
	/* past the cap, one waits for its answer: the EPERM comes back */
	for (i = 0; i < SB_ASYNC_MAX; i++)
		ck_assert_int_eq(sb_bound_async(c, "k"), 0);
	ck_assert_int_eq(sb_bound_async(c, "k"), -EPERM);
	ck_assert_str_eq(sb_client_message(c), "not yours");
	ck_assert_int_eq(sb_get(c, "held", &fd), 0);
	close(fd);
	ck_assert_int_eq(f.nreq, 3 + 1 + SB_ASYNC_MAX + 1 + 1);
	ck_assert_int_eq(f.conns, 1);
	sb_client_close(c);
	fake_stop(&f);
}
END_TEST

/*
 * BIND with ADOPT of a name, as three brokers answer it (f->status_details
 * reused as the age: 2 knows SB_BIND_SAY_LIFETIME, 1 knows only ADOPT, 0
 * neither): each refuses the flags it does not know, as sockbrokerd does.
 */
static int
script_adopt(struct fake *f, int sock, struct sb_msg *req)
{
	uint32_t flags = (uint32_t)sb_msg_u32(req, SB_F_FLAGS, 0);
	uint32_t known = SB_BIND_LISTEN | SB_BIND_PREPARE | SB_BIND_BOUND;
	char msg[64];
	struct sb_msg m;

	if (req->type != SB_MSG_BIND)
		return reply_error(sock, req->id, EPROTO, "unexpected", 0);
	if (f->status_details >= 1)
		known |= SB_BIND_ADOPT;
	if (f->status_details >= 2)
		known |= SB_BIND_SAY_LIFETIME;
	if (flags & ~known) {
		snprintf(msg, sizeof(msg), "unknown bind flags 0x%x", flags & ~known);
		return reply_error(sock, req->id, EINVAL, msg, 0);
	}
	ck_assert(flags & SB_BIND_ADOPT);
	ck_assert_int_ge(req->fd, 0);
	sb_msg_init(&m, SB_MSG_OK, req->id);
	sb_msg_set_str(&m, SB_F_SHORT_PATH, "/r/ab/cdefghijklmnopqr/sock");
	sb_msg_set_u32(&m, SB_F_KIND, SB_KIND_SOCKET);
	if (flags & SB_BIND_SAY_LIFETIME)
		sb_msg_set_u32(&m, SB_F_LIFETIME, SB_LT_OWNER);
	return reply(sock, &m, -1);
}

/*
 * The shim learns at an ADOPT whether the entry is its socket's own
 * (lifetime owner: its unlink need not wait). A broker that does not know
 * the question is asked once more without it, once per connection; one
 * that predates ADOPT gets EOPNOTSUPP (the shim PREPAREs then).
 */
START_TEST(fake_adopt_lifetime)
{
	/* requests for two binds: 0x18, 0x8, 0x8 (age 0 and 1); one each (2) */
	static const int want_req[] = { 3, 3, 2 };
	static const int want_lt[] = { 0, 0, SB_LIFETIME_OWNER };
	struct fake f;
	sb_client *c;
	int age, fd, held, i;

	for (age = 0; age <= 2; age++) {
		fake_start(&f, script_adopt);
		f.status_details = age;
		ck_assert_int_eq(sb_client_open(f.root, &c), 0);
		for (i = 0; i < 2; i++) {
			ck_assert_int_ge(fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), 0);
			held = -2;
			ck_assert_int_eq(sb_bind_socket(c, "k", fd, NULL, &held, NULL, 0),
			    age == 0 ? -EOPNOTSUPP : 0);
			if (age > 0)
				ck_assert_int_eq(held, -1);
			ck_assert_int_eq(sb_client_lifetime(c), want_lt[age]);
			close(fd);
		}
		ck_assert_int_eq(f.nreq, want_req[age]);
		ck_assert_int_eq(f.conns, 1);
		sb_client_close(c);
		fake_stop(&f);
	}
}
END_TEST

/*
 * STATUS as a broker older than SB_STATUS_DETAILS answers it: a FLAGS field
 * is not allowed (EPROTO, and the connection closed); without it, the
 * counts. With f->status_details it plays a newer one, which adds the
 * details.
 */
static int
script_status(struct fake *f, int sock, struct sb_msg *req)
{
	struct sb_msg m;

	if (req->type != SB_MSG_STATUS)
		return reply_error(sock, req->id, EPROTO, "unexpected", 0);
	if (SB_HAS(req, SB_F_FLAGS) && !f->status_details) {	/* an older broker */
		reply_error(sock, req->id, EPROTO, "field not allowed", 0);
		return -1;
	}
	sb_msg_init(&m, SB_MSG_OK, req->id);
	sb_msg_set_u32(&m, SB_F_VERSION_MIN, 1);
	sb_msg_set_u32(&m, SB_F_VERSION_MAX, 1);
	sb_msg_set_u32(&m, SB_F_ENTRIES, 5);
	sb_msg_set_u32(&m, SB_F_CLIENTS, 3);
	sb_msg_set_u64(&m, SB_F_UPTIME, 42);
	sb_msg_set_u32(&m, SB_F_PID, 4321);
	if (SB_HAS(req, SB_F_FLAGS) && (req->num[SB_F_FLAGS] & SB_STATUS_DETAILS)) {
		sb_msg_set_str(&m, SB_F_BROKER_VERSION, "9.8.7");
		sb_msg_set_str(&m, SB_F_ROOT, "/run/x");
		sb_msg_set_u32(&m, SB_F_MAX_CLIENTS, 11);
		sb_msg_set_u32(&m, SB_F_MAX_CLIENTS_PER_UID, 12);
		sb_msg_set_u32(&m, SB_F_MAX_ENTRIES, 13);
		sb_msg_set_u32(&m, SB_F_MAX_ENTRIES_PER_UID, 14);
		sb_msg_set_u32(&m, SB_F_CLIENT_TIMEOUT_MS, 15000);
	}
	return reply(sock, &m, -1);
}

START_TEST(fake_status_details)
{
	struct sb_status_details d;
	struct fake f;
	sb_client *c;

	/* an older broker: the call asks again without the flag */
	fake_start(&f, script_status);
	ck_assert_int_eq(sb_client_open(f.root, &c), 0);
	memset(&d, 0x55, sizeof(d));
	ck_assert_int_eq(sb_status_details(c, &d), 0);
	ck_assert_int_eq(d.details, 0);
	ck_assert_uint_eq(d.status.entries, 5);
	ck_assert_uint_eq(d.status.uptime, 42);
	ck_assert_int_eq(d.status.pid, 4321);
	ck_assert_str_eq(d.version, "");
	ck_assert_str_eq(d.root, "");
	ck_assert_uint_eq(d.max_entries, 0);
	ck_assert_int_eq(f.nreq, 2);
	/* a broker that knows the flag */
	f.status_details = 1;
	ck_assert_int_eq(sb_status_details(c, &d), 0);
	ck_assert_int_eq(d.details, 1);
	ck_assert_str_eq(d.version, "9.8.7");
	ck_assert_str_eq(d.root, "/run/x");
	ck_assert_uint_eq(d.max_clients, 11);
	ck_assert_uint_eq(d.max_clients_per_uid, 12);
	ck_assert_uint_eq(d.max_entries, 13);
	ck_assert_uint_eq(d.max_entries_per_uid, 14);
	ck_assert_uint_eq(d.client_timeout_ms, 15000);
	ck_assert_uint_eq(d.status.clients, 3);
	ck_assert_int_eq(sb_status_details(NULL, &d), -EINVAL);
	ck_assert_int_eq(sb_status_details(c, NULL), -EINVAL);
	sb_client_close(c);
	fake_stop(&f);
}
END_TEST

/* Replies a broker must never send. */
static int
script_bad(struct fake *f, int sock, struct sb_msg *req)
{
	struct sb_msg m;
	int sv[2], r;

	const char *k = req->str[SB_F_KEY];

	sb_msg_init(&m, SB_MSG_OK, req->id);
	sb_msg_set_str(&m, SB_F_SHORT_PATH, "/r/x");
	if (strcmp(k, "wrong-id") == 0) {
		m.id = req->id + 100;
		return reply(sock, &m, -1);
	}
	if (strcmp(k, "wrong-type") == 0) {
		sb_msg_init(&m, SB_MSG_END, req->id);
		return reply(sock, &m, -1);
	}
	if (strcmp(k, "extra-fd") == 0 || strcmp(k, "fd-without-has-fd") == 0) {
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		if (strcmp(k, "extra-fd") == 0)
			sb_msg_set_u32(&m, SB_F_HAS_FD, 1);
		r = reply(sock, &m, sv[0]);
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	if (strcmp(k, "has-fd-without-fd") == 0) {
		sb_msg_set_u32(&m, SB_F_HAS_FD, 1);
		return reply(sock, &m, -1);
	}
	if (strcmp(k, "hangup") == 0)
		return -1;
	if (strcmp(k, "reply-then-close") == 0) {
		reply(sock, &m, -1);
		return -1;	/* like a broker dropping an idle client */
	}
	return reply(sock, &m, -1);
}

START_TEST(fake_bad_replies)
{
	char sp[SB_SHORT_PATH_SIZE];
	struct fake f;
	sb_client *c;
	int fd = -7, before, closed, conns, i;

	fake_start(&f, script_bad);
	ck_assert_int_eq(sb_client_open(f.root, &c), 0);
	/* one round trip first, so that the fake broker has accepted */
	ck_assert_int_eq(sb_resolve(c, "fine", sp, sizeof(sp)), 0);
	before = check_count_fds();

	strcpy(sp, "untouched");
	ck_assert_int_eq(sb_resolve(c, "wrong-id", sp, sizeof(sp)), -EPROTO);
	ck_assert_str_eq(sp, "untouched");
	/* the connection was dropped; the next call makes a new one */
	ck_assert_int_eq(sb_resolve(c, "fine", sp, sizeof(sp)), 0);
	ck_assert_str_eq(sp, "/r/x");
	ck_assert_int_eq(f.conns, 2);
	ck_assert_int_eq(check_count_fds(), before);

	ck_assert_int_eq(sb_resolve(c, "wrong-type", sp, sizeof(sp)), -EPROTO);
	ck_assert_int_eq(sb_resolve(c, "extra-fd", sp, sizeof(sp)), -EPROTO);
	ck_assert_int_eq(sb_get(c, "fd-without-has-fd", &fd), -EPROTO);
	ck_assert_int_eq(sb_get(c, "has-fd-without-fd", &fd), -EPROTO);
	ck_assert_int_eq(sb_get(c, "no-fd-at-all", &fd), -EPROTO);
	ck_assert_int_eq(fd, -7);
	ck_assert_int_eq(sb_resolve(c, "hangup", sp, sizeof(sp)), -ECONNRESET);
	ck_assert_int_eq(sb_resolve(c, "fine", sp, sizeof(sp)), 0);
	/* a connection the broker closed between requests: sent again, no error */
	closed = f.closed;
	ck_assert_int_eq(sb_resolve(c, "reply-then-close", sp, sizeof(sp)), 0);
	for (i = 0; i < 5000 && f.closed == closed; i++)
		usleep(1000);
	ck_assert_int_eq(f.closed, closed + 1);
	conns = f.conns;
	ck_assert_int_eq(sb_resolve(c, "fine", sp, sizeof(sp)), 0);
	ck_assert_int_eq(f.conns, conns + 1);
	/* no fd leaked by any of it */
	ck_assert_int_eq(check_count_fds(), before);
	sb_client_close(c);
	fake_stop(&f);
}
END_TEST

/* bind of a path key: check the proof, refuse keys named "...-refused" */
static int
script_bind(struct fake *f, int sock, struct sb_msg *req)
{
	char target[256], want[SB_SHORT_PATH_SIZE];
	struct sb_msg m;
	struct stat st;
	ssize_t n;
	int sv[2], r;

	ck_assert_int_eq(req->type, SB_MSG_BIND);
	if (SB_HAS(req, SB_F_FLAGS) && (req->num[SB_F_FLAGS] & SB_BIND_BOUND)) {
		ck_assert_uint_eq(req->present, (1u << SB_F_KEY) | (1u << SB_F_FLAGS));
		sb_msg_init(&m, SB_MSG_OK, req->id);
		return reply(sock, &m, -1);
	}
	ck_assert_int_eq(sb_short_path(f->root, req->str[SB_F_KEY], want, sizeof(want)), 0);
	f->last_proof_ok = 0;
	if (req->fd >= 0 && req->num[SB_F_PROOF] == 1 && req->num[SB_F_HAS_FD] == 1 &&
	    fstat(req->fd, &st) == 0 && S_ISLNK(st.st_mode)) {
		n = readlinkat(req->fd, "", target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			f->last_proof_ok = strcmp(target, want) == 0;
		}
	}
	if (strstr(req->str[SB_F_KEY], "refused") != NULL)
		return reply_error(sock, req->id, EACCES, "you may not", 0);
	sb_msg_init(&m, SB_MSG_OK, req->id);
	sb_msg_set_str(&m, SB_F_SHORT_PATH, want);
	if (SB_HAS(req, SB_F_FLAGS) && (req->num[SB_F_FLAGS] & SB_BIND_PREPARE))
		return reply(sock, &m, -1);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sb_msg_set_u32(&m, SB_F_HAS_FD, 1);
	r = reply(sock, &m, sv[0]);
	close(sv[0]);
	close(sv[1]);
	return r;
}

START_TEST(fake_bind_path)
{
	struct sb_bind_opts o = SB_BIND_OPTS_INIT;
	char dir[64], key[128], sp[SB_SHORT_PATH_SIZE], want[SB_SHORT_PATH_SIZE];
	char target[256], other[128];
	struct stat st;
	struct fake f;
	sb_client *c;
	ssize_t n;
	int fd = -7, sfd;

	fake_start(&f, script_bind);
	snprintf(dir, sizeof(dir), "/tmp/sbck.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(sb_client_open(f.root, &c), 0);

	/* a new link */
	snprintf(key, sizeof(key), "%s/vm.sock", dir);
	ck_assert_int_eq(sb_short_path(f.root, key, want, sizeof(want)), 0);
	ck_assert_int_eq(sb_bind(c, key, &o, &fd, sp, sizeof(sp)), 0);
	ck_assert_int_eq(f.last_proof_ok, 1);
	ck_assert_str_eq(sp, want);
	ck_assert_int_ge(fd, 0);
	close(fd);
	n = readlink(key, target, sizeof(target) - 1);
	ck_assert_int_gt(n, 0);
	target[n] = '\0';
	ck_assert_str_eq(target, want);

	/* the same link again is reused */
	ck_assert_int_eq(sb_bind(c, key, NULL, NULL, NULL, 0), 0);
	ck_assert_int_eq(f.last_proof_ok, 1);

	/* PREPARE without a held socket: *ret_fd = -1 */
	fd = -7;
	o.flags = SB_BIND_F_PREPARE;
	ck_assert_int_eq(sb_bind(c, key, &o, &fd, sp, sizeof(sp)), 0);
	ck_assert_int_eq(fd, -1);
	/* BOUND: key and flags only, short path computed */
	o.flags = SB_BIND_F_BOUND;
	fd = -7;
	ck_assert_int_eq(sb_bind(c, key, &o, &fd, sp, sizeof(sp)), 0);
	ck_assert_int_eq(fd, -1);
	ck_assert_str_eq(sp, want);
	o.flags = 0;

	/* another symlink is replaced */
	snprintf(key, sizeof(key), "%s/other.sock", dir);
	ck_assert_int_eq(symlink("/somewhere/else", key), 0);
	ck_assert_int_eq(sb_bind(c, key, &o, NULL, NULL, 0), 0);
	ck_assert_int_eq(f.last_proof_ok, 1);
	ck_assert_int_eq(sb_short_path(f.root, key, want, sizeof(want)), 0);
	n = readlink(key, target, sizeof(target) - 1);
	ck_assert_int_gt(n, 0);
	target[n] = '\0';
	ck_assert_str_eq(target, want);

	/* a real socket (or file) at the key: EADDRINUSE, nothing sent */
	snprintf(other, sizeof(other), "%s/real.sock", dir);
	sfd = open(other, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ck_assert_int_ge(sfd, 0);
	close(sfd);
	ck_assert_int_eq(sb_bind(c, other, &o, NULL, NULL, 0), -EADDRINUSE);
	ck_assert_int_eq(lstat(other, &st), 0);
	ck_assert(S_ISREG(st.st_mode));

	/* refused: the link made for it is removed again */
	snprintf(key, sizeof(key), "%s/refused.sock", dir);
	ck_assert_int_eq(sb_bind(c, key, &o, NULL, NULL, 0), -EACCES);
	ck_assert_str_eq(sb_client_message(c), "you may not");
	ck_assert_int_eq(lstat(key, &st), -1);

	/* a missing directory */
	snprintf(key, sizeof(key), "%s/missing/x.sock", dir);
	ck_assert_int_eq(sb_bind(c, key, &o, NULL, NULL, 0), -ENOENT);

	/* a small buffer is refused before anything happens */
	ck_assert_int_eq(sb_bind(c, "name", &o, NULL, sp, 10), -EINVAL);

	sb_client_close(c);
	snprintf(key, sizeof(key), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(key), 0);
	fake_stop(&f);
}
END_TEST

/* Several threads on one client: every reply reaches the right caller. */
static int
script_echo(struct fake *f, int sock, struct sb_msg *req)
{
	char sp[SB_SHORT_PATH_SIZE];
	struct sb_msg m;

	ck_assert_int_eq(sb_short_path("/r", req->str[SB_F_KEY], sp, sizeof(sp)), 0);
	sb_msg_init(&m, SB_MSG_OK, req->id);
	sb_msg_set_str(&m, SB_F_SHORT_PATH, sp);
	return reply(sock, &m, -1);
}

static void *
resolver(void *arg)
{
	sb_client *c = arg;
	char key[32], sp[SB_SHORT_PATH_SIZE], want[SB_SHORT_PATH_SIZE];
	int i;

	for (i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "k%lu-%d", (unsigned long)pthread_self() % 1000, i);
		if (sb_resolve(c, key, sp, sizeof(sp)) != 0)
			return (void *)1;
		sb_short_path("/r", key, want, sizeof(want));
		if (strcmp(sp, want) != 0)
			return (void *)1;
	}
	return NULL;
}

START_TEST(fake_threads)
{
	pthread_t t[4];
	struct fake f;
	sb_client *c;
	void *ret;
	int i;

	fake_start(&f, script_echo);
	ck_assert_int_eq(sb_client_open(f.root, &c), 0);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, resolver, c), 0);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], &ret), 0);
		ck_assert_ptr_null(ret);
	}
	ck_assert_int_eq(f.nreq, 800);
	sb_client_close(c);
	fake_stop(&f);
}
END_TEST

static Suite *
client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc = tcase_create("keys");

	tcase_add_test(tc, short_path_pure);
	tcase_add_test(tc, fake_bound_async);
	tcase_add_test(tc, short_path_default_root);
	tcase_add_test(tc, key_from_path);
	tcase_add_test(tc, strerror_texts);
	tcase_add_test(tc, null_safety);
	tcase_add_test(tc, open_missing_root);
	tcase_add_test(tc, control_answers);
	suite_add_tcase(s, tc);
	tc = tcase_create("fake-broker");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, fake_basic);
	tcase_add_test(tc, fake_status_details);
	tcase_add_test(tc, fake_adopt_lifetime);
	tcase_add_test(tc, fake_bad_replies);
	tcase_add_test(tc, fake_bind_path);
	tcase_add_test(tc, fake_threads);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(client_suite(), CK_FORK_GETENV);
}
