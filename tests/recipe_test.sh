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
for bad in "" m 3x 30m- -5m " 30m" +30m 0x10 inf nan "30m " 1h-5m .m 1h1h 1h2m3s4h 1m2h 90s5; do
    check "malformed '$bad'" "$(got "seconds '$bad'")" "rc=1"
done
# a 30-minute budget at the measured probe steps: Zen 1-class EPYC 0.917 s, Zen 5 0.201 s
check "Zen 1 EPYC" "$(got 'recipe_for 1800 0.917')" "1353 0
rc=0"
check "Zen 5" "$(got 'recipe_for 1800 0.201')" "6176 0.1
rc=0"
check "the line" "$(got 'recipe_for 4351 1')" "3000 0.1
rc=0"
check "below it" "$(got 'recipe_for 4349 1')" "2999 0
rc=0"
for bad in "1800 ''" "1800 0" "1800 abc" "0 1" "1800 -1"; do
    check "recipe_for $bad" "$(got "recipe_for $bad")" "rc=1"
done
# beam 4's length penalty follows the recipe in the run folder's config.txt
d=$(mktemp -d "${TMPDIR:-/tmp}/tg_recipe.XXXXXX")
printf 'out = r\nd-model = 128\nheads = 4\n' > "$d/config.txt"
check "alpha, small" "$(got "alpha_for '$d'")" "1.0
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
# into: a command's output replaces a file only when whole, and never through a symlink
d=$(mktemp -d "${TMPDIR:-/tmp}/tg_into.XXXXXX")
echo precious > "$d/victim"
ln -s "$d/victim" "$d/out"
check "into, ok" "$(got "into '$d/out' echo new")" "rc=0"
check "into: the new content" "$(cat "$d/out")" "new"
check "into: the symlink's target untouched" "$(cat "$d/victim")" "precious"
[ -L "$d/out" ] && { echo "FAIL: into wrote through the symlink"; fail=1; }
check "into, a failing command" "$(got "into '$d/out' sh -c 'echo partial; exit 3'")" "rc=3"
check "into: the earlier file kept" "$(cat "$d/out")" "new"
check "into, a missing folder" "$(got "into '$d/no/out' echo x 2>/dev/null")" "rc=1"
check "into: no temporary file left" "$(ls "$d" | tr '\n' ' ')" "out victim "
rm -rf "$d"
# main_job.sh refuses bad settings with exit 2 before it installs or builds anything (the other
# settings given, so the caller's environment cannot decide; TAPEGRAD so that it could not build)
refused() { # refused WHAT MESSAGE ENV...
    local what=$1 msg=$2 out rc; shift 2
    out=$(env RECIPE=auto TIME_LIMIT=30m THREADS=2 MERGES=8000 TAPEGRAD=/nonexistent/tapegrad \
        RUN=/nonexistent "$@" bash scripts/main_job.sh 2>&1); rc=$?
    check "$what: exit" "$rc" 2
    case $out in *"$msg"*) ;; *) echo "FAIL: $what: message: $out"; fail=1;; esac
}
refused "RECIPE=fast" "RECIPE must be auto, standard or small, not 'fast'" RECIPE=fast
refused "TIME_LIMIT=3x" "TIME_LIMIT '3x' is not a duration" TIME_LIMIT=3x
refused "TIME_LIMIT with an escape" "is not a duration" 'TIME_LIMIT=30\155'
refused "TIME_LIMIT=1e13" "TIME_LIMIT '1e13' is not a duration" TIME_LIMIT=1e13
refused "THREADS=0" "THREADS must be a whole number from 1 to 64, not '0'" THREADS=0
refused "THREADS=65" "not '65'" THREADS=65
refused "THREADS='2 3'" "not '2 3'" "THREADS=2 3"
refused "MERGES=-5" "MERGES must be a whole number from 1 to 1000000, not '-5'" MERGES=-5
refused "TAPEGRAD missing" "TAPEGRAD '/nonexistent/tapegrad' is not a program"
refused "TAPEGRAD a folder" "TAPEGRAD '$PWD/scripts' is not a program" TAPEGRAD="$PWD/scripts"
refused "TAPEGRAD a builtin" "TAPEGRAD 'shopt' is not a program" TAPEGRAD=shopt
refused "TAPEGRAD an option" "TAPEGRAD '-x' is not a program" TAPEGRAD=-x
# started through a symlink elsewhere, the script still finds the source root (scripts/recipe.sh)
d=$(mktemp -d "${TMPDIR:-/tmp}/tg_link.XXXXXX")
ln -s "$PWD/scripts/main_job.sh" "$d/main_job"
out=$(cd "$d" && env RECIPE=auto TIME_LIMIT=30m THREADS=2 MERGES=8000 TAPEGRAD=/nonexistent/tapegrad RUN=/nonexistent \
    bash ./main_job 2>&1); rc=$?
