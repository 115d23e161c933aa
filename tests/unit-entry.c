/* SPDX-License-Identifier: ISC */
/* brokerd/entry.c, built here for check_state and fuzz_state */
#include "entry.c"
