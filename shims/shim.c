/* SPDX-License-Identifier: ISC */
/*
 * shim.c: libsockbroker-shim.so, the LD_PRELOAD shim.
 *
 * Two layers (DESIGN.md section 7). Before main, the constructor rewrites
 * the socket paths of the command line that are too long for sun_path
 * (rewrite.c) to short ones: in broker mode the entry's short path under
 * the broker's root, a pure function of the long path; in direct mode
 * /proc/self/fd/N/<basename> on a directory fd the shim keeps open. Then
 * the interposed calls make those short paths work: bind asks the broker
 * for the entry (it makes the short directory; the library makes the link
 * at the long path), listen tells the broker the socket is ready, unlink
 * releases the entry, connect falls back to the long path when no broker
 * entry answers. An address too long for sun_path in a larger buffer is
 * rewritten the same way.
 *
 * Everything else passes straight through, mostly without reading the
 * caller's memory: a call the kernel may refuse first (an over-long
 * address) is made first, and an address or path the shim must read
 * before the call is copied with process_vm_readv (or, under a seccomp
 * filter, through a pipe), so a bad pointer gets the kernel's EFAULT,
 * never SIGSEGV.
 *
 * Locking: the table of short paths is guarded by one mutex, held only for
 * table work (never across a broker round trip or a blocking call), with
 * every asynchronous signal blocked in the thread that holds it: a signal
 * handler that calls unlink or bind cannot run inside the shim in that
 * thread, and in another thread it waits a bounded time. Round trips take
 * only the client's own lock (which fork handlers do not take), with
 * signals blocked as well, and have a deadline (SB_SHIM_DEADLINE_MS). A
 * child forked while a round trip was under way abandons that client and
 * makes its own. In a vfork child (same memory, another pid) the shim
 * passes every call through: it must not change the parent's state.
 *
 * In a program that runs with more privilege than its caller (AT_SECURE:
 * setuid, setgid, file capabilities; /etc/ld.so.preload reaches them) the
 * shim is inert: it rewrites no argument, opens no -readconfig file, asks
 * no broker and reads no variable. Everything passes straight through.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "readconfig.h"
#include "rewrite.h"
#include "sb-internal.h"
#include "sockbroker.h"

#define SHIM_EXPORT	__attribute__((visibility("default")))
#define SUN_OFF		offsetof(struct sockaddr_un, sun_path)
#define TABLE_MAX	128	/* short paths the shim knows */
#define DIRS_MAX	32	/* directory fds of direct mode */
#define SEEN_MAX	64	/* over-long paths of the command line */

enum mode { MODE_UNSET = 0, MODE_BROKER, MODE_DIRECT, MODE_AUTO };

/*
 * What every call reads before it knows it has nothing to do: in .data,
 * not .bss, on a page the loader writes anyway (the relocations of .data
 * itself, __dso_handle's among them; without -z now, the GOT's too), so
 * that a process whose calls all pass through costs no page fault of the
 * shim's for them. In .bss they were three pages apart (two faults a page for the
 * first short connect: a read maps the zero page, the write copies it).
 */
#define SHIM_HOT	__attribute__((section(".data.sockbroker_hot")))

/* The real functions, resolved once. */
static int	(*real_bind)(int, const struct sockaddr *, socklen_t) SHIM_HOT;
static int	(*real_connect)(int, const struct sockaddr *, socklen_t) SHIM_HOT;
static int	(*real_listen)(int, int) SHIM_HOT;
static ssize_t	(*real_sendto)(int, const void *, size_t, int, const struct sockaddr *,
		    socklen_t) SHIM_HOT;
static ssize_t	(*real_sendmsg)(int, const struct msghdr *, int) SHIM_HOT;
static int	(*real_unlink)(const char *) SHIM_HOT;
static int	(*real_unlinkat)(int, const char *, int) SHIM_HOT;
static int	(*real_link)(const char *, const char *) SHIM_HOT;
static int	(*real_linkat)(int, const char *, int, const char *, int) SHIM_HOT;
static int	(*real_rename)(const char *, const char *) SHIM_HOT;
static int	(*real_renameat)(int, const char *, int, const char *) SHIM_HOT;
static int	(*real_renameat2)(int, const char *, int, const char *, unsigned) SHIM_HOT;

/* The shim's counts that the fast paths read without the lock. */
static struct {
	int	 nentries;	/* entries of the table (atomic) */
	int	 npending;	/* of them bound, BOUND not sent yet (atomic) */
	int	 ntemp;		/* of them with a temp name (atomic) */
	int	 nseen;		/* shim.seen: set in the constructor, read-only after */
} hot SHIM_HOT;

/* A short path the shim handed out, and the key (long path) it stands for. */
struct entry {
	char	 short_path[SB_SHORT_PATH_SIZE];
	char	*key;
	int	 pending_fd;	/* bound, BOUND not sent yet (until listen) */
	int	 bound;		/* a socket of this process (or its parent) is there */
	int	 owned;		/* an owner entry of that socket: unlink need not wait */
	int	 listening;	/* on a temporary name: ready at its link or rename */
	char	 temp[SB_SHORT_PATH_SIZE];	/* ADOPTed for this temporary name, or "" */
};

struct dir {
	char	*path;
	int	 fd;
	dev_t	 dev;		/* to notice that the program closed and reused fd */
	ino_t	 ino;
};

static struct {
	pthread_mutex_t	 lock;
	enum mode	 want;		/* from SOCKBROKER_MODE */
	enum mode	 mode;		/* resolved: broker or direct; under lock */
	int		 debug;
	char		 root[SB_SHORT_PATH_SIZE];
	size_t		 root_len;	/* 0: no usable root */
	int		 may_use_system;	/* no SOCKBROKER_ROOT, not uid 0 */
	struct entry	 table[TABLE_MAX];
	int		 next_slot;
	struct dir	 dirs[DIRS_MAX];
	int		 ndirs;
	sb_client	*client;
	int		 rt_busy;	/* round trips under way (atomic) */
	int		 configured;	/* configure() ran; under the lock */
	int		 in_init;	/* the constructor runs */
	char		*keys_env;	/* SOCKBROKER_SHIM_KEYS being built */
	size_t		 keys_len;
	char		*seen[SEEN_MAX];	/* over-long paths of the command line: hot.nseen */
} shim = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* the forking thread's mask, across fork (static TLS: the shim is preloaded) */
static __thread sigset_t fork_mask __attribute__((tls_model("initial-exec")));

static void configure(void);

/*
 * Secure mode (AT_SECURE): a setuid, setgid or file-capability program,
 * whose caller controls its arguments and environment. The shim does
 * nothing there. Read once (another library's constructor may call in
 * before the shim's own).
 */
static int
inert(void)
{
	static int secure = -1;
	int v = __atomic_load_n(&secure, __ATOMIC_RELAXED);

	if (__builtin_expect(v < 0, 0)) {
		v = getauxval(AT_SECURE) != 0;
		__atomic_store_n(&secure, v, __ATOMIC_RELAXED);
	}
	return v;
}

/* Messages: one line on stderr, written with one write(2). */
static void __attribute__((format(printf, 1, 2)))
say(const char *fmt, ...)
{
	char buf[2 * PATH_MAX];
	va_list ap;
	int n, saved = errno;

	memcpy(buf, "sockbroker-shim: ", 17);
	va_start(ap, fmt);
	n = vsnprintf(buf + 17, sizeof(buf) - 18, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(buf) - 18)
		n = (int)(sizeof(buf) - 18);
	buf[17 + n] = '\n';
	if (write(STDERR_FILENO, buf, (size_t)n + 18) < 0) {
		/* nothing to do */
	}
	errno = saved;
}

/* Critical sections: no asynchronous signal handler runs inside them. */

static void
signals_block(sigset_t *ret_old)
{
	sigset_t all;

	sigfillset(&all);
	/* a fault in the shim is a bug: let it kill the process as usual */
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGTRAP);
	pthread_sigmask(SIG_BLOCK, &all, ret_old);
}

