/* SPDX-License-Identifier: ISC */
/*
 * fuzz_state.c: libFuzzer target for the journal loader of sockbrokerd
 * (brokerd/state.c). Whatever the bytes of ROOT/state, loading never reads
 * outside them, never crashes, and every entry it makes is one a client
 * could have made (its key passes the key check); a compaction of what was
 * loaded loads back to the same number of entries.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brokerd.h"
#include "sb-internal.h"
#include "sockbroker.h"
#include "state-stubs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[] = "/tmp/fuzz_state.XXXXXX";
	static int ready;
	struct entry *e;
	unsigned n;
	int fd;

	if (!ready) {
		if (mkdtemp(dir) == NULL)
			abort();
		strcpy(cfg.root, dir);
		cfg.root_len = strlen(dir);
		cfg.root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		entries_init();
		ready = 1;
	}
	fd = openat(cfg.root_fd, "state", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	state_load(-1);
	for (e = entry_first(); e != NULL; e = e->next)
		if (sb_key_check(e->key) < 0)
			abort();
	n = entries_total();
	if (state_compact() != 0)
		abort();
	stub_entries_clear();
	state_load(-1);
	if (entries_total() != n)
		abort();
	stub_entries_clear();
	state_close();
	stub_log_clear();
	return 0;
}
