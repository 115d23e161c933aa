/* SPDX-License-Identifier: ISC */
/*
 * state-stubs.c: what a file of the broker built into a unit test (the
 * journal, the entry table, linkrm.c, reexec.c) needs of the rest of it,
 * for check_state, check_linkrm, check_reexec and fuzz_state: the config,
 * logging into a buffer, persons, no event loop.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brokerd.h"
#include "state-stubs.h"

struct config cfg;
char stub_log[65536];
size_t stub_log_len;

static void
logv(const char *fmt, va_list ap)
{
	int n;

	if (stub_log_len >= sizeof(stub_log) - 1)
		return;
	n = vsnprintf(stub_log + stub_log_len, sizeof(stub_log) - stub_log_len - 1, fmt, ap);
	if (n < 0)
		return;
	stub_log_len += (size_t)n;
	if (stub_log_len > sizeof(stub_log) - 2)
		stub_log_len = sizeof(stub_log) - 2;
	stub_log[stub_log_len++] = '\n';
	stub_log[stub_log_len] = '\0';
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	logv(fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	logv(fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	(void)fmt;
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	abort();
}

void
stub_log_clear(void)
{
	stub_log_len = 0;
	stub_log[0] = '\0';
}

/* uids 200000 to 265535 are uid 1000's subordinate range; any other is its own */
uid_t
person_of(uid_t uid)
{
	return uid >= 200000 && uid < 265536 ? 1000 : uid;
}

void
person_name(uid_t uid, char *buf, size_t size)
{
	snprintf(buf, size, "uid %lu", (unsigned long)uid);
}