static void
signals_restore(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

static void
lock(sigset_t *ret_old)
{
	signals_block(ret_old);
	pthread_mutex_lock(&shim.lock);
	if (!shim.configured)
		configure();
}

static void
unlock(const sigset_t *old)
{
	pthread_mutex_unlock(&shim.lock);
	signals_restore(old);
}

/*
 * Is this the process whose state the shim holds? Not in a vfork child
 * (or a child of a raw clone without fork handlers): it shares or copied
 * the memory of a process with another pid, and must leave it alone. The
 * pid is set by the constructor and by the fork handler in the child, so
 * a vfork child is never the first to claim it: only a call made before
 * the constructor ran claims it here.
 */
/*
 * -1 until claimed. Initialised, so in .data rather than in the struct's
 * .bss: beside the library's relocated pointers, on a page the loader
 * already wrote, so that the constructor's one store costs no page fault.
 */
static pid_t shim_pid = -1;	/* atomic */

static int
own_process(void)
{
	pid_t me = getpid(), want = -1;

	if (__atomic_compare_exchange_n(&shim_pid, &want, me, 0, __ATOMIC_ACQ_REL,
	    __ATOMIC_ACQUIRE))
		return 1;
	return want == me;
}

/*
 * Copy n bytes of the caller's memory at p, as the kernel would read them:
 * the number of bytes readable (less than n at an unmapped page), or -1.
 * Never a plain copy: a bad pointer must get the kernel's EFAULT, never
 * SIGSEGV.
 *
 * process_vm_readv where it may be called: a seccomp filter may refuse
 * it (systemd's SystemCallFilter=@system-service leaves out @debug) or
 * kill the process that calls it. So it is called only by a process that
 * had no filter when the shim first needed it (/proc/self/status), and
 * given up for good at the first EPERM or ENOSYS (a filter installed
 * since). Otherwise the memory goes through a pipe of the shim's own,
 * page by page: write(2) reads it as the kernel does (EFAULT at a bad
 * page) and read(2) takes it back.
 */
#define USER_READ_MAX	(PATH_MAX + 2 * 4096)

enum { VM_UNKNOWN = 0, VM_READV, VM_PIPE };
static int vm_how;	/* atomic */

/* Has this process no seccomp filter? 0 if it has one, or if /proc says nothing. */
static int
seccomp_free(void)
{
	char buf[4096], *p;
	ssize_t n;
	int fd;

	if ((fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return (p = strstr(buf, "\nSeccomp:")) != NULL && strtol(p + 9, NULL, 10) == 0;
}

static ssize_t
pipe_read(const void *p, void *buf, size_t n)
{
	uintptr_t a = (uintptr_t)p;
	size_t done = 0;
	ssize_t w, r;
	int fds[2], saved = errno;

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	while (done < n) {
		size_t chunk = ((a + done) | 4095) + 1 - (a + done);	/* to the page's end */

		if (chunk > n - done)
			chunk = n - done;
		if ((w = write(fds[1], (const char *)p + done, chunk)) <= 0)
			break;
		if ((r = read(fds[0], (char *)buf + done, (size_t)w)) != w)
			break;
		done += (size_t)w;
		if ((size_t)w < chunk)
			break;
	}
	close(fds[0]);
	close(fds[1]);
	if (done == 0) {
		errno = EFAULT;
		return -1;
	}
	errno = saved;
	return (ssize_t)done;
}

static ssize_t
user_read(const void *p, void *buf, size_t n)
{
	/* one remote element per page: a partial read stops at the bad page */
	struct iovec local = { buf, n }, remote[USER_READ_MAX / 4096 + 2];
	uintptr_t a = (uintptr_t)p, end;
	int k = 0, how;
	ssize_t r;

	if (p == NULL)
		return -1;
	if (n > USER_READ_MAX)
		n = local.iov_len = USER_READ_MAX;
	if ((how = __atomic_load_n(&vm_how, __ATOMIC_RELAXED)) == VM_UNKNOWN) {
		int saved = errno;

		how = seccomp_free() ? VM_READV : VM_PIPE;
		__atomic_store_n(&vm_how, how, __ATOMIC_RELAXED);
		errno = saved;
	}
	if (how == VM_PIPE)
		return pipe_read(p, buf, n);
	for (end = a + n; a < end; k++) {
		uintptr_t next = (a | 4095) + 1;

		if (next > end || next < a)
			next = end;
		remote[k].iov_base = (void *)a;
		remote[k].iov_len = next - a;
		a = next;
	}
	r = process_vm_readv(getpid(), &local, 1, remote, (unsigned long)k, 0);
	if (r < 0 && (errno == ENOSYS || errno == EPERM)) {
		__atomic_store_n(&vm_how, VM_PIPE, __ATOMIC_RELAXED);
		return pipe_read(p, buf, n);
	}
	return r;
}

/*
 * Copy the caller's string path into buf (size bytes). 0, or -1 if the
 * kernel would refuse it before reading a file (EFAULT, ENAMETOOLONG).
 */
static int
user_path(const char *path, char *buf, size_t size)
{
	ssize_t n = user_read(path, buf, size);

	if (n <= 0 || memchr(buf, '\0', (size_t)n) == NULL)
		return -1;
	return 0;
}

/* Real symbols and the library's system calls */

static int
io_connect(int fd, const struct sockaddr *a, socklen_t l)
{
	return real_connect(fd, a, l);
}

static ssize_t
io_sendmsg(int fd, const struct msghdr *m, int f)
{
	return real_sendmsg(fd, m, f);
}

static int
io_unlinkat(int dfd, const char *p, int f)
{
	return real_unlinkat(dfd, p, f);
}

static const struct sb_io shim_io = {
	.socket = socket,
	.connect = io_connect,
	.sendmsg = io_sendmsg,
	.recvmsg = recvmsg,
	.close = close,
	.symlinkat = symlinkat,
	.unlinkat = io_unlinkat,
	.renameat = renameat,
};

static void *
must_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL) {
		say("fatal: no symbol %s after the shim", name);
		abort();
	}
	return p;
}

static void
resolve_real(void)
{
	real_bind = must_sym("bind");
	real_listen = must_sym("listen");
	real_sendto = must_sym("sendto");
	real_sendmsg = must_sym("sendmsg");
	real_unlink = must_sym("unlink");
	real_unlinkat = must_sym("unlinkat");
	real_link = must_sym("link");
	real_linkat = must_sym("linkat");
	real_rename = must_sym("rename");
	real_renameat = must_sym("renameat");
	real_renameat2 = must_sym("renameat2");
	__atomic_store_n(&real_connect, must_sym("connect"), __ATOMIC_RELEASE);
	sb_set_io(&shim_io);
}

/*
 * Once, without pthread_once (its completion always costs a futex wake:
 * the constructor makes one system call, getpid, when nothing is to be
 * rewritten). A second thread waits for the first.
 */
static void
resolve_slow(void)
{
	static int state SHIM_HOT;
	int zero = 0;

	if (__atomic_compare_exchange_n(&state, &zero, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		resolve_real();
	else
		while (__atomic_load_n(&real_connect, __ATOMIC_ACQUIRE) == NULL)
			sched_yield();
}

static inline void
resolve(void)
{
	if (__builtin_expect(__atomic_load_n(&real_connect, __ATOMIC_ACQUIRE) == NULL, 0))
		resolve_slow();
}

/* Modes */

/*
 * Which broker: the user's own (SOCKBROKER_ROOT, or the default root of
 * the uid), else the system broker on SB_SYSTEM_ROOT. A service user
 * (libvirt-qemu, tss, Incus' unprivileged QEMU user) has no session and
 * no broker of its own: it finds the system one. 1 if one answers (the
 * root is then set to it), 0 if none.
 */
static int
find_broker_locked(void)
{
	if (shim.root_len > 0 && sb_control_answers(shim.root))
		return 1;
	if (!shim.may_use_system || strcmp(shim.root, SB_SYSTEM_ROOT) == 0 ||
	    !sb_control_answers(SB_SYSTEM_ROOT))
		return 0;
	if (shim.debug)
		say("no broker on '%s': using the system broker on '%s'",
		    shim.root_len > 0 ? shim.root : "(none)", SB_SYSTEM_ROOT);
	snprintf(shim.root, sizeof(shim.root), "%s", SB_SYSTEM_ROOT);
	shim.root_len = strlen(shim.root);
	return 1;
}

/* The mode, decided at the first need (auto: ask once). Under the lock. */
static enum mode
mode_locked(void)
{
	if (shim.mode == MODE_UNSET) {
		/*
		 * Broker mode on a root of its own (or as root) has nothing to
		 * choose: no probe, the first request says whether one answers.
		 */
		int ask = shim.want == MODE_AUTO ||
		    (shim.want == MODE_BROKER && shim.may_use_system);
		int found = ask && find_broker_locked();

		if (shim.want == MODE_AUTO)
			shim.mode = found ? MODE_BROKER : MODE_DIRECT;
		else
			shim.mode = shim.want;
		if (shim.debug)
			say("mode %s%s%s", shim.mode == MODE_BROKER ? "broker" : "direct",
			    shim.mode == MODE_BROKER ? " on " : "",
			    shim.mode == MODE_BROKER ? shim.root : "");
	}
	return shim.mode;
}

/* The table */

static struct entry *
table_find_locked(const char *short_path)
{
	int i;

	for (i = 0; i < TABLE_MAX; i++)
		if (shim.table[i].key != NULL && strcmp(shim.table[i].short_path, short_path) == 0)
			return &shim.table[i];
	return NULL;
}

static void
table_add_locked(const char *short_path, const char *key)
{
	struct entry *e = table_find_locked(short_path);
	char *k;
	int i;

	if (e != NULL)
		return;
	if ((k = strdup(key)) == NULL)
		return;
	for (i = 0; i < TABLE_MAX; i++) {
		e = &shim.table[(shim.next_slot + i) % TABLE_MAX];
		if (e->key == NULL || e->pending_fd < 0)
			break;
	}
	shim.next_slot = (int)(e - shim.table + 1) % TABLE_MAX;
	if (e->key != NULL && e->pending_fd >= 0)	/* a full table of pending binds */
		__atomic_sub_fetch(&hot.npending, 1, __ATOMIC_RELEASE);
	if (e->key == NULL)
		__atomic_add_fetch(&hot.nentries, 1, __ATOMIC_RELEASE);
	free(e->key);
	e->key = k;
	e->pending_fd = -1;
	e->bound = 0;
	e->owned = 0;
	e->listening = 0;
	if (e->temp[0] != '\0')
		__atomic_sub_fetch(&hot.ntemp, 1, __ATOMIC_RELEASE);
	e->temp[0] = '\0';
	snprintf(e->short_path, sizeof(e->short_path), "%s", short_path);
}

/* Does the table hold anything? No lock: the fast path. */
static inline int
have_entries(void)
{
	return __atomic_load_n(&hot.nentries, __ATOMIC_ACQUIRE) > 0;
}

static struct entry *
table_find_key_locked(const char *key)
{
	int i;

	for (i = 0; i < TABLE_MAX; i++)
		if (shim.table[i].key != NULL && strcmp(shim.table[i].key, key) == 0)
			return &shim.table[i];
	return NULL;
}

/*
 * Is path another name in the directory of a short path of the table
 * (ROOT/XX/HASH/NAME)? A server that binds a temporary name there and
 * then link()s or rename()s it to the short path (OpenSSH's ControlMaster)
 * gets the entry's directory. Under the lock.
 */
static struct entry *
table_find_dir_locked(const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t dlen;
	int i;

	if (slash == NULL || slash[1] == '\0' || strcmp(slash + 1, SB_SOCK_NAME) == 0)
		return NULL;
	dlen = (size_t)(slash - path) + 1;	/* with the slash */
	for (i = 0; i < TABLE_MAX; i++) {
		struct entry *e = &shim.table[i];

		if (e->key != NULL && strncmp(e->short_path, path, dlen) == 0 &&
		    strcmp(e->short_path + dlen, SB_SOCK_NAME) == 0)
			return e;
	}
	return NULL;
}

/* Are two paths in the same directory? */
static int
same_dir(const char *a, const char *b)
{
	const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');

	return sa != NULL && sb != NULL && sa - a == sb - b && memcmp(a, b, (size_t)(sa - a)) == 0;
}

/* Is p (n bytes, maybe without NUL) under the broker's root? No lock. */
static inline int
under_root(const char *p, size_t n)
{
	return have_entries() && shim.root_len > 0 &&
	    n > shim.root_len && memcmp(p, shim.root, shim.root_len) == 0 &&
	    p[shim.root_len] == '/';
}

/* Direct mode: /proc/self/fd/N/<basename> */

/*
 * The directory fd of dir, opened once. Those opened for the command line
 * stay open across exec: a launcher (env, timeout, valgrind, a wrapper
 * script's exec) hands its rewritten arguments to the program it runs.
 */
static int
dir_fd_locked(const char *dir)
{
	struct stat st;
	struct dir *d = NULL;
	int i, fd;

	for (i = 0; i < shim.ndirs; i++) {
		if (strcmp(shim.dirs[i].path, dir) != 0)
			continue;
		d = &shim.dirs[i];
		if (fstat(d->fd, &st) == 0 && st.st_dev == d->dev && st.st_ino == d->ino)
			return d->fd;
		/* the program closed it (closefrom) and the number may be its file now */
		break;
	}
	if (d == NULL && shim.ndirs == DIRS_MAX)
		return -EMFILE;
	if ((fd = open(dir, O_PATH | O_DIRECTORY | (shim.in_init ? 0 : O_CLOEXEC))) < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		i = -errno;
		close(fd);
		return i;
	}
	if (d == NULL) {
		if ((shim.dirs[shim.ndirs].path = strdup(dir)) == NULL) {
			close(fd);
			return -ENOMEM;
		}
		d = &shim.dirs[shim.ndirs++];
	}
	d->fd = fd;
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	return fd;
}

/* key (an absolute path) -> /proc/self/fd/N/base. Under the lock. */
static int
direct_path_locked(const char *key, char *out, size_t size, int quiet)
{
	char dir[PATH_MAX];
	const char *base;
	int fd, len;

	if ((fd = sb_key_dir(key, dir, sizeof(dir), &base)) < 0)
		return fd;
	if ((fd = dir_fd_locked(dir)) < 0) {
		if (!quiet)
			say("'%s': direct mode: cannot open its directory: %s", key, strerror(-fd));
		return fd;
	}
	len = snprintf(out, size, "/proc/self/fd/%d/%s", fd, base);
	if (len < 0 || (size_t)len >= size || (size_t)len >= SBRW_SUN_PATH_MAX) {
		if (!quiet)
			say("'%s': direct mode: name too long (/proc/self/fd/%d/%s is %d bytes, "
			    "the limit is %d)", key, fd, base, len, SBRW_SUN_PATH_MAX - 1);
		return -ENAMETOOLONG;
	}
	return 0;
}

/*
 * Broker mode: the keys of the command line go to the environment
 * (SOCKBROKER_SHIM_KEYS, one per line) so that a program this one runs
 * with the rewritten arguments (a launcher's child) knows its short paths.
 */
#define KEYS_ENV	"SOCKBROKER_SHIM_KEYS"
#define KEYS_ENV_MAX	(16 * 1024)

static void
keys_add(const char *key)
{
	size_t n = strlen(key);
	char *p;

	if (strchr(key, '\n') != NULL || shim.keys_len + n + 2 > KEYS_ENV_MAX)
		return;
	if ((p = realloc(shim.keys_env, shim.keys_len + n + 2)) == NULL)
		return;
	shim.keys_env = p;
	if (shim.keys_len > 0)
		p[shim.keys_len++] = '\n';
	memcpy(p + shim.keys_len, key, n + 1);
	shim.keys_len += n;
}

static void view_predict(const char *key, char *out, size_t size);

/* The keys a parent passed down (env: SOCKBROKER_SHIM_KEYS, or NULL): into the table. */
static void
keys_inherit(const char *env)
{
	const char *p, *end;
	char key[PATH_MAX], sp[SB_SHORT_PATH_SIZE];
	size_t n;

	if (env == NULL || env[0] == '\0')
		return;
	if (!shim.configured)
		configure();
	if (strlen(env) > KEYS_ENV_MAX || mode_locked() != MODE_BROKER || shim.root_len == 0)
		return;
	for (p = env; *p != '\0'; p = *end != '\0' ? end + 1 : end) {
		end = strchr(p, '\n');
		if (end == NULL)
			end = p + strlen(p);
		n = (size_t)(end - p);
		if (n == 0 || n >= sizeof(key))
			continue;
		memcpy(key, p, n);
		key[n] = '\0';
		if (sb_short_path(shim.root, key, sp, sizeof(sp)) == 0) {
			view_predict(key, sp, sizeof(sp));
			table_add_locked(sp, key);
			keys_add(key);
		}
	}
}

/*
 * Broker mode: the short path of key in this process's view, into out
 * (which holds view 0's): the broker's rule as far as this process can
 * see it (sb_short_path_here). A first claim made in a private view gets
 * view 1 or higher, which the shim cannot tell from the host's view while
 * nobody holds view 0: then the bind follows the broker's reply (the
 * table knows both names, a temporary name beside the predicted one
 * included) and a connect the link at the long path. A readlink and a
 * stat for the common case, at mapping time only (the command line, a
 * new address).
 */
static void
view_predict(const char *key, char *out, size_t size)
{
	if (key[0] == '/')
		sb_short_path_here(shim.root, key, out, size);
}

/*
 * Map a long path to its short path in the current mode and remember it.
 * Under the lock. Prints why not when it cannot.
 */
static int
map_locked(const char *path, char *out, size_t size)
{
	char key[PATH_MAX];
	struct entry *e;
	int r;

	if (!shim.configured)
		configure();
	/* a path the shim has seen, written as its key: no work */
	if (path[0] == '/' && shim.mode == MODE_BROKER &&
	    (e = table_find_key_locked(path)) != NULL) {
		snprintf(out, size, "%s", e->short_path);
		return 0;
	}
	if ((r = sb_key_from_path(path, key, sizeof(key))) < 0) {
		say("'%s': not a usable socket path: %s", path, sb_strerror(r));
		return r;
	}
	if (mode_locked() == MODE_DIRECT)
		return direct_path_locked(key, out, size, 0);
	if (shim.root_len == 0) {
		say("'%s': no broker root (set SOCKBROKER_ROOT)", path);
		return -ENOENT;
	}
	if ((r = sb_short_path(shim.root, key, out, size)) < 0) {
		say("'%s': no short path under '%s': %s", path, shim.root, sb_strerror(r));
		return r;
	}
	view_predict(key, out, size);
	table_add_locked(out, key);
	if (shim.in_init)
		keys_add(key);
	return 0;
}

static int
map_argv(void *ctx, const char *long_path, enum sbrw_role role, char *out, size_t size)
{
	(void)ctx;
	(void)role;
	return map_locked(long_path, out, size);
}

/* A -readconfig file with socket paths that could not be replaced. */
static void
readconfig_failed(const char *file, const char *why)
{
	say("-readconfig '%s': its socket paths are left as they are: %s", file, why);
}

/* The broker */

/*
 * A round trip to the broker: the client of this process (made on first
 * use; the library reconnects after fork), with every asynchronous signal
 * blocked and round trips serialised by rt_lock, which the fork handlers
 * never take. NULL with *ret_err if no broker answers. rt_end() after,
 * also on NULL. Never under the table lock.
 */
static pthread_mutex_t rt_lock = PTHREAD_MUTEX_INITIALIZER;
static sb_client *abandoned;	/* a child's copy of a client busy at fork */

static sb_client *
rt_begin(sigset_t *ret_old, int *ret_err)
{
	sb_client *c;
	int r;

	signals_block(ret_old);
	__atomic_add_fetch(&shim.rt_busy, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_lock(&rt_lock);
	*ret_err = 0;
	if ((c = __atomic_load_n(&shim.client, __ATOMIC_ACQUIRE)) != NULL)
		return c;
	r = sb_client_open_flags(shim.root, SB_OPEN_NO_AUTOSTART | SB_OPEN_DEADLINE, &c);
	if (r < 0) {
		*ret_err = r;
		return NULL;
	}
	__atomic_store_n(&shim.client, c, __ATOMIC_RELEASE);
	return c;
}

static void
rt_end(const sigset_t *old)
{
	pthread_mutex_unlock(&rt_lock);
	__atomic_sub_fetch(&shim.rt_busy, 1, __ATOMIC_ACQ_REL);
	signals_restore(old);
}

/* errno for a bind the broker could not serve (connected: whether it was) */
static int
bind_errno(int r, int connected)
{
	if (!connected)
		return r == -ETIMEDOUT ? ETIMEDOUT : ECONNREFUSED;	/* no broker */
	switch (-r) {
	case ECONNRESET:
	case EPIPE:
		return ECONNREFUSED;	/* the broker went away */
	case EDQUOT:
		return ENOSPC;
	default:
		return -r;
	}
}

/* Is the process a member of gid (primary or supplementary)? */
static int
in_group(gid_t gid)
{
	gid_t groups[64];
	int i, n;

	if (getegid() == gid)
		return 1;
	n = getgroups((int)(sizeof(groups) / sizeof(groups[0])), groups);
	for (i = 0; i < n; i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

/*
 * The short directory is as reachable as the long path's directory would
 * have been: group and others may traverse it if they may traverse that
 * directory (the socket's own mode, set by the program, does the rest), so
 * that a client of another uid (QEMU as libvirt-qemu, swtpm as tss) reaches
 * the socket as it would at the long path.
 */
static void
mirror_dir_access(const char *key, struct sb_bind_opts *opts)
{
	char dir[PATH_MAX];
	struct stat st;

	if (sb_key_dir(key, dir, sizeof(dir), NULL) < 0 || strcmp(dir, "/") == 0)
		return;
	if (stat(dir, &st) < 0)
		return;
	opts->mode = 0600;
	if (st.st_mode & S_IXOTH)
		opts->mode |= 0066;
	if (st.st_mode & S_IXGRP) {
		opts->mode |= 0060;
		if (in_group(st.st_gid))
			opts->gid = st.st_gid;
	}
}

/*
 * The socket options a program sets before bind(2) that matter to a
 * listening or datagram AF_UNIX socket: copied from the program's socket
 * to the held one that replaces it.
 */
static void
copy_sockopts(int from, int to)
{
	static const int opts[] = {
		SO_PASSCRED, SO_PASSSEC, SO_RCVBUF, SO_SNDBUF, SO_RCVLOWAT,
		SO_SNDTIMEO_OLD, SO_RCVTIMEO_OLD, SO_KEEPALIVE,
	};
	char v[64];
	socklen_t len;
	size_t i;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		len = sizeof(v);
		if (getsockopt(from, SOL_SOCKET, opts[i], v, &len) < 0)
			continue;
		if ((opts[i] == SO_RCVBUF || opts[i] == SO_SNDBUF) && len == sizeof(int)) {
			int n;

			/* the kernel doubles what it is given and reports the double */
			memcpy(&n, v, sizeof(n));
			n /= 2;
			memcpy(v, &n, sizeof(n));
		}
		setsockopt(to, SOL_SOCKET, opts[i], v, len);
	}
}

/* The entry of short_path: set its pending fd and bound mark. */
static void
entry_mark(const char *short_path, int pending_fd, int bound, int owned)
{
	struct entry *e;
	sigset_t old;

	lock(&old);
	if ((e = table_find_locked(short_path)) != NULL) {
		if (pending_fd >= 0) {
			if (e->pending_fd < 0)
				__atomic_add_fetch(&hot.npending, 1, __ATOMIC_RELEASE);
			e->pending_fd = pending_fd;
			e->listening = 0;
		}
		e->bound = bound;
		e->owned = owned;
	}
	unlock(&old);
}

/*
 * Would the kernel refuse this bind whatever the address? 1: not a socket
 * or not AF_UNIX (real_bind gives its errno), 2: bound already (EINVAL).
 * The broker is never asked.
 */
static int
bind_refused_anyway(int fd)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(int), slen = sizeof(sun);
	int domain;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_UNIX)
		return 1;
	if (getsockname(fd, (struct sockaddr *)&sun, &slen) < 0)
		return 1;
	return slen > sizeof(sa_family_t) ? 2 : 0;	/* a name: bound (or autobound) */
}

/*
 * A temporary name beside the short path (OpenSSH's ControlMaster binds
 * it, listens, links it into place and unlinks it): the broker bound the
 * program's socket at the short path itself, in its own directory, which
 * the program may not write. The link or rename into place and the
 * unlink of the temporary name are then done already: they succeed
 * without a system call.
 */
static void
temp_mark(const char *short_path, const struct sockaddr *addr, socklen_t len)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)addr;
	struct entry *e;
	sigset_t old;
	size_t n;

	if (len <= SUN_OFF)
		return;
	n = strnlen(sun->sun_path, (size_t)len - SUN_OFF);
	lock(&old);
	if ((e = table_find_locked(short_path)) != NULL && n < sizeof(e->temp)) {
		if (e->temp[0] == '\0')
			__atomic_add_fetch(&hot.ntemp, 1, __ATOMIC_RELEASE);
		memcpy(e->temp, sun->sun_path, n);
		e->temp[n] = '\0';
	}
	unlock(&old);
}

/*
 * Is from (to: if not NULL, its short path) the temporary name of an
 * entry? 1 (forgotten if forget), or 0. Paths copied by the caller.
 */
static int
temp_is(const char *from, const char *to, int forget)
{
	struct entry *e;
	sigset_t old;
	int i, found = 0;

	lock(&old);
	for (i = 0; i < TABLE_MAX && !found; i++) {
		e = &shim.table[i];
		if (e->key == NULL || e->temp[0] == '\0' || strcmp(e->temp, from) != 0 ||
		    (to != NULL && strcmp(e->short_path, to) != 0))
			continue;
		found = 1;
		if (forget) {
			e->temp[0] = '\0';
			__atomic_sub_fetch(&hot.ntemp, 1, __ATOMIC_RELEASE);
		}
	}
	unlock(&old);
	return found;
}

/* link or rename of a temporary name into place: 0 if it is done already, -1 if not ours */
static int
temp_moved(int dfrom, const char *from, int dto, const char *to, int is_rename)
{
	char f[PATH_MAX], t[PATH_MAX];
	int saved = errno;

	if (__atomic_load_n(&hot.ntemp, __ATOMIC_ACQUIRE) == 0 || !own_process() ||
	    user_path(from, f, sizeof(f)) < 0 || user_path(to, t, sizeof(t)) < 0 ||
	    (f[0] != '/' && dfrom != AT_FDCWD) || (t[0] != '/' && dto != AT_FDCWD) ||
	    !temp_is(f, t, is_rename)) {
		errno = saved;
		return -1;
	}
	if (shim.debug)
		say("%s '%s' -> '%s': the broker bound the socket there already",
		    is_rename ? "rename" : "link", f, t);
	errno = saved;
	return 0;
}

/*
 * The mode bind(2) would have given the socket file: 0777 less the umask,
 * read from /proc (umask(2) would change it under other threads); -1 if
 * it cannot be read.
 */
static int
native_sock_mode(void)
{
	char buf[2048], *p;
	ssize_t n;
	int fd;

	if ((fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((p = strstr(buf, "\nUmask:")) == NULL)
		return -1;
	return (int)(0777 & ~strtoul(p + 8, NULL, 8));
}

/*
 * bind of a short path in the table (key is its long path). The broker
 * binds the program's own socket in its directory (ADOPT, one round
 * trip), the socket file the program's with the mode its umask gives; a
 * broker that predates ADOPT gets the directory (PREPARE) and the program
 * binds. A bind that then fails is rolled back: the entry and the link at
 * the long path are released. temp: the address is another name in the
 * entry's directory, which the program will link or rename to the short
 * path: the broker binds the socket at the short path (temp_mark), a held
 * one is not handed back.
 */
static socklen_t make_addr(struct sockaddr_un *sun, const char *path);

/*
 * A bind that failed after the broker may have bound the program's own
 * socket (ADOPT, then a lost reply or a journal error): a native failed
 * bind leaves the socket unbound, so a bound one is replaced by a fresh
 * unbound socket of its type, flags and options (the program may retry).
 */
static void
unbind_again(int fd)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun), tl;
	int type, fdfl, fl, n, e = errno;

	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &len) < 0 || sun.sun_family != AF_UNIX ||
	    len <= SUN_OFF || sun.sun_path[0] == '\0')
		goto done;
	tl = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
	    (fdfl = fcntl(fd, F_GETFD)) < 0 || (fl = fcntl(fd, F_GETFL)) < 0)
		goto done;
	if ((n = socket(AF_UNIX, type | SOCK_CLOEXEC | ((fl & O_NONBLOCK) ? SOCK_NONBLOCK : 0),
	    0)) < 0)
		goto done;
	copy_sockopts(fd, n);
	if (dup3(n, fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0 && shim.debug)
		say("cannot unbind the socket again after a failed bind: %s", strerror(errno));
	close(n);
done:
	errno = e;
}

