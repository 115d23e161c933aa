/* SPDX-License-Identifier: ISC */
/* brokerd/closer.c, built here for check_state and fuzz_state */
#include "closer.c"
