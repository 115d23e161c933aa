/* SPDX-License-Identifier: ISC */
/* brokerd/linkrm.c, built here for check_linkrm */
#include "linkrm.c"