static int
broker_bind(int fd, const char *key, const char *short_path, const struct sockaddr *addr,
    socklen_t len, int temp)
{
	struct sb_bind_opts opts = SB_BIND_OPTS_INIT;
	char given[SB_SHORT_PATH_SIZE];
	struct sockaddr_un vsun;
	sb_client *c;
	socklen_t tl = sizeof(opts.type);
	sigset_t old;
	int held = -1, r, err, ret = -1, adopted = 0, owned, mode;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &opts.type, &tl) < 0)
		return -1;
	opts.lifetime = SB_LIFETIME_OWNER;
	mirror_dir_access(key, &opts);
	if ((c = rt_begin(&old, &r)) != NULL) {
		r = sb_bind_socket(c, key, fd, &opts, &held, given, sizeof(given));
		adopted = r == 0 && held < 0;
		if (r == 0 && held >= 0 && temp) {
			/* a held socket is not handed back for a temporary name */
			close(held);
			held = -1;
			r = -EOPNOTSUPP;
		}
	}
	if (c != NULL && r == -EOPNOTSUPP) {
		opts.flags = SB_BIND_F_PREPARE;
		r = sb_bind(c, key, &opts, &held, given, sizeof(given));
	}
	if (c == NULL || r < 0) {
		const char *m = c != NULL ? sb_client_message(c) : "";

		say("bind '%s': %s%s%s%s", key, c == NULL ? "no broker: " : "",
		    sb_strerror(r), m[0] != '\0' ? ": " : "", m);
		err = bind_errno(r, c != NULL);
		goto out;
	}
	if (held >= 0 && temp) {
		close(held);
		held = -1;
	}
	if (strcmp(given, short_path) != 0) {
		/*
		 * Another uid claimed the string in another view first: this
		 * claim has a short path of its own, which the link at the long
		 * path names (the library made it so). The program's socket is
		 * bound there; the table knows both names of the key.
		 */
		sigset_t o2;

		if (temp && !adopted) {
			say("bind '%s': a temporary name beside the short path of another view "
			    "is not supported by this broker (no ADOPT)", key);
			if (held >= 0)
				close(held);
			held = -1;
			sb_release_flags(c, key, SB_RELEASE_IF_OWNER);
			err = EADDRINUSE;
			goto out;
		}
		lock(&o2);
		table_add_locked(given, key);
		unlock(&o2);
		if (shim.debug)
			say("bind '%s': its view's short path is '%s'", key, given);
		/*
		 * A temporary name beside the predicted short path (a first
		 * claim in a private view: view 0's): the broker bound the
		 * socket at this view's; the link or rename into the predicted
		 * one is done already.
		 */
		if (temp)
			temp_mark(short_path, addr, len);
		temp = 0;
		short_path = given;
		len = make_addr(&vsun, given);
		addr = (const struct sockaddr *)&vsun;
	}
	if (held >= 0) {
		/* a held socket: it takes the place of the program's, flags kept */
		int fdfl = fcntl(fd, F_GETFD), fl = fcntl(fd, F_GETFL), hfl;

		copy_sockopts(fd, held);
		r = dup3(held, fd, (fdfl > 0 && (fdfl & FD_CLOEXEC)) ? O_CLOEXEC : 0);
		err = errno;
		close(held);
		if (r < 0)
			goto out;
		hfl = fcntl(fd, F_GETFL);
		if (fl >= 0 && hfl >= 0)
			fcntl(fd, F_SETFL, (hfl & ~O_NONBLOCK) | (fl & O_NONBLOCK));
		if (shim.debug)
			say("bind '%s': the broker handed back its socket", key);
		entry_mark(short_path, -1, 1, 0);
		ret = 0;
		goto out;
	}
	if (adopted) {
		/* the file is the program's: the mode its own bind would have given */
		if ((mode = native_sock_mode()) >= 0)
			chmod(short_path, (mode_t)mode);
		if (shim.debug)
			say("bind '%s': the broker bound it at '%s'", key, short_path);
	} else if (real_bind(fd, addr, len) < 0) {
		err = errno;
		/* nothing of ours is bound there: leave no entry and no link */
		if ((r = sb_release_flags(c, key, SB_RELEASE_IF_OWNER)) < 0 && r != -ENOENT)
			say("bind '%s': cannot release it after a failed bind: %s", key,
			    sb_strerror(r));
		goto out;
	}
	/* the program's socket, in an entry that goes with it (not a held one) */
	owned = sb_client_lifetime(c) == SB_LIFETIME_OWNER;
	if (opts.type == SOCK_DGRAM) {
		/* no listen to come: ready now (an adopted one is, the broker knows) */
		if (!adopted && (r = sb_bound_async(c, key)) < 0)
			say("bind '%s': cannot tell the broker: %s", key, sb_strerror(r));
		entry_mark(short_path, -1, 1, owned);
	} else
		entry_mark(short_path, fd, 1, owned);
	if (adopted && temp)
		temp_mark(short_path, addr, len);
	ret = 0;
	err = 0;
