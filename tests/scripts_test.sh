#!/bin/sh
# The user-facing scripts' arguments and failures (scripts/test.sh, fuzz.sh, bench_vs_torch.sh,
# tune_decode.sh), in seconds: each script runs from a copy in a temporary tree, so that one that
# took a bad argument for a good one fails there at once instead of building, testing or fuzzing
# this tree; tapegrad is a stand-in where one is needed.   usage: sh tests/scripts_test.sh
fail=0
check() { # check WHAT GOT WANT
    if [ "$2" = "$3" ]; then :; else echo "FAIL: $1: got '$2', want '$3'"; fail=1; fi
}
d=$(mktemp -d "${TMPDIR:-/tmp}/tg_scripts.XXXXXX")
mkdir "$d/scripts"
cp scripts/test.sh scripts/fuzz.sh scripts/bench_vs_torch.sh scripts/tune_decode.sh "$d/scripts/"
refused() { # refused WHAT MESSAGE SCRIPT ARGS...: exit 2 with MESSAGE
    what=$1 msg=$2; shift 2
    out=$(bash "$d/scripts/$@" 2>&1); rc=$?
    check "$what: exit" "$rc" 2
    case $out in *"$msg"*) ;; *) echo "FAIL: $what: message: $out"; fail=1;; esac
}
# test.sh: a misspelt --sanitize ran the float and double builds' suites instead
refused "test.sh --santize" "test.sh: unknown arguments '--santize' (usage: scripts/test.sh [--sanitize])" test.sh --santize
refused "test.sh --sanitize x" "unknown arguments '--sanitize x'" test.sh --sanitize x
# fuzz.sh: libFuzzer takes text or 0 for no time limit (fuzzing for ever) and 1m for 1 second
for bad in abc 0 1m -5 030; do
    refused "fuzz.sh '$bad'" "fuzz.sh: SECONDS must be a whole number from 1, not '$bad'" fuzz.sh "$bad"
done
refused "fuzz.sh 30 60" "fuzz.sh: one argument, SECONDS, not 2" fuzz.sh 30 60
rm -rf "$d"
[ "$fail" = 0 ] && echo "scripts_test: all checks passed"
exit "$fail"