check "through a symlink: exit" "$rc" 2
check "through a symlink: message" "$out" "main_job.sh: TAPEGRAD '/nonexistent/tapegrad' is not a program"
rm -rf "$d"
# the main job's end against a finished tiny run, in a RUN named like an awk assignment and given
# relative to the caller: the dev set translated and scored, a symlink among its outputs replaced
if [ -n "${1:-}" ]; then
    tg=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    src=$PWD
    d=$(mktemp -d "${TMPDIR:-/tmp}/tg_mainjob.XXXXXX")
    tiny() { "$tg" train --train "$1" --dev data/bible_en_es/dev.tsv.gz --out "$2" --merges 50 --d-model 16 \
        --heads 2 --d-ff 32 --layers 1 --max-steps 2 --valid-sentences 5 --threads 1 > /dev/null 2>&1 ||
        { echo "FAIL: the tiny run $2"; fail=1; }; }
    # a run of other data (here the dev set as training data) is refused, not trained on and then
    # scored on the bundled dev set
    tiny data/bible_en_es/dev.tsv.gz "$d/other"
    out=$(RUN="$d/other" TAPEGRAD=$tg THREADS=1 TIME_LIMIT=30m bash scripts/main_job.sh 2>&1); rc=$?
    check "a run of other data: exit" "$rc" 2
    case $out in *"--train cannot change when resuming (the run has train = data/bible_en_es/dev.tsv.gz)"*) ;;
        *) echo "FAIL: a run of other data: message: $out"; fail=1;; esac
    check "a run of other data: nothing translated" "$(ls "$d/other" | grep -c '^dev\.')" 0
    # (started by hand naming the corpus by its absolute path: the same file as the job's name)
    tiny "$src/data/bible_en_es/train.tsv.gz" "$d/lr=1"
    echo precious > "$d/victim"
    ln -s "$d/victim" "$d/lr=1/dev.beam1.txt"
    out=$(cd "$d" && RUN=lr=1 TAPEGRAD=$tg THREADS=1 RECIPE=small TIME_LIMIT=30m MERGES=8000 \
        bash "$src/scripts/main_job.sh" 2>&1); rc=$?
    check "main job's end: exit" "$rc" 0
    case $out in *"resuming $d/lr=1 with the recipe and BPE it was started with"*) ;; *) echo "FAIL: no resume note: $out"; fail=1;; esac
    grep -q '^BLEU|nrefs:1|' "$d/lr=1/dev.beam4.score" || { echo "FAIL: no beam 4 score"; fail=1; }
    check "main job: dev translated" "$(wc -l < "$d/lr=1/dev.beam1.txt")" 1000
    check "main job: the symlink's target untouched" "$(cat "$d/victim")" precious
    check "main job: no temporary file left" "$(ls "$d/lr=1" | grep -c 'tmp$')" 0
    rm -rf "$d"
