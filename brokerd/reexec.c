/* SPDX-License-Identifier: ISC */
/*
 * reexec.c: the re-exec handover, written and read here only.
 *
 * Before execv(), the broker writes one line per fd it keeps into a memfd
 * and names it in SOCKBROKERD_REEXEC_FDS=MFD:PID (PID: its own, which the
 * new image, the same process, checks):
 *
 *   FD control              the control socket
 *   FD ID                   a held entry's fd (ID: its FDNAME)
 *   FD ID fdstore           the same, also in the service manager's fd store
 *   FD peer                 an idle client connection
 *   FD wait HEXMSG          a client waiting: its WAIT request as the
 *                           codec encodes it (request id, key, the ms
 *                           left as TIMEOUT_MS), the bytes in hex
 *
 * The new image reads them back with reexec_adopt(): each fd with its name
 * and the rest of its line.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "brokerd.h"

#define REEXEC_ENV	"SOCKBROKERD_REEXEC_FDS"

int
reexec_pending(void)
{
	return getenv(REEXEC_ENV) != NULL;
}

/*
 * The lines, gathered here and written to the memfd in one go at
 * reexec_exec(): a dprintf() each was a write(2) each, 4,000 of them for
 * as many held fds (bench/README). A line that does not fit fails the
 * whole handover (err), never only itself: an fd whose line is lost
 * would stay open, unknown, in the next image.
 */
static struct {
	char	*buf;
	size_t	 len, cap;
	int	 err;
} out;

static void
out_reset(void)
{
	free(out.buf);
	memset(&out, 0, sizeof(out));
}

int
reexec_begin(void)
{
	int mfd = memfd_create("sockbrokerd-fds", MFD_CLOEXEC);

	out_reset();
	return mfd < 0 ? -errno : mfd;
}

/* Append a line of at most 64 + 2 * SB_MSG_MAX characters; -ENOMEM if it cannot be. */
static int
out_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
out_line(const char *fmt, ...)
{
	size_t want = 64 + 2 * SB_MSG_MAX + 2, ncap;
	va_list ap;
	char *nb;
	int n;

	if (out.err != 0)
		return out.err;
	if (out.cap - out.len < want) {
		ncap = out.cap > 0 ? out.cap : 16384;
		while (ncap - out.len < want)
			ncap *= 2;
		if ((nb = realloc(out.buf, ncap)) == NULL)
			return out.err = -ENOMEM;
		out.buf = nb;
		out.cap = ncap;
	}
	va_start(ap, fmt);
	n = vsnprintf(out.buf + out.len, out.cap - out.len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= out.cap - out.len)
		return out.err = -EOVERFLOW;
	out.len += (size_t)n;
	return 0;
}

void
reexec_put(int fd, const char *name, const char *tail)
{
	out_line("%d %s%s%s\n", fd, name, tail != NULL ? " " : "", tail != NULL ? tail : "");
}

int
reexec_put_wait(int fd, uint32_t id, unsigned long ms, const char *key)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t buf[SB_MSG_MAX];
	char line[2 * SB_MSG_MAX + 1];
	struct sb_msg m;
	ssize_t len, i;

	sb_msg_init(&m, SB_MSG_WAIT, id);
	sb_msg_set_str(&m, SB_F_KEY, key);
	sb_msg_set_u32(&m, SB_F_TIMEOUT_MS, ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms);
	if ((len = sb_msg_encode(&m, buf, sizeof(buf))) < 0)
		return (int)len;
	for (i = 0; i < len; i++) {
		line[2 * i] = hex[buf[i] >> 4];
		line[2 * i + 1] = hex[buf[i] & 0xf];
	}
	line[2 * len] = '\0';
	return out_line("%d wait %s\n", fd, line);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
reexec_parse_wait(const char *arg, uint32_t *ret_id, unsigned long *ret_ms,
    char key[SB_KEY_MAX + 1])
{
	uint8_t buf[SB_MSG_MAX];
	size_t n = strlen(arg), i;
	struct sb_msg m;
	int hi, lo;

	if (n % 2 != 0 || n / 2 > sizeof(buf))
		return -EINVAL;
	for (i = 0; i < n / 2; i++) {
		if ((hi = hexval(arg[2 * i])) < 0 || (lo = hexval(arg[2 * i + 1])) < 0)
			return -EINVAL;
		buf[i] = (uint8_t)(hi << 4 | lo);
	}
	m.fd = m.fd2 = -1;
	if (sb_msg_decode(&m, buf, n / 2) < 0 || m.type != SB_MSG_WAIT ||
	    !SB_HAS(&m, SB_F_TIMEOUT_MS))
		return -EINVAL;
	memcpy(key, m.str[SB_F_KEY], (size_t)m.len[SB_F_KEY] + 1);
	*ret_id = m.id;
	*ret_ms = (unsigned long)m.num[SB_F_TIMEOUT_MS];
	return 0;
}

int
reexec_flush(int mfd)
{
	size_t off = 0;
	ssize_t w;
	int r;

	for (; out.err == 0 && off < out.len; off += (size_t)w)
		if ((w = write(mfd, out.buf + off, out.len - off)) < 0) {
			if (errno == EINTR) {
				w = 0;
				continue;
			}
			out.err = -errno;
		}
	r = out.err;
	out_reset();
	return r;
}

void
reexec_exec(int mfd, char **argv)
{
	char env[64];
	const char *exe;
	int r;

	if ((r = reexec_flush(mfd)) < 0) {
		log_warn("unable to re-execute: the handover of the fds: %s: carrying on",
		    strerror(-r));
		close(mfd);
		return;
	}
	snprintf(env, sizeof(env), "%d:%ld", mfd, (long)getpid());
	setenv(REEXEC_ENV, env, 1);
	exe = strchr(argv[0], '/') != NULL ? argv[0] : "/proc/self/exe";
	fcntl(mfd, F_SETFD, 0);		/* for the exec only, like every fd it lists */
	execv(exe, argv);
	log_warn("unable to re-execute %s: %s: carrying on", exe, strerror(errno));
	unsetenv(REEXEC_ENV);
	close(mfd);
}

int
reexec_adopt(struct adopted **ret, size_t *ret_n)
{
	const char *env = getenv(REEXEC_ENV);
	struct adopted *a = NULL, *na;
	size_t n = 0, cap = 0, lcap = 0;
	char *line = NULL, name[256];
	int mfd, fd, off;
	long pid;
	FILE *f;

	if (env == NULL)
		return 1;
	if (sscanf(env, "%d:%ld", &mfd, &pid) != 2 || pid != (long)getpid() || mfd < 3 ||
	    lseek(mfd, 0, SEEK_SET) < 0 || (f = fdopen(mfd, "r")) == NULL) {
		log_warn("%s=%s is not ours: ignored", REEXEC_ENV, env);
		unsetenv(REEXEC_ENV);
		return 1;
	}
	unsetenv(REEXEC_ENV);
	while (getline(&line, &lcap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		off = 0;
		if (sscanf(line, "%d %255s %n", &fd, name, &off) < 2 || fd < 3 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((na = realloc(a, cap * sizeof(*a))) == NULL)
				fatal("unable to allocate memory");
			a = na;
		}
		a[n].fd = fd;
		snprintf(a[n].name, sizeof(a[n].name), "%s", name);
		a[n].arg = off > 0 && line[off] != '\0' ? strdup(line + off) : NULL;
		n++;
	}
	free(line);
	fclose(f);
	*ret = a;
	*ret_n = n;
	log_info("re-executed: took over %zu fds", n);
	return 0;
}
