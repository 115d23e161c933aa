#!/bin/bash
# SPDX-License-Identifier: ISC
# `sockbroker list --json` prints the array as the entries come, not once
# the whole list is in memory (a list of a million entries starts at once):
# a fake broker holds back the end of the list until output has come.
. "$top_srcdir/tests/lib.sh"
need python3
export PYTHONPATH="$top_srcdir/tests" T SOCKBROKER
python3 "$top_srcdir/tests/cli-list-stream.py" || fail "list --json is not streamed"
