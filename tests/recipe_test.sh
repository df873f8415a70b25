#!/bin/sh
# The main job's recipe choice (scripts/recipe.sh) and its refusal of bad settings, which comes
# before it installs or builds anything.   usage: sh tests/recipe_test.sh [TAPEGRAD]   (from the
# source root; with TAPEGRAD, also the speed probe against that binary)
fail=0
check() { # check WHAT GOT WANT
    if [ "$2" = "$3" ]; then :; else echo "FAIL: $1: got '$2', want '$3'"; fail=1; fi
}
got() { bash -c ". scripts/recipe.sh; $1" 2>&1; echo "rc=$?"; }
check "30m" "$(got 'seconds 30m')" "1800
rc=0"
check "1h30m" "$(got 'seconds 1h30m')" "5400
rc=0"
check "1.5h" "$(got 'seconds 1.5h')" "5400
rc=0"
check "bare 45" "$(got 'seconds 45')" "45
rc=0"
check "1e5" "$(got 'seconds 1e5')" "100000
rc=0"
check ".5m1.5s" "$(got 'seconds .5m1.5s')" "31
rc=0"
for bad in "" m 3x 30m- -5m " 30m" +30m 0x10 inf nan "30m " 1h-5m .m; do
    check "malformed '$bad'" "$(got "seconds '$bad'")" "rc=1"
done
# a 30-minute budget at the measured probe steps: Zen 1-class EPYC 0.917 s, Zen 5 0.201 s
check "Zen 1 EPYC" "$(got 'recipe_for 1800 0.917')" "small 1353
rc=0"
check "Zen 5" "$(got 'recipe_for 1800 0.201')" "standard 6176
rc=0"
check "the line" "$(got 'recipe_for 4351 1')" "standard 3000
rc=0"
check "below it" "$(got 'recipe_for 4349 1')" "small 2999
rc=0"
for bad in "1800 ''" "1800 0" "1800 abc" "0 1" "1800 -1"; do
    check "recipe_for $bad" "$(got "recipe_for $bad")" "rc=1"
done
# beam 4's length penalty follows the recipe in the run folder's config.txt
d=$(mktemp -d "${TMPDIR:-/tmp}/tg_recipe.XXXXXX")
printf 'out = r\nd-model = 128\nheads = 4\n' > "$d/config.txt"
check "alpha, small" "$(got "alpha_for '$d'")" "0.6
rc=0"
printf 'd-model = 256\n' > "$d/config.txt"
check "alpha, standard" "$(got "alpha_for '$d'")" "1.4
rc=0"
printf 'd-model = \n' > "$d/config.txt"
check "alpha, empty d-model" "$(got "alpha_for '$d'")" "rc=1"
rm "$d/config.txt"
check "alpha, no config" "$(got "alpha_for '$d'")" "rc=1"
rmdir "$d"
# the speed probe reads the median step time from the bench's RESULT line
if [ -n "${1:-}" ]; then
    probe=$(bash -c ". scripts/recipe.sh; probe_step '$1' 2")
    case $probe in [0-9]*.[0-9]*) echo "probe: $probe s a step" ;; *) echo "FAIL: probe gave '$probe'"; fail=1;; esac
    check "probe of a missing binary" "$(got 'probe_step /nonexistent/tapegrad 2 2>/dev/null')" "rc=0"
    check "probe at bad threads" "$(got "probe_step '$1' abc 2>/dev/null")" "rc=0"
fi
# main_job.sh refuses bad settings with exit 2 before it installs or builds anything
out=$(RECIPE=fast RUN=/nonexistent bash scripts/main_job.sh 2>&1); rc=$?
check "RECIPE=fast exit" "$rc" 2
case $out in *"RECIPE must be auto, standard or small, not 'fast'"*) ;; *) echo "FAIL: RECIPE message: $out"; fail=1;; esac
out=$(TIME_LIMIT=3x RUN=/nonexistent bash scripts/main_job.sh 2>&1); rc=$?
check "TIME_LIMIT=3x exit" "$rc" 2
case $out in *"TIME_LIMIT '3x' is not a duration"*) ;; *) echo "FAIL: TIME_LIMIT message: $out"; fail=1;; esac
[ "$fail" = 0 ] && echo "recipe_test: all checks passed"
exit "$fail"
