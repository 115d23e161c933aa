/* SPDX-License-Identifier: ISC */
/*
 * cli.h: what the parts of the sockbroker command share.
 */
#ifndef SB_CLI_H
#define SB_CLI_H

#include <errno.h>

/* Exit codes (documented in sockbroker(1)), after s6. */
#define SB_EXIT_OK	0
#define SB_EXIT_REFUSED	1	/* the broker refused, or the key does not exist */
#define SB_EXIT_TIMEOUT	2	/* wait timed out */
#define SB_EXIT_USAGE	100
#define SB_EXIT_SYSTEM	111	/* system error: no broker, out of memory, ... */
#define SB_EXIT_NOEXEC	126	/* found, but it could not be executed (as a shell) */
#define SB_EXIT_NOTFOUND 127	/* the command to run was not found (as a shell) */

/*
 * The exit code for an execvp of the command to run that failed with
 * errno e, as a shell gives it: 127 if it was not found, else 126.
 */
static inline int
sb_exit_exec(int e)
{
	return e == ENOENT ? SB_EXIT_NOTFOUND : SB_EXIT_NOEXEC;
}

/* sockbroker exec: argv[0] is "exec"; root may be NULL (the default). */
int	cmd_exec(int argc, char **argv, const char *root);

/* sockbroker explain: argv[0] is "explain"; root may be NULL. */
int	cmd_explain(int argc, char **argv, const char *root);

#endif
