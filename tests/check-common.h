/* SPDX-License-Identifier: ISC */
/*
 * check-common.h: what the Check suites share (check-common.c).
 */
#ifndef CHECK_COMMON_H
#define CHECK_COMMON_H

#include <check.h>

/*
 * Run every test of s (fork: CK_FORK_GETENV, Check's default, or CK_NOFORK)
 * and return the exit status of the test program: EXIT_SUCCESS if none
 * failed.
 */
int	check_run(Suite *s, enum fork_status fork);

/* The fds open in this process (below 1024). */
int	check_count_fds(void);

#endif
