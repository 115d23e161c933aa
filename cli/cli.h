/* SPDX-License-Identifier: ISC */
/*
 * cli.h: what the parts of the sockbroker command share.
 */
#ifndef SB_CLI_H
#define SB_CLI_H

/* Exit codes (documented in sockbroker(1)), after s6. */
#define SB_EXIT_OK	0
#define SB_EXIT_REFUSED	1	/* the broker refused, or the key does not exist */
#define SB_EXIT_TIMEOUT	2	/* wait timed out */
#define SB_EXIT_USAGE	100
#define SB_EXIT_SYSTEM	111	/* system error: no broker, out of memory, ... */
#define SB_EXIT_NOTFOUND 127	/* the command to run was not found (as a shell) */

/* sockbroker exec: argv[0] is "exec"; root may be NULL (the default). */
int	cmd_exec(int argc, char **argv, const char *root);

/* sockbroker explain: argv[0] is "explain"; root may be NULL. */
int	cmd_explain(int argc, char **argv, const char *root);

#endif
