/* SPDX-License-Identifier: ISC */
/* brokerd/state.c, built here for check_state and fuzz_state */
#include "state.c"
