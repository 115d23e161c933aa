/* SPDX-License-Identifier: ISC */
/* state-stubs.h: see state-stubs.c */
#ifndef STATE_STUBS_H
#define STATE_STUBS_H

#include <stddef.h>

extern char	stub_log[65536];
extern size_t	stub_log_len;
void		stub_log_clear(void);
/* unit-entry.c: empty the entry table */
void		stub_entries_clear(void);
size_t		stub_arena_mapped(void);
size_t		stub_arena_live(void);
size_t		stub_arena_resident(void);

#endif