out:
	if (ret < 0 && c != NULL)
		unbind_again(fd);
	rt_end(&old);
	if (ret < 0)
		errno = err;
	return ret;
}

/* Addresses */

/*
 * A sockaddr_un whose path does not fit sun_path (a program built with a
 * larger buffer): the path as a string, or NULL if it fits. The address is
 * read with user_read (the kernel refused it without reading, for all we
 * know: a bad pointer must not crash).
 */
static const char *
overlong_path(const struct sockaddr *addr, socklen_t len, char *buf, size_t size)
{
	static const size_t max = PATH_MAX + SUN_OFF;
	char copy[PATH_MAX + SUN_OFF];
	ssize_t got;
	size_t n;

	if (len <= sizeof(struct sockaddr_un))
		return NULL;
	if ((got = user_read(addr, copy, (size_t)len < max ? (size_t)len : max)) <= (ssize_t)SUN_OFF)
		return NULL;
	if (((const struct sockaddr *)copy)->sa_family != AF_UNIX)
		return NULL;
	n = strnlen(copy + SUN_OFF, (size_t)got - SUN_OFF);
	if (n <= SBRW_SUN_PATH_MAX || n >= size || copy[SUN_OFF] == '\0' ||
	    n == (size_t)got - SUN_OFF)
		return NULL;	/* fits, too long for us, or no NUL where it could be read */
	memcpy(buf, copy + SUN_OFF, n);
	buf[n] = '\0';
	return buf;
}

static socklen_t
make_addr(struct sockaddr_un *sun, const char *path)
{
	size_t n = strlen(path);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, n);
	return (socklen_t)(SUN_OFF + n + 1);
}

/*
 * If addr is an over-long AF_UNIX address, map it into *sun and point
 * addr and len at it: 1. 0 if it is not one (the caller's errno stays),
 * -1 with errno if it cannot be mapped.
 */
static int
fix_overlong_key(const struct sockaddr **addr, socklen_t *len, struct sockaddr_un *sun,
    const char *what, char *ret_key);

static int
fix_overlong(const struct sockaddr **addr, socklen_t *len, struct sockaddr_un *sun,
    const char *what)
{
	return fix_overlong_key(addr, len, sun, what, NULL);
}

