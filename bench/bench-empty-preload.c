/* SPDX-License-Identifier: ISC */
/*
 * bench-empty-preload.c: a preload library that does nothing (figure 8):
 * what any LD_PRELOAD costs a process (the loader opens, maps and relocates
 * one more object), so that the shim's own cost can be told from it.
 */
int bench_empty_preload;