fi
# a new run's recipe as main_job.sh hands it to train: a stand-in tapegrad answers the probe with
# PROBE seconds and records train's arguments (then fails, so that nothing is decoded)
d=$(mktemp -d "${TMPDIR:-/tmp}/tg_wiring.XXXXXX")
cat > "$d/tg" <<'FAKE'
#!/bin/sh
case $1 in
bench) echo "bench" >> "${0%/*}/calls"; echo "RESULT config=tiny median_step_s=$PROBE threads=2" ;;
train) shift; echo "$*" > "${0%/*}/train_args"; exit 1 ;;
esac
FAKE
chmod +x "$d/tg"
wiring() { # wiring WHAT RECIPE PROBE WANT: WANT is in train's arguments
    rm -f "$d/train_args"
    env RECIPE="$2" PROBE="$3" TIME_LIMIT=30m THREADS=2 MERGES=8000 TAPEGRAD="$d/tg" RUN="$d/run" \
        bash scripts/main_job.sh > /dev/null 2>&1 && { echo "FAIL: $1: the stand-in's failed train was not an error"; fail=1; }
    case $(cat "$d/train_args" 2>/dev/null) in *"$4"*) ;; *) echo "FAIL: $1: train got '$(cat "$d/train_args" 2>/dev/null)'"; fail=1;; esac
}
small="--d-model 128 --d-ff 512 --heads 4 --norm pre --schedule cosine --lr 0.003 --warmup 500 --fit-steps --time-limit 30m"
wiring "auto, Zen 5 probe" auto 0.201 "$small --dropout 0.1 "
wiring "small, Zen 1 probe" small 0.917 "$small --dropout 0 "
wiring "standard" standard 0.201 "--merges 8000 --norm post --schedule cosine --lr 0.001 --warmup 500 --fit-steps --time-limit 30m --dropout 0.05 "
check "the probe runs for auto and small only" "$(wc -l < "$d/calls")" 2
rm -rf "$d"
# the dev files are written under the run's lock: a job killed while translating left its
# temporary, which the next one removes; while another holds the lock, nothing is written
d=$(mktemp -d "${TMPDIR:-/tmp}/tg_decode.XXXXXX")
mkdir "$d/run" && printf 'd-model = 128\n' > "$d/run/config.txt" && : > "$d/run/last.ckpt"
echo half > "$d/run/dev.beam4.txt.Ab3dEf.tmp"
cat > "$d/tg" <<'FAKE'
#!/bin/sh
case $1 in train) ;; *) echo "$1 $*" ;; esac
FAKE
chmod +x "$d/tg"
decode() { env RECIPE= TIME_LIMIT=30m THREADS=2 MERGES=8000 TAPEGRAD="$d/tg" RUN="$d/run" "$@" 2>&1; }
out=$(decode flock -n "$d/run/lock" bash scripts/main_job.sh); rc=$?
check "decode, lock held: exit" "$rc" 1
check "decode, lock held: message" "$out" "main_job.sh: $d/run is in use by another main job or train (its lock $d/run/lock is held)"
check "decode, lock held: nothing written" "$(ls "$d/run" | tr '\n' ' ')" "config.txt dev.beam4.txt.Ab3dEf.tmp last.ckpt lock "
out=$(decode bash scripts/main_job.sh); rc=$?
check "decode: exit" "$rc" 0
check "decode: the killed job's temporary removed" "$(ls "$d/run" | grep -c 'tmp$')" 0
check "decode: beam 4 written" "$(cut -c1-20 "$d/run/dev.beam4.txt")" "translate translate "
rm -rf "$d"
# Ctrl-C or SIGTERM stops the job: train (a stand-in) catches it, saves and exits 0 as the real one
# does, and the job must stop there, not translate and score the half-trained model. The SIGINT
# check is skipped where SIGINT is ignored from the start (a job started in the background, as CI
# may be), as bash can then not catch it; the SIGTERM check always runs.
sigign=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status 2>/dev/null)
for sig in TERM INT; do
    if [ $sig = INT ]; then
        case $sigign in *[2367abefABEF]) echo "recipe_test: SIGINT is ignored here: the Ctrl-C check skipped"; continue;; esac
    fi
    d=$(mktemp -d "${TMPDIR:-/tmp}/tg_sig.XXXXXX")
    mkdir "$d/run" && printf 'd-model = 128\n' > "$d/run/config.txt" && : > "$d/run/last.ckpt"
    cat > "$d/tg" <<FAKE
