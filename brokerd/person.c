/* SPDX-License-Identifier: ISC */
/*
 * person.c: which uids are one person, for quotas.
 *
 * A user with a subordinate uid range (/etc/subuid: "name-or-uid:start:count",
 * rootless containers) has thousands of uids; per-uid quotas would not bound
 * that person. Every uid of such a range is charged to its owner. The file
 * is read once, at start (a re-exec reads it again); names are looked up in
 * /etc/passwd itself, never through NSS (which may block on the network):
 * a range whose owner is known only to NSS is charged to itself.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brokerd.h"

#define RANGES_MAX	65536

struct range {
	uint32_t	 start, count;
	uid_t		 owner;
};

static struct range	*ranges;
static size_t		 nranges;

/* The uid of name in /etc/passwd (not NSS); -1 if none. */
static long
passwd_uid(const char *name)
{
	char line[1024], *p, *q;
	long uid = -1;
	FILE *f;

	if ((f = fopen("/etc/passwd", "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((p = strchr(line, ':')) == NULL)
			continue;
		*p = '\0';
		if (strcmp(line, name) != 0)
			continue;
		/* name:password:uid: */
		if ((p = strchr(p + 1, ':')) != NULL && (q = strchr(p + 1, ':')) != NULL) {
			*q = '\0';
			uid = strtol(p + 1, NULL, 10);
		}
		break;
	}
	fclose(f);
	return uid;
}

static int
range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

void
persons_load(const char *path)
{
	char line[1024], *name, *s, *c, *end;
	unsigned long start, count;
	struct range *r;
	long owner;
	FILE *f;

	free(ranges);
	ranges = NULL;
	nranges = 0;
	if ((f = fopen(path, "re")) == NULL) {
		if (errno != ENOENT)
			log_warn("unable to read %s: %s: every uid is charged to itself", path,
			    strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL && nranges < RANGES_MAX) {
		name = line;
		if ((s = strchr(name, ':')) == NULL || (c = strchr(s + 1, ':')) == NULL)
			continue;
		*s++ = '\0';
		*c++ = '\0';
		errno = 0;
		start = strtoul(s, &end, 10);
		if (errno != 0 || *end != '\0' || start > UINT32_MAX)
			continue;
		count = strtoul(c, &end, 10);
		if (errno != 0 || (*end != '\n' && *end != '\0') || count == 0 ||
		    count > UINT32_MAX - start)
			continue;
		owner = strtol(name, &end, 10);
		if (*name == '\0' || *end != '\0')
			owner = passwd_uid(name);
		if (owner < 0 || owner > (long)UINT32_MAX - 1)
			continue;
		if ((r = realloc(ranges, (nranges + 1) * sizeof(*r))) == NULL)
			break;
		ranges = r;
		ranges[nranges].start = (uint32_t)start;
		ranges[nranges].count = (uint32_t)count;
		ranges[nranges].owner = (uid_t)owner;
		nranges++;
	}
	fclose(f);
	if (nranges == 0)
		return;
	qsort(ranges, nranges, sizeof(*ranges), range_cmp);
	log_debug("%s: %zu subordinate ranges, each charged to its owner", path, nranges);
}

uid_t
person_of(uid_t uid)
{
	size_t lo = 0, hi = nranges, mid;

	if (uid == 0)
		return 0;
	/* the last range starting at or below uid */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ranges[mid].start <= uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && uid - ranges[lo - 1].start < ranges[lo - 1].count)
		return ranges[lo - 1].owner;
	return uid;
}

/* "uid U" or "uid U (with the subordinate uids of uid O)", for messages */
void
person_name(uid_t uid, char *buf, size_t size)
{
	uid_t o = person_of(uid);

	if (o == uid)
		snprintf(buf, size, "uid %lu", (unsigned long)uid);
	else
		snprintf(buf, size, "uid %lu (a subordinate uid of uid %lu, counted with all of "
		    "them)", (unsigned long)uid, (unsigned long)o);
}
