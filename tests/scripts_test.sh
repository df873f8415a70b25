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
# tune_decode.sh: a translation that fails (a run without best.ckpt) ended the script with exit 1
# and no word (its messages went to /dev/null), and the earlier table was already cut to its header
mkdir "$d/run"
printf 'model\tbleu\nearlier\t1\n' > "$d/run/decode_tuning.tsv"
printf 'a\tb\n' > "$d/dev.tsv"
cat > "$d/tg" <<'FAKE'
#!/bin/sh
echo "tapegrad $1: cannot open $3: No such file or directory" >&2; exit 1
FAKE
chmod +x "$d/tg"
out=$(TG="$d/tg" AVG= ALPHAS=1.0 bash "$d/scripts/tune_decode.sh" "$d/run" "$d/dev.tsv" 2>&1); rc=$?
check "tune_decode, translate fails: exit" "$rc" 1
case $out in *"cannot open $d/run/best.ckpt: No such file"*"tune_decode: translating with $d/run/best.ckpt failed"*) ;;
    *) echo "FAIL: tune_decode, translate fails: message: $out"; fail=1;; esac
check "tune_decode: the earlier table kept" "$(cat "$d/run/decode_tuning.tsv")" "$(printf 'model\tbleu\nearlier\t1')"
check "tune_decode: no temporary left" "$(ls "$d/run" | grep -c 'tmp$')" 0
rm -rf "$d"
[ "$fail" = 0 ] && echo "scripts_test: all checks passed"
exit "$fail"
