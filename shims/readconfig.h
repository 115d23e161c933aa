/* SPDX-License-Identifier: ISC */
/*
 * readconfig.h: the socket paths of QEMU's -readconfig files.
 *
 * QEMU reads the file itself, long after the shim's constructor, and
 * refuses an over-long socket path in it ("qemu.conf:5: UNIX socket path
 * '...' is too long"). The shim rewrites a copy: the file's socket paths
 * shortened, every other byte as it was, in a sealed memfd that QEMU then
 * reads as /proc/self/fd/N.
 */
#ifndef SB_READCONFIG_H
#define SB_READCONFIG_H

#include <stddef.h>

#include "rewrite.h"

/* The largest -readconfig file the shim rewrites; a larger one is left alone. */
#define SBRC_FILE_MAX	(1024 * 1024)
/* At most this many socket paths are rewritten in one file. */
#define SBRC_PATHS_MAX	64

/*
 * Rewrite the socket paths of a QEMU config text (len bytes at in; no NUL
 * needed). On success with at least one path rewritten, *ret_out is a
 * malloc'd copy (*ret_len bytes, NUL-terminated) and the count is
 * returned. 0 (nothing to rewrite, or a text QEMU itself would refuse:
 * left alone) leaves *ret_out NULL. -ENOMEM on allocation failure.
 *
 * Socket paths are: [chardev] path= with backend=socket; [spice] addr=
 * with unix=on; [vnc] vnc=unix:P; and in any group a key PFX.path (or
 * path) beside PFX.type=unix (netdev addr.path, drive file.server.path).
 */
int	sbrc_rewrite(const char *in, size_t len, sbrw_map_fn map, void *ctx,
    char **ret_out, size_t *ret_len);

/*
 * For a QEMU system emulator (argv[0] named qemu-system-*), replace the
 * FILE of each "-readconfig FILE" whose text has a socket path to rewrite
 * with /proc/self/fd/N of a sealed memfd holding the rewritten text
 * (close-on-exec: only this process reads it). Returns the number of
 * files replaced. report (may be NULL) gets one message per file it could
 * not replace.
 */
int	sbrc_argv(int argc, char **argv, sbrw_map_fn map, void *ctx,
    void (*report)(const char *file, const char *why));

#endif /* SB_READCONFIG_H */
