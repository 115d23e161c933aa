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