/* The same; ret_key (PATH_MAX bytes, or NULL): the key of a table entry, or "" */
static int
fix_overlong_key(const struct sockaddr **addr, socklen_t *len, struct sockaddr_un *sun,
    const char *what, char *ret_key)
{
	char buf[PATH_MAX], out[SB_SHORT_PATH_SIZE];
	const char *p;
	sigset_t old;
	int r, saved = errno;

	if (ret_key != NULL)
		ret_key[0] = '\0';

	if (inert() || (p = overlong_path(*addr, *len, buf, sizeof(buf))) == NULL) {
		errno = saved;
		return 0;
	}
	if (!own_process()) {
		/* a vfork child: the pure mapping of broker mode, or nothing */
		char key[PATH_MAX];

		if (__atomic_load_n(&shim.mode, __ATOMIC_ACQUIRE) != MODE_BROKER ||
		    sb_key_from_path(p, key, sizeof(key)) < 0 ||
		    sb_short_path(shim.root, key, out, sizeof(out)) < 0) {
			errno = saved;
			return 0;
		}
		r = 0;
	} else {
		struct entry *e;

		lock(&old);
		r = map_locked(p, out, sizeof(out));
		if (r == 0 && ret_key != NULL && mode_locked() == MODE_BROKER &&
		    (e = table_find_locked(out)) != NULL && e->key[0] == '/' &&
		    strlen(e->key) < PATH_MAX)
			strcpy(ret_key, e->key);
		unlock(&old);
	}
	if (r < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (shim.debug)
		say("%s: rewrote '%s' -> '%s'", what, p, out);
	*len = make_addr(sun, out);
	*addr = (const struct sockaddr *)sun;
	return 1;
}

/*
 * Truncations. A program that copies an over-long path into sun_path
 * without checking (spice-server's unix=on addr=, GLib clients) binds or
 * connects to its first 107 or 108 bytes: a different socket, or a
 * directory. The shim knows the over-long paths of the command line, as
 * it got them: an address that is exactly a truncation of one of them is
 * taken for it; one that truncates two different paths fails.
 */

/*
 * Remember the path that starts at p in an argument: up to a single ','
 * (QEMU's ",," is a comma), or in a URI up to its query or fragment.
 */
static void
seen_add(const char *p, int uri)
{
	char buf[PATH_MAX];
	size_t o = 0;

	if (hot.nseen == SEEN_MAX)
		return;
	while (p[0] == '/' && p[1] == '/')
		p++;	/* spice+unix:///P, nbd+unix:///?socket=P */
	for (; *p != '\0' && o + 1 < sizeof(buf); p++) {
		if (*p == ',') {
			if (p[1] != ',')
				break;
			p++;
		} else if (uri && (*p == '?' || *p == '&' || *p == '#'))
			break;
		buf[o++] = *p;
	}
	buf[o] = '\0';
	if (!sbrw_too_long(o) || o + 1 >= sizeof(buf))
		return;
	for (int i = 0; i < hot.nseen; i++)
		if (strcmp(shim.seen[i], buf) == 0)
			return;
	if ((shim.seen[hot.nseen] = strdup(buf)) != NULL)
		hot.nseen++;
}

/* Every absolute path of the command line that is too long for sun_path. */
static void
seen_argv(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && argv[i] != NULL; i++) {
		const char *a = argv[i], *p;
		int uri = strstr(a, "://") != NULL;

		if (strlen(a) <= SBRW_SUN_PATH_MAX)
			continue;
		for (p = a; *p != '\0'; p++)
			if (*p == '/' && (p == a || p[-1] == '=' || p[-1] == ':' || p[-1] == ','))
				seen_add(p, uri);
	}
}

/*
 * The over-long path of which the address path p (n bytes) is exactly a
 * truncation, or NULL; *ret_ambiguous if it truncates two.
 */
static const char *
truncation_of(const char *p, size_t n, int *ret_ambiguous)
{
	const char *found = NULL;
	int i;

	*ret_ambiguous = 0;
	for (i = 0; i < hot.nseen; i++) {
		if (memcmp(shim.seen[i], p, n) != 0)
			continue;
		if (found != NULL) {
			*ret_ambiguous = 1;
			return found;
		}
		found = shim.seen[i];
	}
	return found;
}

/*
 * If addr is a truncation of an over-long path of the command line, map
 * that path into *sun and point addr and len at it. 0, or -1 with errno
 * (ENAMETOOLONG, with a message) when the right socket cannot be known.
 */
static int
fix_truncated(const struct sockaddr **addr, socklen_t *len, struct sockaddr_un *sun,
    const char *what)
{
	const struct sockaddr_un *a = (const struct sockaddr_un *)*addr;
	char out[SB_SHORT_PATH_SIZE];
	const char *full;
	sigset_t old;
	size_t n;
	int amb, r;

	if (__builtin_expect(hot.nseen == 0, 1) || *len <= SUN_OFF + SBRW_SUN_PATH_MAX - 2 ||
	    a->sun_path[0] != '/')
		return 0;
	n = strnlen(a->sun_path, (size_t)*len - SUN_OFF);
	if (n < SBRW_SUN_PATH_MAX - 1 || n > SBRW_SUN_PATH_MAX)
		return 0;	/* only 107 or 108 bytes: what a copy into sun_path leaves */
	if ((full = truncation_of(a->sun_path, n, &amb)) == NULL)
		return 0;
	if (amb) {
		say("%s '%.*s': a %zu-byte truncation of more than one path of the command line "
		    "(one is '%s'): refused, the limit is %d bytes", what, (int)n, a->sun_path, n,
		    full, SBRW_SUN_PATH_MAX);
		errno = ENAMETOOLONG;
		return -1;
	}
	if (!own_process())
		return 0;	/* a vfork child: the parent's table is not its to change */
	lock(&old);
	r = map_locked(full, out, sizeof(out));
	unlock(&old);
	if (r < 0) {
		say("%s '%.*s': a %zu-byte truncation of '%s' (%zu bytes, the limit is %d): refused",
		    what, (int)n, a->sun_path, n, full, strlen(full), SBRW_SUN_PATH_MAX);
		errno = ENAMETOOLONG;
		return -1;
	}
	if (shim.debug)
		say("%s: '%.*s' is a truncation of '%s': rewrote it to '%s'", what, (int)n,
		    a->sun_path, full, out);
	*len = make_addr(sun, out);
	*addr = (const struct sockaddr *)sun;
	return 0;
}

/* The path of an AF_UNIX address as a string (n bytes), or NULL. */
static inline const char *
unix_path(const struct sockaddr *addr, socklen_t len, size_t *ret_n)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)addr;
	size_t max;

	if (len <= SUN_OFF || sun->sun_family != AF_UNIX || sun->sun_path[0] == '\0')
		return NULL;
	max = (size_t)len - SUN_OFF;
	if (max > sizeof(sun->sun_path))
		max = sizeof(sun->sun_path);
	*ret_n = strnlen(sun->sun_path, max);
	return sun->sun_path;
}

/* Copy an address path of n bytes into a string. */
static void
path_copy(char *dst, const char *src, size_t n)
{
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The interposed functions */

/* bind of an address of at most sizeof(sun) bytes, copied: a short path? */
static int
shim_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	char path[SB_SHORT_PATH_SIZE + 1], key[PATH_MAX], sp[SB_SHORT_PATH_SIZE];
	struct entry *e;
	struct stat st;
	const char *p;
	sigset_t old;
	size_t n;
	int bound, temp = 0;

	if ((p = unix_path(addr, len, &n)) == NULL || !under_root(p, n) || !own_process())
		return real_bind(fd, addr, len);
	path_copy(path, p, n);
	lock(&old);
	if ((e = table_find_locked(path)) == NULL && (e = table_find_dir_locked(path)) != NULL)
		temp = 1;
	if (e == NULL || mode_locked() != MODE_BROKER || strlen(e->key) >= sizeof(key)) {
		unlock(&old);
		return real_bind(fd, addr, len);
	}
	strcpy(key, e->key);
	snprintf(sp, sizeof(sp), "%s", e->short_path);
	bound = e->bound && !temp;
	unlock(&old);
	/*
	 * A socket of this process is bound there (a second bind of the same
	 * path): the kernel says EADDRINUSE, as it would at the long path.
	 * Nor is the broker asked for a bind the kernel refuses anyway.
	 */
	if (bound && lstat(path, &st) == 0)
		return real_bind(fd, addr, len);
	switch (bind_refused_anyway(fd)) {
	case 1:
		return real_bind(fd, addr, len);
	case 2:
		/* the kernel's answer once the directory exists (it does natively) */
		errno = EINVAL;
		return -1;
	}
	return broker_bind(fd, key, sp, addr, len, temp);
}

SHIM_EXPORT int
bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct sockaddr_un sun;
	int r, saved = errno;

	resolve();
	if (len > sizeof(sun)) {
		/* the kernel refuses it (EINVAL, or EFAULT): unless it is over-long */
		if ((r = real_bind(fd, addr, len)) == 0 || errno != EINVAL)
			return r;
		errno = saved;
		if ((r = fix_overlong(&addr, &len, &sun, "bind")) <= 0)
			return r < 0 ? -1 : (errno = EINVAL, -1);
		return shim_bind(fd, addr, len);
	}
	if ((!have_entries() && __builtin_expect(hot.nseen == 0, 1)) || addr == NULL ||
	    len <= SUN_OFF)
		return real_bind(fd, addr, len);
	/* a copy: the kernel's EFAULT for a bad pointer, never SIGSEGV */
	memset(&sun, 0, sizeof(sun));
	if (user_read(addr, &sun, len) != (ssize_t)len)
		return real_bind(fd, addr, len);
	if (hot.nseen > 0) {
		const struct sockaddr *a = (const struct sockaddr *)&sun;

		if (fix_truncated(&a, &len, &sun, "bind") < 0)
			return -1;
	}
	return shim_bind(fd, (const struct sockaddr *)&sun, len);
}

/*
 * Tell the broker the entry of key is ready (what: the call, for
 * messages), without waiting for its answer: the program's listen() is
 * not held up by a round trip (bench/README). A refusal of BOUND was only
 * ever reported here, never to the program; now only a failed send is.
 */
static void
tell_bound(const char *key, const char *what)
{
	sb_client *c;
	sigset_t old;
	int r;

	if ((c = rt_begin(&old, &r)) == NULL || (r = sb_bound_async(c, key)) < 0)
		say("%s '%s': cannot tell the broker: %s", what, key, sb_strerror(r));
	rt_end(&old);
}

/* The entry's bind is no longer pending. Under the lock. */
static void
pending_done_locked(struct entry *e)
{
	e->pending_fd = -1;
	e->listening = 0;
	__atomic_sub_fetch(&hot.npending, 1, __ATOMIC_RELEASE);
}

/*
 * After listen: tell the broker the entry is ready. On a temporary name
 * beside the short path, only once the program has linked or renamed it
 * there (now, or at that call).
 */
static void
shim_listened(int fd)
{
	char key[PATH_MAX], name[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);
	struct stat st;
	sigset_t old;
	int i, found = 0;

	if (!own_process())
		return;
	lock(&old);
	for (i = 0; i < TABLE_MAX; i++) {
		struct entry *e = &shim.table[i];

		if (e->key == NULL || e->pending_fd != fd)
			continue;
		/* the fd may have been closed and reused since bind */
		memset(&sun, 0, sizeof(sun));
		if (getsockname(fd, (struct sockaddr *)&sun, &len) < 0 ||
		    strlen(e->key) >= sizeof(key)) {
			pending_done_locked(e);
			break;
		}
		path_copy(name, sun.sun_path, strnlen(sun.sun_path, sizeof(sun.sun_path)));
		if (!same_dir(name, e->short_path)) {
			pending_done_locked(e);
			break;
		}
		if (strcmp(name, e->short_path) != 0 && lstat(e->short_path, &st) < 0) {
			e->listening = 1;
			break;
		}
		pending_done_locked(e);
		strcpy(key, e->key);
		found = 1;
		break;
	}
	unlock(&old);
	if (found)
		tell_bound(key, "listen");
}

