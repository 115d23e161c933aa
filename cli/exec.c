/* placeholder: sockbroker exec is being written with the shim */
#include <stdio.h>
#include "cli.h"
int
cmd_exec(int argc, char **argv, const char *root)
{
	(void)argc; (void)argv; (void)root;
	fprintf(stderr, "sockbroker: exec: not built yet\n");
	return SB_EXIT_SYSTEM;
}
