#!/bin/bash
# SPDX-License-Identifier: ISC
# A second uid (65534) against root's entries, for what its mode does not
# say: connect rights never grant accept (a 0666 listening socket, held or
# put, is not handed to others; the x bit does it), a stranger learns no
# more than "no such entry" (the same errors as for a key no one bound, a
# wait that waits, ROOT/xx not listable), and every reply carries the id of
# the request it answers (0 where none could be read).
. "$top_srcdir/tests/lib.sh"
sb_need_nobody_python
export PYTHONPATH="$top_srcdir/tests"
SB=$SOCKBROKER
sb_start

sp=$($SB bind svc --listen --mode 0666) || fail "root bind svc 0666"
$SB bind secret --listen --mode 0600 >/dev/null || fail "root bind secret"
$SB bind shared --listen --mode 0667 >/dev/null || fail "root bind shared"
# a listening socket stored with put, for everyone to connect to
$PY "$top_srcdir/tests/hard-access-put.py" "$T/put.sock" || fail "root put a listening socket"

$SB_NOBODY $PY "$top_srcdir/tests/hard-access-attacker.py" "$sp" "$ROOT" || fail "the attacker"
$SB status >/dev/null || fail "the broker stopped answering"
sb_stop