SHIM_EXPORT int
listen(int fd, int backlog)
{
	int r;

	resolve();
	r = real_listen(fd, backlog);
	if (r == 0 && __atomic_load_n(&hot.npending, __ATOMIC_ACQUIRE) > 0) {
		int saved = errno;

		shim_listened(fd);
		errno = saved;
	}
	return r;
}

/*
 * link and rename: a server that listens on a temporary name beside its
 * short path and then links or renames it there (OpenSSH's ControlMaster)
 * is ready when that succeeds. The real call comes first: its success
 * proves the pointers good; otherwise the cost is one atomic load.
 */
static void
moved_into_place(int dfd, const char *to)
{
	char key[PATH_MAX];
	struct entry *e;
	sigset_t old;
	int saved = errno, found = 0;

	if ((to[0] != '/' && dfd != AT_FDCWD) || !under_root(to, strlen(to)) || !own_process())
		return;
	lock(&old);
	if ((e = table_find_locked(to)) != NULL && e->pending_fd >= 0 && e->listening &&
	    strlen(e->key) < sizeof(key)) {
		pending_done_locked(e);
		strcpy(key, e->key);
		found = 1;
	}
	unlock(&old);
	if (found)
		tell_bound(key, "link");
	errno = saved;
}

static inline int
moved(int r, int dfd, const char *to)
{
	if (r == 0 && __atomic_load_n(&hot.npending, __ATOMIC_ACQUIRE) > 0)
		moved_into_place(dfd, to);
	return r;
}

SHIM_EXPORT int
link(const char *from, const char *to)
{
	resolve();
	if (temp_moved(AT_FDCWD, from, AT_FDCWD, to, 0) == 0)
		return 0;
	return moved(real_link(from, to), AT_FDCWD, to);
}

SHIM_EXPORT int
linkat(int fdfrom, const char *from, int fdto, const char *to, int flags)
{
	resolve();
	if (temp_moved(fdfrom, from, fdto, to, 0) == 0)
		return 0;
	return moved(real_linkat(fdfrom, from, fdto, to, flags), fdto, to);
}

SHIM_EXPORT int
rename(const char *from, const char *to)
{
	resolve();
	if (temp_moved(AT_FDCWD, from, AT_FDCWD, to, 1) == 0)
		return 0;
	return moved(real_rename(from, to), AT_FDCWD, to);
}

SHIM_EXPORT int
renameat(int fdfrom, const char *from, int fdto, const char *to)
{
	resolve();
	if (temp_moved(fdfrom, from, fdto, to, 1) == 0)
		return 0;
	return moved(real_renameat(fdfrom, from, fdto, to), fdto, to);
}

SHIM_EXPORT int
renameat2(int fdfrom, const char *from, int fdto, const char *to, unsigned flags)
{
	resolve();
	if (temp_moved(fdfrom, from, fdto, to, 1) == 0)
		return 0;
	return moved(real_renameat2(fdfrom, from, fdto, to, flags), fdto, to);
}

/*
 * The long path of the table's short path path, in direct mode's form
 * (/proc/self/fd/N/base), into *sun: where a server in direct mode
 * listens. 1, or 0 if there is none. key: the long path, for messages.
 */
static int
fallback_addr(const char *path, struct sockaddr_un *sun, socklen_t *ret_len, char *key,
    size_t ksize)
{
	char out[SB_SHORT_PATH_SIZE];
	struct entry *e;
	sigset_t old;
	int found = 0;

	if (!own_process())
		return 0;
	lock(&old);
	if ((e = table_find_locked(path)) != NULL && strlen(e->key) < ksize &&
	    direct_path_locked(e->key, out, sizeof(out), 1) == 0) {
		strcpy(key, e->key);
		found = 1;
	}
	unlock(&old);
	if (found)
		*ret_len = make_addr(sun, out);
	return found;
}

/* Nothing at the long path either: the first attempt's errno stands. */
static inline int
nothing_there(int e)
{
	return e == ENOENT || e == ECONNREFUSED || e == ENOTDIR;
}

/*
 * connect to a short path of the table failed: a server in direct mode
 * listens at the long path itself. Try it there. The path is found under
 * the lock; the connect, which may block (a full backlog), is made after
 * it, with the program's own signal mask: a signal interrupts it (EINTR)
 * and its handler may connect too. Where a socket listens at the long
 * path, its errno is the answer (EAGAIN, EINTR, EACCES); where none does,
 * the first one's.
 */
static int
connect_fallback(int fd, const char *path)
{
	char key[PATH_MAX];
	struct sockaddr_un sun;
	socklen_t len;
	int r, err = errno;

	if (!fallback_addr(path, &sun, &len, key, sizeof(key))) {
		errno = err;
		return -1;
	}
	r = real_connect(fd, (struct sockaddr *)&sun, len);
	if (r == 0 && shim.debug)
		say("connect '%s': through '%s'", key, sun.sun_path);
	if (r < 0 && nothing_there(errno))
		errno = err;
	return r;
}

/*
 * Views: the short path of a key is the broker's choice (another uid may
 * have claimed the same string in another mount namespace first), and the
 * link at the long path, in this process's view, says which it is. A
 * connect to a short path of the table goes where that link points if it
 * names one of the key's short paths under the root (one readlink), and
 * nowhere else: no link there is ENOENT, anything else ECONNREFUSED, as
 * the kernel says at the long path. 1 and sun, addr and len set, 0 if addr
 * is no short path of the table (left as it is), -1 with errno.
 */
static int view_link(const char *key, const char *path, const struct sockaddr **addr,
    socklen_t *len, struct sockaddr_un *sun);

static int
view_fix(const struct sockaddr **addr, socklen_t *len, struct sockaddr_un *sun,
    char *path, size_t psize, int local)
{
	char key[PATH_MAX];
	struct sockaddr_un copy;
	struct entry *e;
	const char *p;
	sigset_t old;
	size_t pn;
	int saved = errno;

	/* too short for a short path (no read of the caller's memory): not one */
	if (*len < SUN_OFF + shim.root_len + SB_SHORT_TAIL || *len > sizeof(copy) ||
	    shim.root_len == 0 || !own_process())
		return 0;
	memset(&copy, 0, sizeof(copy));
	if (local)
		memcpy(&copy, *addr, *len);
	else if (user_read(*addr, &copy, *len) != (ssize_t)*len)
		return 0;
	if ((p = unix_path((const struct sockaddr *)&copy, *len, &pn)) == NULL ||
	    !under_root(p, pn) || pn >= psize)
		return 0;
	path_copy(path, p, pn);
	lock(&old);
	if ((e = table_find_locked(path)) == NULL || mode_locked() != MODE_BROKER ||
	    e->key[0] != '/' || strlen(e->key) >= sizeof(key)) {
		unlock(&old);
		return 0;
	}
	strcpy(key, e->key);
	unlock(&old);
	errno = saved;
	return view_link(key, path, addr, len, sun);
}

/* The link part of view_fix: path is a short path of key in the table. */
static int
view_link(const char *key, const char *path, const struct sockaddr **addr, socklen_t *len,
    struct sockaddr_un *sun)
{
	char target[SB_SHORT_PATH_SIZE + 1];
	struct stat st;
	ssize_t n;
	int saved = errno;

	n = readlink(key, target, sizeof(target));
	if (n > 0 && (size_t)n < sizeof(target)) {
		target[n] = '\0';
		/* the table's own short path of the key (the common case) needs no hash */
		if (strcmp(target, path) == 0 || sb_short_path_view_of(shim.root, key, target) >= 0) {
			if (strcmp(target, path) != 0) {
				if (shim.debug)
					say("connect '%s': its link names '%s'", key, target);
				*len = make_addr(sun, target);
				*addr = (const struct sockaddr *)sun;
			}
			errno = saved;
			return 1;
		}
	}
	/* the kernel's answer at the long path: nothing there, no right, or no socket */
	if (n >= 0 || errno == EINVAL)
		errno = ECONNREFUSED;
	else if (errno == ENOENT && lstat(key, &st) == 0)
		errno = ECONNREFUSED;
	if (shim.debug)
		say("connect '%s': no link to one of its short paths there: %s", key,
		    strerror(errno));
	return -1;
}

SHIM_EXPORT int
connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	char path[SB_SHORT_PATH_SIZE + 1], key[PATH_MAX];
	struct sockaddr_un sun;
	const char *p;
	size_t n;
	int r, saved = errno;

	resolve();
	/*
	 * A truncation of a long path of the command line (rare: only with
	 * such paths) is mapped before the kernel connects it elsewhere.
	 */
	if (__builtin_expect(hot.nseen > 0, 0) && len > SUN_OFF && len <= sizeof(sun) &&
	    (memset(&sun, 0, sizeof(sun)), user_read(addr, &sun, len)) == (ssize_t)len) {
		const struct sockaddr *a = (const struct sockaddr *)&sun;

		if (fix_truncated(&a, &len, &sun, "connect") < 0)
			return -1;
		if (a == (const struct sockaddr *)&sun)
			addr = a;
	}
	if (have_entries()) {
		char vpath[SB_SHORT_PATH_SIZE + 1];

		if ((r = view_fix(&addr, &len, &sun, vpath, sizeof(vpath), 0)) < 0)
			return connect_fallback(fd, vpath);
	}
	/* the kernel first: it refuses an over-long address with EINVAL */
	r = real_connect(fd, addr, len);
	if (r == 0)
		return r;
	if (errno == EINVAL && len > sizeof(sun)) {
		int err = errno;

		errno = saved;
		if ((r = fix_overlong_key(&addr, &len, &sun, "connect", key)) <= 0) {
			if (r == 0)
				errno = err;
			return -1;
		}
		if (key[0] != '\0') {
			/* a short path of the table: where the link of this view points */
			char vpath[SB_SHORT_PATH_SIZE + 1];
			struct sockaddr_un vsun;

			path_copy(vpath, sun.sun_path, strnlen(sun.sun_path, sizeof(sun.sun_path)));
			if (view_link(key, vpath, &addr, &len, &vsun) < 0)
				return connect_fallback(fd, vpath);
			if (addr == (const struct sockaddr *)&vsun) {
				sun = vsun;
				addr = (const struct sockaddr *)&sun;
			}
		}
		if ((r = real_connect(fd, addr, len)) == 0)
			return r;
	}
	if ((errno != ENOENT && errno != ECONNREFUSED) || !have_entries() || len <= SUN_OFF)
		return -1;
	/* the kernel read the address: it is readable */
	if (addr != (const struct sockaddr *)&sun) {
		int err = errno;

		memset(&sun, 0, sizeof(sun));
		if (user_read(addr, &sun, len < sizeof(sun) ? len : sizeof(sun)) <= (ssize_t)SUN_OFF) {
			errno = err;
			return -1;
		}
		if (len > sizeof(sun))
			len = sizeof(sun);
	}
	if ((p = unix_path((const struct sockaddr *)&sun, len, &n)) == NULL || !under_root(p, n))
		return -1;
	path_copy(path, p, n);
	return connect_fallback(fd, path);
}

