#!/bin/sh
# SPDX-License-Identifier: ISC
# swtpm-ioctl.sh SOCKET STATEDIR: start swtpm with its control channel at
# SOCKET, ask it with `swtpm_ioctl -g` until it answers, then stop it with
# `swtpm_ioctl -s` and wait for it. Figure 9b times this as a whole
# process, under `sockbroker exec` with a 150-byte SOCKET and plainly with
# a short one. A run that fails leaves no swtpm.
set -eu
sock=$1 state=$2
swtpm socket --tpm2 --tpmstate dir="$state" --ctrl type=unixio,path="$sock" \
    --flags not-need-init &
t=$!
trap 'kill -KILL $t 2>/dev/null || :' EXIT
n=0
until swtpm_ioctl --unix "$sock" -g >/dev/null 2>&1; do
	n=$((n + 1))
	[ $n -lt 5000 ] || exit 1
done
swtpm_ioctl --unix "$sock" -s
wait $t
trap - EXIT
