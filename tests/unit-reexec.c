/* SPDX-License-Identifier: ISC */
/* brokerd/reexec.c, built here for check_reexec */
#include "reexec.c"