/*
 * The destination of a datagram to an over-long address, as connect
 * finds it: the short path the link at the long path names in this view,
 * or, where it names none, the long path itself (direct mode's form).
 * 0: not over-long (the caller's errno is the answer); 1: *addr and *len
 * set; 2: set to the long path, and *ret_err is the errno if nothing is
 * there either; -1 with errno.
 */
static int
send_dest(const struct sockaddr **addr, socklen_t *len, struct sockaddr_un *sun,
    const char *what, int *ret_err)
{
	char key[PATH_MAX], vpath[SB_SHORT_PATH_SIZE + 1];
	struct sockaddr_un vsun;
	int r;

	if ((r = fix_overlong_key(addr, len, sun, what, key)) <= 0 || key[0] == '\0')
		return r;
	path_copy(vpath, sun->sun_path, strnlen(sun->sun_path, sizeof(sun->sun_path)));
	if (view_link(key, vpath, addr, len, &vsun) < 0) {
		*ret_err = errno;
		if (!fallback_addr(vpath, sun, len, key, sizeof(key))) {
			errno = *ret_err;
			return -1;
		}
		*addr = (const struct sockaddr *)sun;
		return 2;
	}
	if (*addr == (const struct sockaddr *)&vsun) {
		*sun = vsun;
		*addr = (const struct sockaddr *)sun;
	}
	return 1;
}

SHIM_EXPORT ssize_t
sendto(int fd, const void *buf, size_t size, int flags, const struct sockaddr *addr,
    socklen_t len)
{
	struct sockaddr_un sun;
	ssize_t n;
	int r, err, verr = 0, saved = errno;

	resolve();
	/* the kernel first: it refuses an over-long address with EINVAL */
	if ((n = real_sendto(fd, buf, size, flags, addr, len)) >= 0 || errno != EINVAL ||
	    addr == NULL || len <= sizeof(sun))
		return n;
	err = errno;
	errno = saved;
	if ((r = send_dest(&addr, &len, &sun, "sendto", &verr)) <= 0) {
		if (r == 0)
			errno = err;
		return -1;
	}
	n = real_sendto(fd, buf, size, flags, addr, len);
	if (n < 0 && r == 2 && nothing_there(errno))
		errno = verr;
	return n;
}

SHIM_EXPORT ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
	const struct sockaddr *addr;
	struct sockaddr_un sun;
	struct msghdr copy;
	socklen_t len;
	ssize_t n;
	int r, err, verr = 0, saved = errno;

	resolve();
	/* the kernel first: EINVAL for an over-long address, and it read msg */
	if ((n = real_sendmsg(fd, msg, flags)) >= 0 || errno != EINVAL || msg == NULL)
		return n;
	err = errno;
	if (user_read(msg, &copy, sizeof(copy)) != (ssize_t)sizeof(copy) ||
	    copy.msg_name == NULL || copy.msg_namelen <= sizeof(sun)) {
		errno = err;
		return -1;
	}
	addr = copy.msg_name;
	len = copy.msg_namelen;
	errno = saved;
	if ((r = send_dest(&addr, &len, &sun, "sendmsg", &verr)) <= 0) {
		if (r == 0)
			errno = err;
		return -1;
	}
	copy.msg_name = (void *)addr;
	copy.msg_namelen = len;
	n = real_sendmsg(fd, &copy, flags);
	if (n < 0 && r == 2 && nothing_there(errno))
		errno = verr;
	return n;
}

/* Release key (the unlink of its path): a round trip, no table lock. */
static int
release_key(const char *key, unsigned flags)
{
	sb_client *c;
	sigset_t old;
	int r;

	if ((c = rt_begin(&old, &r)) != NULL)
		r = sb_release_flags(c, key, flags);
	rt_end(&old);
	return r;
}

/*
 * Release key without waiting for the broker (the reply is dropped at the
 * next call): the unlink of an entry whose fate is known already. The
 * broker handles this connection's requests in order, so a bind of the
 * path again, by this process, comes after the release.
 */
static int
release_key_async(const char *key, unsigned flags, int remove_link)
{
	sb_client *c;
	sigset_t old;
	int r;

	if ((c = rt_begin(&old, &r)) != NULL)
		r = sb_release_async(c, key, flags, remove_link);
	rt_end(&old);
	return r;
}

/*
 * The key of the table entry of path (short, or a long path): 1, or 0;
 * *ret_owned (if not NULL): whether it was an owner entry of this
 * process's socket. The entry is no longer bound (its unlink comes).
 */
static int
entry_key(const char *path, int is_long, char *key, size_t size, int *ret_owned)
{
	char kbuf[PATH_MAX];
	struct entry *e = NULL;
	sigset_t old;
	int found = 0;

	lock(&old);
	if (!is_long)
		e = table_find_locked(path);
	else if (sb_key_from_path(path, kbuf, sizeof(kbuf)) == 0)
		e = table_find_key_locked(kbuf);
	if (e != NULL && mode_locked() == MODE_BROKER && strlen(e->key) < size) {
		strcpy(key, e->key);
		if (ret_owned != NULL)
			*ret_owned = e->owned;	/* only ever set with bound */
		e->bound = 0;
		e->owned = 0;
		found = 1;
	}
	unlock(&old);
	return found;
}

/*
 * After the unlink of a long path that is no entry of this process: was
 * it another process's link (rm LONG)? Then release that owner entry, as
 * the server's own unlink would (the broker checks that the caller may);
 * clients must not keep reaching a socket whose name is gone.
 */
