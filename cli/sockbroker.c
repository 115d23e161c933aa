/* placeholder: the CLI is being written */
#include "cli.h"
int main(int argc, char **argv) { return cmd_exec(argc, argv, 0); }
