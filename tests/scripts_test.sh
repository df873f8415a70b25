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
cp scripts/test.sh scripts/fuzz.sh scripts/bench_vs_torch.sh scripts/tune_decode.sh scripts/valgrind.sh \
   scripts/experiment_attn_activation.sh scripts/train_end.sh scripts/paired_bleu.sh \
   scripts/seed_table.sh "$d/scripts/"
refused() { # refused WHAT MESSAGE SCRIPT ARGS...: exit 2 with MESSAGE
    what=$1 msg=$2; shift 2
    out=$(bash "$d/scripts/$@" 2>&1); rc=$?
    check "$what: exit" "$rc" 2
    case $out in *"$msg"*) ;; *) echo "FAIL: $what: message: $out"; fail=1;; esac
}
# test.sh: a misspelt --sanitize ran the float and double builds' suites instead
refused "test.sh --santize" "test.sh: unknown arguments '--santize' (usage: scripts/test.sh [--sanitize])" test.sh --santize
refused "test.sh --sanitize x" "unknown arguments '--sanitize x'" test.sh --sanitize x
# test.sh in a clone without ../shared beside it: four tests failed after the install and both
# builds; it stops before them, naming the file (only where the copy has no ../shared either, so
# that it never goes on to install and build)
if [ ! -e "$d/../shared" ]; then
    out=$(bash "$d/scripts/test.sh" 2>&1); rc=$?
    check "test.sh without ../shared: exit" "$rc" 1
    case $out in *"/shared/data/gettext_en_de/train.tsv is missing: the tests read ../shared"*) ;;
        *) echo "FAIL: test.sh without ../shared: message: $out"; fail=1;; esac
fi
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
# tune_decode.sh: AVG= (empty) averaged the default 4 and 8 last checkpoints all the same
for k in 1 2 3 4; do : > "$d/run/step-$k.ckpt"; done
cat > "$d/tg" <<'FAKE'
#!/bin/sh
echo "$1" >> "${0%/*}/calls"
case $1 in score) echo '"score": 1.0, "bp": 1.0, "score": 2.0';; ckpt) : > "$5";; esac
FAKE
out=$(TG="$d/tg" AVG= ALPHAS=1.0 bash "$d/scripts/tune_decode.sh" "$d/run" "$d/dev.tsv" 2>&1); rc=$?
check "tune_decode AVG=: exit" "$rc" 0
check "tune_decode AVG=: nothing averaged" "$(sort -u "$d/calls" | tr '\n' ' ')" "score translate "
rm -f "$d/calls"
# bench_vs_torch.sh: --runs without a value stopped on "$2: unbound variable", --runs 0 went on to
# divide by zero
refused "bench_vs_torch.sh --runs" "bench_vs_torch.sh: --runs wants a value" bench_vs_torch.sh --runs
refused "bench_vs_torch.sh --runs 0" "bench_vs_torch.sh: --runs must be a whole number from 1, not '0'" bench_vs_torch.sh --runs 0
refused "bench_vs_torch.sh --log" "bench_vs_torch.sh: --log wants a value" bench_vs_torch.sh --runs 2 --log
# values that only the benchmarks found wrong (or never: nothing to measure was exit 0)
refused "bench_vs_torch.sh --kernels bogus" "--kernels is auto, portable, avx2 or avx512, not 'bogus'" bench_vs_torch.sh --kernels bogus
refused "bench_vs_torch.sh --threads 0" "--threads holds whole numbers from 1, not '0'" bench_vs_torch.sh --threads 0
refused "bench_vs_torch.sh --configs X" "--configs holds T and B, not 'X'" bench_vs_torch.sh --configs X
refused "bench_vs_torch.sh --runs 10^20" "--runs must be a whole number from 1 to 9999" bench_vs_torch.sh --runs 99999999999999999999
refused "bench_vs_torch.sh nothing" "--no-gemm and --no-step leave nothing to measure" bench_vs_torch.sh --no-gemm --no-step
# tune_decode.sh: AVG=0 or -1 ended in ckpt average's usage, AVG=x in a bash error
for bad in 0 -1 x 1; do
    export AVG="$bad"
    refused "tune_decode AVG=$bad" "tune_decode: AVG holds whole numbers from 2 (checkpoints to average), not '$bad'" \
        tune_decode.sh "$d/run" "$d/dev.tsv"
