#!/bin/sh
# small_stack.sh TAPEGRAD: every command as users run it under `ulimit -s 64` (a 64 KiB stack; the
# pool's threads get their own size, not the limit's). Each must exit 0: under 64 KiB, train
# crashed at its first save (SIGSEGV, 37 KiB of path buffers deep in its frames), its resume and
# experiment too, and the portable GEMM's 128 KiB panel overflowed a pool thread's stack, which
# glibc sized from the limit. Not run in the sanitizer build, whose frames are several times
# larger by design (tests/CMakeLists.txt).
set -u
TG=$1
case $TG in /*) ;; *) TG=$(pwd)/$TG ;; esac
D=$(mktemp -d "${TMPDIR:-/tmp}/tg_stack_XXXXXX")
trap 'rm -rf "$D"' EXIT
SRC=$(pwd)
cd "$D" || exit 1
gzip -dc "$SRC/data/bible_en_es/train.tsv.gz" | head -n 300 > tr.tsv
gzip -dc "$SRC/data/bible_en_es/dev.tsv.gz" | head -n 20 > dev.tsv
cut -f2 dev.tsv > ref.txt
cut -f1 dev.tsv > src.txt
TINY="--merges 200 --d-model 16 --heads 2 --d-ff 32 --layers 1 --threads 2"
failed=0
run() {   # NAME COMMAND...: the command under a 64 KiB stack, its exit code checked
    name=$1
    shift
    ( ulimit -s 64 && exec "$@" ) > "$name.out" 2>&1 < /dev/null
    rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "FAIL: $name: exit $rc under ulimit -s 64" >&2
        tail -n 3 "$name.out" >&2
        failed=1
    fi
}
run vocab_learn "$TG" vocab learn --data tr.tsv --merges 200 -o vocab.txt
# saves at steps 2 and 4 (last.ckpt, best.ckpt, step-N.ckpt), validations, log lines
run train "$TG" train --train tr.tsv --dev dev.tsv $TINY --max-steps 4 --save-every 2 --valid-every 2 --keep 2 \
    --log-every 1 --out run
rm -f run/step-4.ckpt   # the resume writes it again (a copy of last.ckpt)
run resume "$TG" train --resume run --max-steps 6
[ -f run/step-4.ckpt ] || { echo "FAIL: resume: run/step-4.ckpt not rewritten" >&2; failed=1; }
run translate sh -c 'exec "$0" translate --model run/last.ckpt --threads 2 < src.txt > hyp.txt' "$TG"
run eval "$TG" eval --model run/last.ckpt --data dev.tsv --threads 2
run score "$TG" score --ref ref.txt --hyp hyp.txt
run ckpt_info "$TG" ckpt info run/last.ckpt
run ckpt_verify "$TG" ckpt verify run/last.ckpt run/best.ckpt
run ckpt_average "$TG" ckpt average -o avg.ckpt run/last.ckpt run/step-4.ckpt
# the portable kernels: their GEMM in the pool's threads
run portable env TAPEGRAD_KERNELS=portable "$TG" train --train tr.tsv $TINY --max-steps 2 --out run_portable
# cells side by side, forked below the experiment's own frames, then the report
run experiment "$TG" experiment --train tr.tsv --dev dev.tsv $TINY --max-steps 2 --valid-every 2 --vary norm=post,pre --seeds 1 \
    --jobs 2 --out exp
run exp_report "$TG" experiment report exp
# extended: the record checked and written again, each cell's checkpoint read, then resumed
run exp_resume "$TG" experiment --resume exp --max-steps 4
run exp_dry_run "$TG" experiment --train tr.tsv $TINY --max-steps 2 --vary norm=post,pre --seeds 1 --out exp2 \
    --dry-run   # (the timed steps: a train forked below the dry run's frames)
run ckpt_diagnose "$TG" ckpt diagnose run
exit $failed
