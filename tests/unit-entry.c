/* SPDX-License-Identifier: ISC */
/* brokerd/entry.c, built here for the unit tests that use the entry table */
#include "entry.c"

#include "state-stubs.h"

/* Empty the entry table. */
void
stub_entries_clear(void)
{
	struct entry *e;

	while ((e = entry_first()) != NULL) {
		entry_unlink(e);
		entry_free(e);
	}
}

/* The load arena (entry.c): bytes mapped, entries cut from it and not freed. */
size_t
stub_arena_mapped(void)
{
	return arena.base != NULL ? arena.size : 0;
}

size_t
stub_arena_live(void)
{
	return arena.live;
}

/* Pages of the arena in memory (mincore), or 0 without one. */
size_t
stub_arena_resident(void)
{
	unsigned char vec[65536];
	size_t i, n = 0, pages = arena.base != NULL ? arena.size / arena.page : 0;

	if (arena.base == NULL || pages > sizeof(vec) || mincore(arena.base, arena.size, vec) < 0)
		return 0;
	for (i = 0; i < pages; i++)
		n += vec[i] & 1;
	return n;
}