done
unset AVG
# valgrind.sh checked an existing build/tapegrad as it was, not rebuilt after an edit: it now
# brings the build up to date (a stand-in cmake, and a valgrind that finds nothing)
mkdir -p "$d/bin" "$d/build"
: > "$d/build/CMakeCache.txt"
printf '#!/bin/sh\nexit 0\n' > "$d/build/tapegrad"
printf '#!/bin/sh\necho "cmake $*" >> "%s/calls"\n' "$d" > "$d/bin/cmake"
printf '#!/bin/sh\nexit 0\n' > "$d/bin/valgrind"
chmod +x "$d/build/tapegrad" "$d/bin/cmake" "$d/bin/valgrind"
PATH="$d/bin:$PATH" bash "$d/scripts/valgrind.sh" > /dev/null 2>&1
check "valgrind.sh: the build brought up to date" "$(cat "$d/calls")" "cmake --build build -j 2 --target tapegrad"
rm -f "$d/calls"
# experiment_attn_activation.sh wrote results.md in place: an evaluation that failed (or a kill)
# left it cut to its header; each run's eval.json too
for v in none relu; do
    mkdir -p "$d/exp/$v" && : > "$d/exp/$v/last.ckpt" && printf 'norm = pre\n' > "$d/exp/$v/config.txt"
    echo '{"earlier": 1}' > "$d/exp/$v/eval.json"
done
echo "earlier table" > "$d/exp/results.md"
cat > "$d/tg" <<'FAKE'
#!/bin/sh
case $1 in train) exit 0;; eval) echo '{"loss": 1'; echo "tapegrad eval: failed" >&2; exit 1;; esac
FAKE
out=$(OUT="$d/exp" TAPEGRAD="$d/tg" VARIANTS="none relu" THREADS=1 bash "$d/scripts/experiment_attn_activation.sh" 2>&1); rc=$?
check "experiment_attn_activation, eval fails: exit" "$rc" 1
check "experiment_attn_activation: results.md kept" "$(cat "$d/exp/results.md")" "earlier table"
check "experiment_attn_activation: eval.json kept" "$(cat "$d/exp/none/eval.json")" '{"earlier": 1}'
check "experiment_attn_activation: no temporary left" "$(find "$d/exp" -name '*.tmp' | wc -l)" 0
# a run stopped by a signal sent to train alone (it exits 0, saved) went on to the next variant and
# the evaluation; the script stops there, as on Ctrl-C
cat > "$d/tg" <<'FAKE'
#!/bin/sh
case $1 in
train) echo "$1 $3" >> "${0%/*}/calls"
       echo "[2026-12-05 11:00:00] stopped by signal 24 at step 7; resume with: tapegrad train --resume $3" >> "$3/train.log" ;;
*) echo "$1" >> "${0%/*}/calls" ;;
esac
FAKE
out=$(OUT="$d/exp" TAPEGRAD="$d/tg" VARIANTS="none relu" THREADS=1 bash "$d/scripts/experiment_attn_activation.sh" 2>&1); rc=$?
check "experiment_attn_activation, train stopped: exit" "$rc" 152
check "experiment_attn_activation, train stopped: message" "$out" \
    "experiment_attn_activation.sh: train stopped by signal 24 at step 7; run the same command again to resume"
