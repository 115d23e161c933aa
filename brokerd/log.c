/* SPDX-License-Identifier: ISC */
/*
 * log.c: the broker's log, on stderr.
 *
 * When stderr is the journal (systemd sets JOURNAL_STREAM to the device and
 * inode of the stream it connected, see systemd.exec(5)), every line starts
 * with its priority as sd-daemon(3) defines it ("<3>" error ... "<7>"
 * debug) and without "sockbrokerd: ", which the journal already records as
 * the identifier. Anywhere else (a terminal, s6-log, a file) a line reads
 * "sockbrokerd: warning: ...". Control characters in a line become '?':
 * a key cannot forge a line.
 *
 * Refusals (permission, quota, caps) are logged at info level, each with
 * the uid, the request, the key and the rule in its message, but at most
 * REFUSAL_BURST per uid and REFUSAL_GLOBAL in all per REFUSAL_WINDOW
 * seconds; what is left out is counted and said once the window is over
 * (server.c runs log_refusals_flush() then, when log_refusal() said so).
 * The state is a fixed table: a flood of refusals from any number of uids
 * costs a few hundred bytes and a clock read each.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "brokerd.h"

/* sd-daemon.h's SD_ERR ... SD_DEBUG, without including it */
#define PRI_ERR		3
#define PRI_WARNING	4
#define PRI_INFO	6
#define PRI_DEBUG	7

#define REFUSAL_WINDOW	10	/* seconds */
#define REFUSAL_BURST	3	/* lines per uid per window */
#define REFUSAL_GLOBAL	20	/* lines of all uids per window */
#define REFUSAL_SLOTS	64	/* uids remembered (direct-mapped) */

static int journal;		/* stderr is the journal's stream */

struct refusal_slot {
	uid_t		 uid;
	int		 used;
	int64_t		 window;	/* start, monotonic seconds */
	unsigned	 logged;
	unsigned	 dropped;
};

static struct refusal_slot slots[REFUSAL_SLOTS];
static struct {
	int64_t		 window;
	unsigned	 logged;
	unsigned	 dropped;
} global;

/* Is stderr the stream systemd named in JOURNAL_STREAM ("DEV:INO")? */
static int
stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char c;

	if (env == NULL || sscanf(env, "%llu:%llu%c", &dev, &ino, &c) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void
log_init(void)
{
	journal = stderr_is_journal();
}

static void vlog(int pri, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
vlog(int pri, const char *fmt, va_list ap)
{
	static const char *const word[] = {
		[PRI_ERR] = "fatal: ", [PRI_WARNING] = "warning: ", [PRI_INFO] = "",
		[PRI_DEBUG] = "debug: ",
	};
	char buf[1024];
	size_t i;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	for (i = 0; buf[i] != '\0'; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	if (journal)
		fprintf(stderr, "<%d>%s\n", pri, buf);
	else
		fprintf(stderr, "sockbrokerd: %s%s\n", word[pri], buf);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(PRI_INFO, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(PRI_WARNING, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!cfg.verbose)
		return;
	va_start(ap, fmt);
	vlog(PRI_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(PRI_ERR, fmt, ap);
	va_end(ap);
	exit(EXIT_SYSTEM);
}

static int64_t
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/*
 * Say what a slot left out, if anything, within the global budget (uids
 * taking turns in one slot must not flood the log with these either); empty
 * the slot.
 */
static void
slot_flush(struct refusal_slot *s)
{
	if (s->used && s->dropped > 0 && global.logged < REFUSAL_GLOBAL) {
		global.logged++;
		log_info("%u more refusals of uid %lu not logged (at most %d in %d s)",
		    s->dropped, (unsigned long)s->uid, REFUSAL_BURST, REFUSAL_WINDOW);
	} else if (s->used)
		global.dropped += s->dropped;
	s->dropped = 0;
	s->logged = 0;
}

/* May a refusal of uid be logged now? Counts it either way. */
static int
refusal_allowed(uid_t uid)
{
	struct refusal_slot *s = &slots[(uid * 2654435761u) % REFUSAL_SLOTS];
	int64_t now = now_s();

	if (now - global.window >= REFUSAL_WINDOW) {
		if (global.dropped > 0)
			log_info("%u more refusals not logged (at most %d in %d s)",
			    global.dropped, REFUSAL_GLOBAL, REFUSAL_WINDOW);
		global.window = now;
		global.logged = global.dropped = 0;
	}
	if (!s->used || s->uid != uid || now - s->window >= REFUSAL_WINDOW) {
		slot_flush(s);
		s->used = 1;
		s->uid = uid;
		s->window = now;
	}
	if (s->logged >= REFUSAL_BURST) {
		s->dropped++;
		return 0;
	}
	if (global.logged >= REFUSAL_GLOBAL) {
		global.dropped++;
		return 0;
	}
	s->logged++;
	global.logged++;
	return 1;
}

/* Is err a refusal an operator wants to see (rights, quotas, caps)? */
static int
is_policy(int err)
{
	switch (err) {
	case EACCES: case EPERM: case EDQUOT: case ENOSPC: case EUSERS: case EMFILE:
	case ENFILE: case EAGAIN:
		return 1;
	default:
		return 0;
	}
}

int
log_refusal(uid_t uid, pid_t pid, const char *what, int err, const char *msg)
{
	const char *name = strerrorname_np(err);
	char who[64];

	if (uid == (uid_t)-1)
		snprintf(who, sizeof(who), "a client (uid unknown)");
	else
		snprintf(who, sizeof(who), "uid %lu pid %ld", (unsigned long)uid, (long)pid);
	if (!is_policy(err)) {
		log_debug("refused %s %s: %s (%s)", who, what, msg, name ? name : "?");
		return 0;
	}
	if (!refusal_allowed(uid))
		return 1;
	log_info("refused %s %s: %s (%s)", who, what, msg, name ? name : "?");
	return 0;
}

/* Say what the windows that are over left out (a timer of server.c). */
void
log_refusals_flush(void)
{
	int64_t now = now_s();
	size_t i;

	for (i = 0; i < REFUSAL_SLOTS; i++)
		if (slots[i].used && slots[i].dropped > 0 && now - slots[i].window >= REFUSAL_WINDOW)
			slot_flush(&slots[i]);
	if (global.dropped > 0 && now - global.window >= REFUSAL_WINDOW) {
		log_info("%u more refusals not logged (at most %d in %d s)", global.dropped,
		    REFUSAL_GLOBAL, REFUSAL_WINDOW);
		global.window = now;
		global.logged = global.dropped = 0;
	}
}

/* Seconds after which log_refusals_flush() has something to say. */
unsigned
log_refusals_window(void)
{
	return REFUSAL_WINDOW;
}
