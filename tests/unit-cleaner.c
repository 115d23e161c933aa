/* SPDX-License-Identifier: ISC */
/* brokerd/cleaner.c, built here for check_state and fuzz_state */
#include "cleaner.c"
