#!/bin/bash
# SPDX-License-Identifier: ISC
# kill -9 the broker under load and start it again, SB_KILL9_ROUNDS times
# (default 20; `make check-kill9` runs 300): every acknowledged bind is
# still there, every acknowledged release stays released.
. "$top_srcdir/tests/lib.sh"
need python3
export PYTHONPATH="$top_srcdir/tests" SB_LOG="$T/broker.log"
python3 "$top_srcdir/tests/daemon-kill9.py" "${SB_KILL9_ROUNDS:-20}" || fail "kill -9 loop"