check "experiment_attn_activation, train stopped: nothing after it" "$(cat "$d/calls")" "train $d/exp/none"
rm -f "$d/calls" "$d"/exp/*/train.log
# Ctrl-C (reaching the script and train): train saves and exits 0, and bash, seeing its command
# end normally, went on to the next variant; SIGTERM ended the script without a word. Both stop it,
# said. (The SIGINT check is skipped where SIGINT is ignored from the start, as for a job started
# in the background, as in tests/recipe_test.sh.)
sigign=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status 2>/dev/null)
for sig in TERM INT; do
    if [ $sig = INT ]; then
        case $sigign in *[2367abefABEF]) echo "scripts_test: SIGINT is ignored here: the Ctrl-C check skipped"; continue;; esac
    fi
    cat > "$d/tg" <<FAKE
#!/bin/sh
echo "\$1" >> "\${0%/*}/calls"
case \$1 in train) kill -$sig \$PPID ;; esac
FAKE
    out=$(OUT="$d/exp" TAPEGRAD="$d/tg" VARIANTS="none relu" THREADS=1 bash "$d/scripts/experiment_attn_activation.sh" 2>&1); rc=$?
    check "experiment_attn_activation, SIG$sig: exit" "$rc" "$([ $sig = INT ] && echo 130 || echo 143)"
    check "experiment_attn_activation, SIG$sig: message" "$out" \
        "experiment_attn_activation.sh: stopped by SIG$sig; run the same command again to resume"
    check "experiment_attn_activation, SIG$sig: nothing after it" "$(cat "$d/calls")" "train"
    rm -f "$d/calls"
done
# paired_bleu.sh wrote its temporaries under fixed names (src.txt.tmp, KEY-DEV.hyp.tmp) and
# translated HYPDIR/src.txt: a second run on one HYPDIR meanwhile wrote into the same files, or
# replaced src.txt with its dev set, whose translations were then cached under this one's key.
# Now each run's are its own: another's in the way (here a folder under each name, and a
# src.txt replaced while translating) changes nothing, and none is left behind
mkdir -p "$d/pb/hyp"
echo base > "$d/pb/a.ckpt" && echo variant > "$d/pb/b.ckpt"
printf 'one\tuno\ntwo\tdos\n' > "$d/pb/dev.tsv"
cat > "$d/tg" <<'FAKE'
#!/bin/sh
case $1 in
translate) printf 'other\nrun\n' > "$PBH/src.txt"   # another run on the folder meanwhile
           sed 's/^/x /' "$7";;
score) echo '{"bleu": {"score": 10.0}, "p_value": null}'
       echo '{"bleu": {"score": 12.5},'; echo '"diff": {"score": 2.5, "mean": 2.5, "ci": 0.5}, "p_value": 0.01}';;
esac
FAKE
sha() { sha256sum < "$1" | cut -c1-16; }
printf 'one\ntwo\n' > "$d/pb/src"
mkdir "$d/pb/hyp/src.txt.tmp" "$d/pb/hyp/ref.txt.tmp" "$d/pb/hyp/$(sha "$d/pb/a.ckpt")-$(sha "$d/pb/src").hyp.tmp"
out=$(PBH="$d/pb/hyp" TG="$d/tg" bash "$d/scripts/paired_bleu.sh" "$d/pb/dev.tsv" "$d/pb/hyp" "$d/pb/a.ckpt" "$d/pb/b.ckpt" 2>&1); rc=$?
check "paired_bleu, others' temporaries in the way: exit" "$rc" 0
case $out in *"b.ckpt"*"BLEU  12.50  diff +2.50 [+2.00, +3.00]  p = 0.010"*) ;; *) echo "FAIL: paired_bleu: output: $out"; fail=1;; esac
check "paired_bleu: a translation cached" "$(cat "$d/pb/hyp/$(sha "$d/pb/a.ckpt")-$(sha "$d/pb/src").hyp")" "$(printf 'x one\nx two')"
check "paired_bleu: only the others' temporaries left" "$(find "$d/pb/hyp" -name '*.tmp' -type f | wc -l)" 0
# seed_table.sh: the step-by-step tables of docs/EXPERIMENT.md, from the cells' valid rows; seeds
# paired by number (seed 3 has no relu-out cell: left out), a step shown only where every cell
# validated (step 300 only in seed 1's; step 400 was asked for)
st="$d/st/cells"
row() { printf 'valid\t%s\t1\t1.0\t\t9\t%s\t1\t\t\t%s\t1\n' "$1" "$2" "$3"; }
for c in paper,seed=1 relu-out,seed=1 paper,seed=2 relu-out,seed=2 paper,seed=3; do
    mkdir -p "$st/variant=$c"
    printf 'kind\tstep\tepoch\telapsed_s\tlr\tloss\tnll\tppl\ttgt_tok_s\tgrad_norm\tbleu\tchrf\n' \
        > "$st/variant=$c/metrics.tsv"
done
{ row 1000 5.5 1.00; printf 'train\t1000\t1\t1\t1\t6\t5\t1\t1\t1\t\t\n'; row 2000 4.25 3.00; row 300 5 1; } \
    >> "$st/variant=paper,seed=1/metrics.tsv"
{ row 1000 5.0 2.00; row 2000 4.0 4.00; } >> "$st/variant=relu-out,seed=1/metrics.tsv"
{ row 1000 6.5 0.50; row 2000 4.75 2.50; } >> "$st/variant=paper,seed=2/metrics.tsv"
{ row 1000 5.25 1.50; row 2000 4.125 5.00; } >> "$st/variant=relu-out,seed=2/metrics.tsv"
row 2000 9 9 >> "$st/variant=paper,seed=3/metrics.tsv"
out=$(bash "$d/scripts/seed_table.sh" "$d/st" paper relu-out 2>&1); rc=$?
check "seed_table: exit" "$rc" 0
check "seed_table: table" "$out" "$(printf '%s\n' 'seeds: 1 2' '' \
    '| step | paper NLL | relu-out NLL | Δ (per seed) | paper BLEU (valid) | relu-out |' \
    '|---:|---:|---:|---:|---:|---:|' \
    '| 1,000 | 6.000 | 5.125 | −0.875 (−0.500, −1.250) | 0.75 | 1.75 |' \
    '| 2,000 | 4.500 | 4.062 | −0.438 (−0.250, −0.625) | 2.75 | 4.50 |')"
out=$(bash "$d/scripts/seed_table.sh" "$d/st" paper relu-out 2000,400 2>&1)
check "seed_table: asked steps" "$(printf '%s\n' "$out" | tail -n 2)" "$(printf '%s\n' \
    '| 2,000 | 4.500 | 4.062 | −0.438 (−0.250, −0.625) | 2.75 | 4.50 |' \
    '| 400 | (not every seed has a validation there) |')"
# seeds in numeric order: 9 before 10 (a glob lists seed=10 first)
mkdir -p "$d/st2/cells"
cp -r "$st/variant=paper,seed=1" "$d/st2/cells/variant=paper,seed=10"
cp -r "$st/variant=relu-out,seed=1" "$d/st2/cells/variant=relu-out,seed=10"
cp -r "$st/variant=paper,seed=2" "$d/st2/cells/variant=paper,seed=9"
cp -r "$st/variant=relu-out,seed=2" "$d/st2/cells/variant=relu-out,seed=9"
out=$(bash "$d/scripts/seed_table.sh" "$d/st2" paper relu-out 1000 2>&1)
check "seed_table: numeric seed order" "$out" "$(printf '%s\n' 'seeds: 9 10' '' \
    '| step | paper NLL | relu-out NLL | Δ (per seed) | paper BLEU (valid) | relu-out |' \
    '|---:|---:|---:|---:|---:|---:|' \
    '| 1,000 | 6.000 | 5.125 | −0.875 (−1.250, −0.500) | 0.75 | 1.75 |')"
refused "seed_table: one variant twice" "are both 'paper'" seed_table.sh "$d/st" paper paper
refused "seed_table: a bad step list" "STEPS must be steps like 4000,6000" seed_table.sh "$d/st" paper relu-out 4000,x
out=$(bash "$d/scripts/seed_table.sh" "$d/st" paper gate 2>&1); rc=$?
check "seed_table: no such variant: exit" "$rc" 1
case $out in *"no seed has cells of both 'paper' and 'gate'"*) ;; *) echo "FAIL: seed_table: no variant: $out"; fail=1;; esac
row 2500 abc 1 >> "$st/variant=relu-out,seed=2/metrics.tsv"
out=$(bash "$d/scripts/seed_table.sh" "$d/st" paper relu-out 2>&1); rc=$?
check "seed_table: a bad NLL: exit" "$rc" 1
case $out in *"seed=2/metrics.tsv:4: no dev NLL in column 7"*) ;; *) echo "FAIL: seed_table: bad NLL: $out"; fail=1;; esac
rm -rf "$d"
[ "$fail" = 0 ] && echo "scripts_test: all checks passed"
exit "$fail"