#!/bin/sh
case \$1 in
train) kill -$sig \$PPID; exit 0 ;;
*) echo "\$1" >> "\${0%/*}/calls"; echo x ;;
esac
FAKE
    chmod +x "$d/tg"
    out=$(env RECIPE= TIME_LIMIT=30m THREADS=2 MERGES=8000 TAPEGRAD="$d/tg" RUN="$d/run" bash scripts/main_job.sh 2>&1); rc=$?
    check "SIG$sig in training: exit" "$rc" "$([ $sig = INT ] && echo 130 || echo 143)"
    case $out in *"stopped by SIG$sig; run the same command again to resume"*) ;; *) echo "FAIL: SIG$sig: message: $out"; fail=1;; esac
    check "SIG$sig in training: nothing translated or scored" "$(cat "$d/calls" 2>/dev/null)" ""
    check "SIG$sig in training: no dev files" "$(ls "$d/run" | tr '\n' ' ')" "config.txt last.ckpt "
    rm -rf "$d"
done
# a signal sent to train alone (SLURM's SIGUSR1 to the job step, a CPU limit's SIGXCPU, its output's
# reader gone): train stops saved and exits 0, its log's last end line says so, and the job stops
# too; a resume's later "done:" line lets it go on
d=$(mktemp -d "${TMPDIR:-/tmp}/tg_stopped.XXXXXX")
mkdir "$d/run" && printf 'd-model = 128\n' > "$d/run/config.txt" && : > "$d/run/last.ckpt"
cat > "$d/tg" <<'FAKE'
#!/bin/sh
case $1 in
train) printf '%b\n' "$LINES" >> "$RUN/train.log" ;;   # (%b: a \0 in LINES writes a NUL byte)
*) echo "$1" >> "${0%/*}/calls"; echo x ;;
esac
FAKE
chmod +x "$d/tg"
stopped() { env RECIPE= TIME_LIMIT=30m THREADS=2 MERGES=8000 TAPEGRAD="$d/tg" RUN="$d/run" LINES="$1" \
    bash scripts/main_job.sh 2>&1; }
out=$(stopped "[2026-12-05 10:00:00] done: reached --time-limit at step 9 after 30m
[2026-12-05 11:00:00] stopped by signal 10 at step 12; resume with: tapegrad train --resume $d/run
[2026-12-05 11:00:00] diagnostics: 1 at 0.010 s each, 0.01% of this session's 99.0 s of training"); rc=$?
check "stopped by SIGUSR1: exit" "$rc" 138
check "stopped by SIGUSR1: message" "$out" "main_job.sh: train stopped by signal 10 at step 12; run the same command again to resume"
check "stopped by SIGUSR1: nothing translated or scored" "$(cat "$d/calls" 2>/dev/null)" ""
# (NUL bytes before it, as a crash of the machine leaves in a file: grep took the log for binary)
out=$(stopped "[2026-12-05 11:30:00] step 5
\0\0\0
[2026-12-05 11:40:00] stopped by signal 10 at step 14; resume with: tapegrad train --resume $d/run"); rc=$?
check "stopped, NUL bytes before: exit" "$rc" 138
out=$(stopped "[2026-12-05 12:00:00] done: reached --time-limit at step 20 after 30m"); rc=$?
check "resumed to its end: exit" "$rc" 0
check "resumed to its end: translated and scored" "$(tr '\n' ' ' < "$d/calls")" "translate score translate score "
rm -rf "$d"
[ "$fail" = 0 ] && echo "recipe_test: all checks passed"
exit "$fail"