static void
foreign_unlinked(const char *path)
{
	char key[PATH_MAX], sp[SB_SHORT_PATH_SIZE];
	struct stat st;
	sigset_t old;
	int ok, r;

	if (inert() || sb_key_from_path(path, key, sizeof(key)) < 0 || !own_process())
		return;
	lock(&old);
	ok = mode_locked() == MODE_BROKER && shim.root_len > 0 &&
	    sb_short_path(shim.root, key, sp, sizeof(sp)) == 0;
	unlock(&old);
	if (!ok || lstat(sp, &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	if ((r = release_key(key, SB_RELEASE_IF_OWNER)) < 0 && r != -ENOENT && r != -EBUSY)
		say("unlink '%s': cannot release it: %s", key, sb_strerror(r));
	else if (shim.debug && r == 0)
		say("released '%s'", key);
}

/*
 * After the real unlink of a short path, or of a long path the shim knows
 * (a program that bound it with a larger buffer): release its entry. The
 * unlink is done, whatever the broker answers (the link at a long path is
 * gone, its socket unreachable): the release is not waited for.
 */
static void
shim_unlinked(const char *path, int is_long)
{
	char key[PATH_MAX];
	int r;

	if (!entry_key(path, is_long, key, sizeof(key), NULL)) {
		if (is_long)
			foreign_unlinked(path);
		return;
	}
	if ((r = release_key_async(key, 0, !is_long)) < 0)
		say("unlink '%s': cannot release it: %s", key, sb_strerror(r));
	else if (shim.debug)
		say("released '%s'", key);
}

static void
unlinked(const char *path)
{
	size_t n = strlen(path);
	int saved = errno;

	if (under_root(path, n))
		shim_unlinked(path, 0);
	else if (sbrw_too_long(n))
		shim_unlinked(path, 1);
	errno = saved;
}

enum { UNLINK_HELD = 1, UNLINK_RELEASED, UNLINK_GONE, UNLINK_DENIED };

/*
 * May this process still remove the link at the long path key? Not QEMU
 * after -runas dropped it to a user who may not write root's directory
 * (Incus): released now, the entry would leave its link dangling there.
 * Such an unlink fails with EACCES, as it would at the long path, and the
 * broker removes entry and link when the process exits.
 */
static int
may_remove_link(const char *key)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(key, '/');
	size_t n;

	if (slash == NULL || (n = (size_t)(slash - key)) == 0 || n >= sizeof(dir))
		return 1;
	memcpy(dir, key, n);
	dir[n] = '\0';
	return faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0 || errno != EACCES;
}

/*
 * Before the real unlink of a short path the shim handed out, ask the
 * broker to release the entry if it is an owner entry (the broker removes
 * its socket). A held entry's socket stays for the next server, with its
 * queue: swtpm and QEMU unlink their path before they bind, and the bind
 * then gets the held socket back. An owner entry of this process's own
 * socket (the broker said so at bind) is released without waiting: the
 * broker removes its socket, the link at the long path goes now. Returns
 * UNLINK_HELD (the unlink is a no-op that succeeds), UNLINK_RELEASED,
 * UNLINK_GONE (released, not waited for: nothing left to unlink),
 * UNLINK_DENIED (EACCES: the process may not remove the link), or 0 (not
 * the broker's).
 */
static int
before_unlink(const char *path)
{
	char key[PATH_MAX];
	struct stat st;
	int r, ret = 0, owned = 0, saved = errno;

	if (!under_root(path, strlen(path)) || !entry_key(path, 0, key, sizeof(key), &owned))
		return 0;
	/*
	 * Nothing there (the unlink of a stale socket before the first bind:
	 * swtpm, QEMU, socat's unlink-early): no entry's socket to release,
	 * and the real unlink says ENOENT, as it would. The broker's socket
	 * of a held or bound entry is always a file at its short path.
	 */
	if (!owned && lstat(path, &st) < 0 && (errno == ENOENT || errno == ENOTDIR)) {
		errno = saved;
		return 0;
	}
	if (!may_remove_link(key)) {
		if (shim.debug)
			say("unlink '%s': may not remove its link: the entry goes when this "
			    "process does", key);
		errno = saved;
		return UNLINK_DENIED;
	}
	if (owned && release_key_async(key, SB_RELEASE_IF_OWNER, 1) == 0) {
		if (shim.debug)
			say("unlink '%s': released", key);
		errno = saved;
		return UNLINK_GONE;
	}
	r = release_key(key, SB_RELEASE_IF_OWNER);
	if (r == -EBUSY)
		ret = UNLINK_HELD;
	else if (r == 0)
		ret = UNLINK_RELEASED;
	if (shim.debug && ret != 0)
		say("unlink '%s': %s", key, ret == UNLINK_HELD ?
		    "held by the broker: its socket stays" : "released");
	errno = saved;
	return ret;
}

/*
 * The unlink of path, real or not, as before_unlink() decided. Only with
 * entries in the table; path is the caller's, copied first (a bad pointer
 * gets the kernel's EFAULT).
 */
static int
shim_unlink(const char *path, int (*real)(void *, const char *), void *arg)
{
	char copy[PATH_MAX];
	int how, saved = errno, r;

	if (user_path(path, copy, sizeof(copy)) < 0 || !own_process())
		return real(arg, path);
	if (__atomic_load_n(&hot.ntemp, __ATOMIC_ACQUIRE) > 0 && copy[0] == '/' &&
	    temp_is(copy, NULL, 1)) {
		/* a temporary name the broker never made: gone already */
		errno = saved;
		return 0;
	}
	how = before_unlink(copy);
	if (how == UNLINK_HELD || how == UNLINK_GONE) {
		errno = saved;
		return 0;
	}
	if (how == UNLINK_DENIED) {
		errno = EACCES;
		return -1;
	}
	r = real(arg, path);
	if (how == UNLINK_RELEASED) {
		/* the broker removed the socket already: that is the unlink */
		if (r < 0 && errno == ENOENT) {
			errno = saved;
			r = 0;
		}
		return r;
	}
	if (r == 0)
		unlinked(copy);
	return r;
}

static int
call_unlink(void *arg, const char *path)
{
	(void)arg;
	return real_unlink(path);
}

static int
call_unlinkat(void *arg, const char *path)
{
	const int *a = arg;

	return real_unlinkat(a[0], path, a[1]);
}

/* An unlink without entries succeeded: was path (a good pointer) long? */
static inline int
unlinked_plain(int r, int dfd, const char *path)
{
	if (r == 0 && (path[0] == '/' || dfd == AT_FDCWD) && sbrw_too_long(strlen(path))) {
		int saved = errno;

		foreign_unlinked(path);
		errno = saved;
	}
	return r;
}

SHIM_EXPORT int
unlink(const char *path)
{
	resolve();
	if (!have_entries())
		return unlinked_plain(real_unlink(path), AT_FDCWD, path);
	return shim_unlink(path, call_unlink, NULL);
}

SHIM_EXPORT int
unlinkat(int dfd, const char *path, int flags)
{
	int a[2] = { dfd, flags };
	char c;

	resolve();
	if (!have_entries())
		return flags != 0 ? real_unlinkat(dfd, path, flags) :
		    unlinked_plain(real_unlinkat(dfd, path, flags), dfd, path);
	if (flags != 0 || user_read(path, &c, 1) != 1 || (c != '/' && dfd != AT_FDCWD))
		return real_unlinkat(dfd, path, flags);
	return shim_unlink(path, call_unlinkat, a);
}

/* Start: configuration and the command line */

static void
fork_prepare(void)
{
	signals_block(&fork_mask);
	pthread_mutex_lock(&shim.lock);
}

static void
fork_parent(void)
{
	pthread_mutex_unlock(&shim.lock);
	signals_restore(&fork_mask);
}

static void
fork_child(void)
{
	/*
	 * The lock was held across fork by this thread: release it. The
	 * library notices the new pid and makes its own connection. A round
	 * trip of another thread was under way: its locks stay taken in this
	 * copy, so the child forgets that client and makes its own.
	 */
	__atomic_store_n(&shim_pid, getpid(), __ATOMIC_RELEASE);
	if (__atomic_load_n(&shim.rt_busy, __ATOMIC_ACQUIRE) > 0) {
		abandoned = shim.client;
		shim.client = NULL;
		shim.rt_busy = 0;
		pthread_mutex_init(&rt_lock, NULL);
	}
	pthread_mutex_unlock(&shim.lock);
	signals_restore(&fork_mask);
}

static enum mode
parse_mode(const char *s)
{
	if (s == NULL || s[0] == '\0' || strcmp(s, "auto") == 0)
		return MODE_AUTO;
	if (strcmp(s, "broker") == 0)
		return MODE_BROKER;
	if (strcmp(s, "direct") == 0)
		return MODE_DIRECT;
	say("SOCKBROKER_MODE='%s' is not broker, direct or auto: using auto", s);
	return MODE_AUTO;
}

/*
 * The environment and the root, at the first need (under the lock, or in
 * the constructor): a program with nothing to rewrite never gets here.
 */
static void
configure(void)
{
	const char *s, *root;
	size_t len;

	shim.configured = 1;
	s = sb_getenv("SOCKBROKER_DEBUG");
	shim.debug = s != NULL && s[0] != '\0' && strcmp(s, "0") != 0;
	shim.want = parse_mode(sb_getenv("SOCKBROKER_MODE"));
	s = sb_getenv("SOCKBROKER_ROOT");
	shim.may_use_system = (s == NULL || s[0] == '\0') && geteuid() != 0;
	/* the default root, trimmed as the library and the broker trim it */
	if (sb_root_get(NULL, shim.root, &root, &len) == 0 && len <= SB_ROOT_MAX) {
		shim.root[len] = '\0';
		shim.root_len = len;
	} else {
		shim.root_len = 0;
		if (shim.want == MODE_BROKER)
			say("the broker root '%s' is not usable (an absolute path of at most %d bytes)",
			    shim.root, SB_ROOT_MAX);
	}
}

/*
 * The command line: the rules for this program (SOCKBROKER_REWRITE, then
 * the rule files), the rewrite, and the argument area made contiguous
 * again so that /proc/PID/cmdline shows no fragment of a long path. Only
 * when an argument is long enough to hold an over-long path (or is a
 * -readconfig): a program with nothing to rewrite costs no system call
 * but the constructor's getpid.
 */
static void
rules_error(void *ctx, const char *msg)
{
	(void)ctx;
	say("%s", msg);
}

static void
report(void *ctx, const struct sbrw_event *ev)
{
	(void)ctx;
	if (!shim.debug)
		return;
	if (ev->short_path != NULL)
		say("rewrote '%s' -> '%s' (%s, %s)", ev->long_path, ev->short_path,
		    ev->rule != NULL ? ev->rule->origin : "an existing socket",
		    sbrw_role_name(ev->role));
	else
		say("left argument %d '%.400s%s' alone: %s%s%s%s", ev->argi, ev->arg,
		    strlen(ev->arg) > 400 ? "..." : "", ev->why,
		    ev->rule != NULL ? " (" : "", ev->rule != NULL ? ev->rule->origin : "",
		    ev->rule != NULL ? ")" : "");
}

/* Are argv[0..argc-1] one after the other, as the kernel laid them out? */
static char *
args_end(int argc, char **argv)
{
	int i;

	for (i = 0; i + 1 < argc; i++)
		if (argv[i] == NULL || argv[i + 1] != argv[i] + strlen(argv[i]) + 1)
			return NULL;
	return argc > 0 && argv[argc - 1] != NULL ? argv[argc - 1] + strlen(argv[argc - 1]) + 1 :
	    NULL;
}

/* Close the gaps a rewrite left and zero the freed end of the area. */
static void
args_compact(int argc, char **argv, char *end)
{
	char *start = argv[0], *w = argv[0] + strlen(argv[0]) + 1;
	size_t n;
	int i;

	for (i = 1; i < argc; i++) {
		if (argv[i] < start || argv[i] >= end)
			continue;	/* replaced by the -readconfig hook */
		n = strlen(argv[i]) + 1;
		memmove(w, argv[i], n);
		argv[i] = w;
		w += n;
	}
	memset(w, 0, (size_t)(end - w));
}

/*
 * -readconfig FILE, as a qemu-config rule names it (readconfig.c: the
 * file's socket paths rewritten into a sealed memfd, /proc/self/fd/N).
 */
static int
readconfig_hook(void *ctx, char **argp, sbrw_map_fn map, void *map_ctx)
{
	char *v[] = { (char *)"qemu-system-", (char *)"-readconfig", *argp, NULL };
	int n;

	(void)ctx;
	if ((n = sbrc_argv(3, v, map, map_ctx, readconfig_failed)) > 0)
		*argp = v[2];
	return n;
}

static void
rewrite_cmdline(int argc, char **argv)
{
	static struct sbrw_rules rules;	/* 23 KiB: not on the stack */
	const struct sbrw_ops ops = { map_argv, report, readconfig_hook, sbrw_stat_is_socket, NULL };
	const char *prog, *spec;
	char *end;

	if (argv == NULL || argc < 2 || !sbrw_candidates(argc, argv))
		return;
	if (!shim.configured)
		configure();	/* SOCKBROKER_DEBUG, for the reports */
	prog = sbrw_program(argv[0]);
	rules.n = 0;
	if ((spec = sb_getenv("SOCKBROKER_REWRITE")) != NULL)
		sbrw_rules_add_text(&rules, prog, spec, strlen(spec), 1, "SOCKBROKER_REWRITE",
		    rules_error, NULL);
	sbrw_rules_load(&rules, prog, sbrw_dirs(), rules_error, NULL);
	if (rules.dropped > 0)
		say("%s: more than %d rules apply: %d ignored", prog, SBRW_RULES_MAX,
		    rules.dropped);
	end = args_end(argc, argv);
	if (sbrw_argv(argc, argv, &rules, &ops) > 0 && end != NULL)
		args_compact(argc, argv, end);
}

/*
 * The fork handlers. pthread_atfork() is a static function of glibc's
 * libc_nonshared.a, linked at the end of the shim's text, a page of its
 * own that every process faulted in for it alone: what it calls, called
 * here (glibc's ABI since 2.3.2).
 */
#ifdef __GLIBC__
extern void	*__dso_handle __attribute__((visibility("hidden")));	/* the shim's own */
extern int	 __register_atfork(void (*)(void), void (*)(void), void (*)(void), void *);
#endif

static void
at_fork(void)
{
#ifdef __GLIBC__
	__register_atfork(fork_prepare, fork_parent, fork_child, __dso_handle);
#else
	pthread_atfork(fork_prepare, fork_parent, fork_child);
#endif
}

/*
 * SOCKBROKER_SHIM_KEYS if it is not empty, else NULL: what getenv() would
 * say (the program is not in secure mode here: inert()), read from environ
 * without a call: in most processes the constructor's only use of libc's
 * environment code, a page fault and a lazy binding of their own. The
 * name is in .data, beside the counts, for the page fault .rodata would
 * cost.
 */
static char keys_env_name[] SHIM_HOT = KEYS_ENV "=";

static const char *
keys_inherited(void)
{
	const char *p, *q;
	char **e;

	for (e = environ; e != NULL && *e != NULL; e++) {
		for (p = *e, q = keys_env_name; *q != '\0' && *p == *q; p++, q++)
			;
		if (*q == '\0')
			return *p != '\0' ? p : NULL;	/* the first of the name, as getenv() */
	}
	return NULL;
}

/*
 * Before main: the pid and the fork handlers always (a vfork child must
 * never be the first to claim the pid); the real symbols, the lock, the
 * inherited keys and the command line only when there is something to
 * do. Most programs have neither an inherited key nor an argument long
 * enough to hold an over-long path: for them the constructor resolves
 * nothing (each interposed call resolves the real symbols at its first
 * use) and writes one word of the shim's memory, so that preloading the
 * shim costs what preloading an empty library costs, and a few page
 * faults more (bench/README, figure 8b).
 */
__attribute__((constructor)) static void
init(int argc, char **argv, char **envp)
{
	const char *keys;

	(void)envp;	/* as the process started: an earlier constructor may have changed it */
	if (inert())
		return;	/* the real calls only, resolved at their first use */
	own_process();	/* this pid, before any vfork child can claim it */
	at_fork();
	keys = keys_inherited();
	if (keys == NULL && (argv == NULL || argc < 2 || !sbrw_candidates(argc, argv)))
		return;
	resolve();
	pthread_mutex_lock(&shim.lock);
	shim.in_init = 1;
	keys_inherit(keys);	/* read once: nothing sets the environment in between */
	if (argv != NULL) {
		seen_argv(argc, argv);
		rewrite_cmdline(argc, argv);
	}
	shim.in_init = 0;
	if (shim.keys_env != NULL) {
		setenv(KEYS_ENV, shim.keys_env, 1);
		free(shim.keys_env);
		shim.keys_env = NULL;
		shim.keys_len = 0;
	}
	pthread_mutex_unlock(&shim.lock);
}
