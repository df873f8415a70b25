#!/bin/sh
# mpi_train.sh TAPEGRAD CASE: `mpirun -np 2 tapegrad train` as users run it (issue 13). The exit
# code is the assertion; every mpirun is bounded by `timeout`, so a hang fails (124) instead of
# blocking the suite.
#   equal-copy   2 ranks end with the parameters of --accum-shards 2 in one process, bit for bit
#                (copy task, dropout on; the sum overlapping backward in small buckets), 3 ranks
#                with those of 3 shards (the sum after backward), and the run resumes over 2 ranks
#                as it would in one
#   equal-bible  the same on 300 lines of data/bible_en_es (BPE learned by every rank, saved by 0)
#   rank-fails   a step that fails before its update on rank 1 alone (before its forward, in the
#                making of its batch, in the middle of its backward with buckets already in the
#                overlapped sum, after it, and after it on a rank whose summing thread could not
#                start, which sums the same buckets itself; before: a hang):
#                every rank learns of it in the step's gather, none updates, rank 0 saves the steps
#                before it, every rank exits 1 (no hang, no MPI_Abort); the resume ends with the
#                uninterrupted run's parameters (before: the job ended by MPI_Abort, unsaved)
#   ranks-fail   3 ranks, a step failing before its update on two of them (1 and 2; 0 and 2): rank 0
#                names both, each failing rank prints its own cause once, the rank whose step was
#                sound prints nothing (before: rank 0 named the first alone, and every rank printed
#                the agreed line); saved at the step before, no MPI_Abort
#   usage-once   another command than train over MPI is refused, once (before: each rank ran it
#                whole: translate printed every line twice); a bad flag given to every rank is printed once, by rank 0 (before: by every rank, each
#                then ending the job by MPI_Abort); one given to rank 1 alone (or rank 0 alone) is
#                shown once from that rank; every rank exits 2, nothing written, no hang; rank 0's
#                refusal is shown while another rank still judges its command line (before: held
#                until every rank had, lost when one died or hung there); --help
#                prints its text once; rank 1's refusal is shown with /tmp full (held in memory;
#                before: in a tmpfile() in /tmp, lost, the header line alone shown), and where it
#                could not be held (memfd_create failing too) that is said (root with unshare, and
#                strace for the second; else skipped, saying so)
#   knobs-differ TAPEGRAD_MPI_BUCKET, TAPEGRAD_MPI_OVERLAP or TAPEGRAD_INJECT_NAN set on one rank only
#                is refused before anything is written, naming the variable and both ranks' values,
#                exit 1, no hang (before: the bucket ended in MPI_ERR_TRUNCATE); other kernels on one
#                rank train, said once by rank 0 (before: nothing said); TAPEGRAD_KERNELS=bogus on ranks 1
#                and 2 only is warned of once, from rank 1, named (before: dropped with its held output),
#                and beside a warning every rank printed, alone (before: the shared one shown twice);
#                TAPEGRAD_MPI_BUCKET=12abc on rank 1 is warned of once and ignored, the job trains
#                (before: read as 12 by atoll, refused as unequal; "abc" taken as unset, unsaid)
#   save-fails   rank 1's step 13 fails before its update, and rank 0's save of step 12 after it fails
#                too (a failing disk: TAPEGRAD_FAIL_SYNC at last.ckpt's temporary): rank 0 says that
#                last.ckpt still holds step 10, its last save (before: only that it could not be
#                saved); the resume from it ends with the uninterrupted run's parameters
#   rank0-after  rank 0 alone fails after a step's update (its validation in the run's middle and at its
#                end, a full disk at its log, metrics or checkpoint writes): rank 1 learns it at the
#                next agreement (or the end's), prints nothing, and every rank exits 1 through
#                MPI_Finalize (before: rank 0 ended the job by MPI_Abort)
#   rank-killed  rank 1 is SIGKILLed at step 3: the job ends, no hang, last.ckpt intact
#   rank-paused  rank 1 alone stopped (SIGSTOP) 3 s in a step and continued, in a --time-limit run
#                (with the sum overlapping backward, and after it):
#                the pause is not training time on rank 0, whose clock every rank follows (before:
#                counted, rank 0 waiting for it in the sum)
#   wrong-ranks  a 2-shard run resumed on 3 ranks is refused with a message (exit 2); a run of one
#                process (1 shard) resumed on 2 ranks is refused saying why and what to do (before:
#                "resume it with mpirun -np 1 ... the shards then run in turn"), and its config.txt
#                given as --config to 2 ranks says the file's line sets it (before: "give
#                --accum-shards 2 or leave it out", a flag not given); with --accum-shards 2 it trains
#   nan-reload   injected NaN gradients (skips, then a reload of last.ckpt at half the lr) give 2
#                ranks the same decisions and parameters as --accum-shards 2
#   diagnostics  --diagnostics over 2 ranks: rank 0 alone writes diagnostics.tsv (rank 1, in
#                another folder, writes nothing), the same rows (gradient norms of the summed
#                gradient included) as --accum-shards 2 in one process
#   stop-signal  --time-limit (rank 0's clock) and SIGINT to one rank stop every rank at the same
#                step: no hang, rank 0 saves last.ckpt, exit 0
#   ranks-differ ranks given other flags, other data or another run folder to resume are refused
#                before the first step (before: other --lr trained on without a word, other
#                --max-steps waited for ever, other data of the same lengths trained on); the
#                same data under another file name is accepted; the refusal is printed once, by rank 0,
#                every rank exits 1 through MPI_Finalize (before: by every rank, then MPI_Abort)
set -u
TG=$1
CASE=$2
D=$(mktemp -d "${TMPDIR:-/tmp}/tg_mpi_XXXXXX")
trap 'rm -rf "$D"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI's own allocations are not ours to report (sanitizer build)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
MPI="timeout 120 mpirun --oversubscribe --mca btl self,vader"
TINY="--task copy --task-vocab 12 --task-size 400 --d-model 16 --heads 2 --d-ff 32 --layers 1 --max-tokens 300
      --lr 3e-3 --warmup 20 --log-every 10 --valid-every 10 --threads 1 --dropout 0.1"

fail() { echo "FAIL: $*" >&2; exit 1; }
checksum() { "$TG" ckpt info "$1" | sed -n 's/^param checksum *//p'; }
same_params() {   # dir1 dir2
    a=$(checksum "$1/last.ckpt"); b=$(checksum "$2/last.ckpt")
    echo "$1: $a  $2: $b"
    [ -n "$a" ] && [ "$a" = "$b" ] || fail "parameters differ"
}
only_rank0_wrote() {   # the run folder of a 2-rank run holds one set of files (no rank-1 temp files)
    ls "$1" | grep -q '\.tmp\.' && fail "temporary files left in $1"
    [ "$(grep -c 'saved' "$1/train.log")" -ge 1 ] || fail "no train.log lines in $1"
}

case $CASE in
equal-copy)
    "$TG" train $TINY --max-steps 20 --accum-shards 2 --out "$D/one" 2>"$D/one.err" || fail "one process"
    # small buckets: most of the sum overlaps backward
    TAPEGRAD_MPI_BUCKET=300 $MPI -np 2 "$TG" train $TINY --max-steps 20 --out "$D/two" 2>"$D/two.err" ||
        { cat "$D/two.err"; fail "2 ranks"; }
    same_params "$D/one" "$D/two"
    grep -q "MB, [1-9][0-9]*% of it summed while backward ran" "$D/two.err" || fail "no overlap"
    # 3 ranks: the sum ((g0 + g1) + g2) in rank order, as 3 shards in turn add it; the plain sum
    "$TG" train $TINY --max-steps 10 --accum-shards 3 --out "$D/one3" 2>/dev/null || fail "one process, 3 shards"
    TAPEGRAD_MPI_OVERLAP=0 $MPI -np 3 "$TG" train $TINY --max-steps 10 --out "$D/three" 2>"$D/three.err" ||
        { cat "$D/three.err"; fail "3 ranks"; }
    same_params "$D/one3" "$D/three"
    grep -q ", 0% of it summed while backward ran" "$D/three.err" || fail "TAPEGRAD_MPI_OVERLAP=0 ignored"
    only_rank0_wrote "$D/two"
    grep -q "accum-shards = 2" "$D/two/config.txt" || fail "config.txt lacks the shard count"
    # resume: 2 ranks continue the 2-rank run, one process the single one, to 30 steps
    $MPI -np 2 "$TG" train --resume "$D/two" --max-steps 30 2>"$D/two.err" || { cat "$D/two.err"; fail "resume on 2 ranks"; }
    "$TG" train --resume "$D/one" --max-steps 30 2>"$D/one.err" || fail "resume in one process"
    same_params "$D/one" "$D/two"
    ;;
equal-bible)
    zcat data/bible_en_es/train.tsv.gz | head -300 >"$D/train.tsv"
    zcat data/bible_en_es/dev.tsv.gz | head -20 >"$D/dev.tsv"
    BIBLE="--train $D/train.tsv --dev $D/dev.tsv --merges 300 --d-model 32 --heads 4 --d-ff 64 --layers 1
           --max-tokens 1200 --max-steps 6 --valid-every 3 --log-every 2 --threads 1 --dropout 0.1 --warmup 4"
    "$TG" train $BIBLE --accum-shards 2 --out "$D/one" 2>"$D/one.err" || { cat "$D/one.err"; fail "one process"; }
    TAPEGRAD_MPI_BUCKET=5000 $MPI -np 2 "$TG" train $BIBLE --out "$D/two" 2>"$D/two.err" ||
        { cat "$D/two.err"; fail "2 ranks"; }
    same_params "$D/one" "$D/two"
    cmp "$D/one/vocab.txt" "$D/two/vocab.txt" || fail "vocabularies differ"
    only_rank0_wrote "$D/two"
    ;;
rank-fails)
    # the uninterrupted run, and the same run failing at step 13 on rank 1 alone (last saved at 10)
    $MPI -np 2 "$TG" train $TINY --max-steps 20 --out "$D/whole" 2>"$D/err" || { cat "$D/err"; fail "2 ranks"; }
    for how in start batch backward after thread; do
        case $how in
        start) TAPEGRAD_INJECT_RANK_FAIL=1:13 $MPI -np 2 "$TG" train $TINY --max-steps 20 --out "$D/$how" ;;
        backward) TAPEGRAD_MPI_BUCKET=300 TAPEGRAD_INJECT_RANK_FAIL=1:13:backward \
                  $MPI -np 2 "$TG" train $TINY --max-steps 20 --out "$D/$how" ;;
        thread) TAPEGRAD_MPI_BUCKET=300 $MPI -np 1 "$TG" train $TINY --max-steps 20 --out "$D/$how" : \
                 -np 1 env TAPEGRAD_FAIL_SUM_THREAD=1 TAPEGRAD_FAIL_STEP=13 "$TG" train $TINY --max-steps 20 \
                 --out "$D/$how" ;;
        batch|after) f=13; [ $how = batch ] && f=13:batch
              $MPI -np 1 "$TG" train $TINY --max-steps 20 --out "$D/$how" : \
                   -np 1 env TAPEGRAD_FAIL_STEP=$f "$TG" train $TINY --max-steps 20 --out "$D/$how" ;;
        esac 2>"$D/err" >/dev/null
        rc=$?
        cat "$D/err" >&2
        [ $rc -ne 124 ] || fail "$how: the job hung (timeout)"
        [ $rc -ne 0 ] || fail "$how: the job succeeded although rank 1 failed"
        case $how in   # rank 1's own error
        start) said="injected failure of rank 1 at step 13" ;;
        batch) said="out of memory for a batch .TAPEGRAD_FAIL_STEP." ;;
        backward) said="backward: out of memory in its middle" ;;
        after|thread) said="backward: out of memory .TAPEGRAD_FAIL_STEP." ;;
        esac
        grep -q "rank 1: error: $said" "$D/err" || fail "$how: no message from rank 1"
        grep -q "step 13 failed before its update (below); last.ckpt holds step 12" "$D/err" || fail "$how: not saved"
        grep -q "error: rank 1 of 2 failed in step 13 before its update" "$D/err" ||
            fail "$how: rank 0 does not name rank 1"
        grep -qi "ending the whole job\|MPI_ABORT" "$D/err" && fail "$how: ended by MPI_Abort"
        "$TG" ckpt info "$D/$how/last.ckpt" | grep -q '^step  *12 ' || fail "$how: last.ckpt not at step 12"
        $MPI -np 2 "$TG" train --resume "$D/$how" 2>"$D/err" || { cat "$D/err"; fail "$how: resume"; }
        same_params "$D/whole" "$D/$how"
    done
    ;;
ranks-fail)
    for who in 12 02; do
        case $who in
        12) $MPI -np 1 "$TG" train $TINY --max-steps 20 --out "$D/$who" : \
                 -np 2 env TAPEGRAD_FAIL_STEP=13 "$TG" train $TINY --max-steps 20 --out "$D/$who" ;;
        02) $MPI -np 1 env TAPEGRAD_FAIL_STEP=13 "$TG" train $TINY --max-steps 20 --out "$D/$who" : \
                 -np 1 "$TG" train $TINY --max-steps 20 --out "$D/$who" : \
                 -np 1 env TAPEGRAD_FAIL_STEP=13 "$TG" train $TINY --max-steps 20 --out "$D/$who" ;;
        esac 2>"$D/err" >/dev/null
        rc=$?
        cat "$D/err" >&2
        [ $rc -ne 124 ] || fail "$who: the job hung (timeout)"
        [ $rc -ne 0 ] || fail "$who: the job succeeded although ranks failed"
        grep -qi "ending the whole job\|MPI_ABORT" "$D/err" && fail "$who: ended by MPI_Abort"
        grep -q "step 13 failed before its update (below); last.ckpt holds step 12" "$D/err" || fail "$who: not saved"
        "$TG" ckpt info "$D/$who/last.ckpt" | grep -q '^step  *12 ' || fail "$who: last.ckpt not at step 12"
        cause="backward: out of memory (TAPEGRAD_FAIL_STEP)"
        n() { grep -cF "$1" "$D/err"; }
        case $who in
        12) [ "$(n "error: ranks 1 and 2 of 3 failed in step 13 before its update")" = 1 ] ||
                fail "$who: rank 0 does not name ranks 1 and 2 once"
            [ "$(n "rank 1: error: $cause")" = 1 ] && [ "$(n "rank 2: error: $cause")" = 1 ] ||
                fail "$who: ranks 1 and 2 do not each print their cause once"
            [ "$(n "error:")" = 3 ] || fail "$who: $(n "error:") error lines, expected 3" ;;
        02) [ "$(n "error: $cause; ranks 0 and 2 of 3 failed in step 13 before its update")" = 1 ] ||
                fail "$who: rank 0 does not give its cause and name ranks 0 and 2 once"
            [ "$(n "rank 2: error: $cause")" = 1 ] || fail "$who: rank 2 does not print its cause once"
            [ "$(n "error:")" = 2 ] || fail "$who: $(n "error:") error lines, expected 2" ;;
        esac
    done
    ;;
usage-once)
    once() {   # what: the job ended with code $1 (no hang), its output holding $2 exactly once, nothing written
        [ $rc -eq "$1" ] || { cat "$D/err"; fail "$what: exit $rc, expected $1"; }
        [ "$(grep -cF -- "$2" "$D/err")" = 1 ] || { cat "$D/err"; fail "$what: '$2' not printed once"; }
        grep -qi "ending the whole job\|MPI_ABORT" "$D/err" && fail "$what: ended by MPI_Abort"
        [ ! -e "$D/u" ] || fail "$what: $D/u made"
    }
    what=every; $MPI -np 2 "$TG" train $TINY --out "$D/u" --bogus 2>"$D/err"; rc=$?
    once 2 "unrecognized option '--bogus'"
    [ "$(grep -c "^usage: tapegrad train" "$D/err")" = 1 ] || fail "$what: usage not printed once"
    what=rank1; $MPI -np 1 "$TG" train $TINY --out "$D/u" : -np 1 "$TG" train $TINY --out "$D/u" --lr x 2>"$D/err"
    rc=$?; once 2 "rank 1 of 2 (rank 0 took its command line):"
    grep -q -- "--lr" "$D/err" || fail "$what: rank 1's refusal not shown"
    what=rank0; $MPI -np 1 "$TG" train $TINY --out "$D/u" --max-steps -3 : -np 1 "$TG" train $TINY --out "$D/u" \
        2>"$D/err"; rc=$?
    once 2 "max-steps"
    grep -q "rank 1" "$D/err" && fail "$what: rank 1 printed"
    # rank 0's refusal is shown while rank 1 still judges its own (its --config a FIFO no one has
    # written yet): it was held until every rank had judged, lost when one died or hung there
    what=rank0-first; mkfifo "$D/fifo"
    : >"$D/err"   # (the case before left "max-steps" there: the wait below could end at once on it)
    $MPI -np 1 "$TG" train $TINY --out "$D/u" --max-steps -3 : -np 1 "$TG" train $TINY --out "$D/u" \
        --config "$D/fifo" 2>"$D/err" & pid=$!
    i=0; while ! grep -q "max-steps" "$D/err" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    grep -q "max-steps" "$D/err"; shown=$?
    timeout 10 sh -c 'echo "lr = 0.001" >"$1"' sh "$D/fifo"   # (bounded: a job already gone opens no FIFO)
    wait $pid; rc=$?
    [ $shown -eq 0 ] || { cat "$D/err"; fail "$what: rank 0's refusal held while rank 1 judged its command line"; }
    once 2 "max-steps"
    # rank 1 with /tmp a full tmpfs of its own (a mount namespace; the program run from a descriptor
    # opened before the mount, which may hide it); mpirun's session folder in $D
    fulltmp='exec 3<"$1" && shift && mount --make-rprivate / && mount -t tmpfs -o size=64k tmpfs /tmp &&
             { cat /dev/zero >/tmp/fill 2>/dev/null; exec /proc/self/fd/3 "$@"; }'
    if unshare -m sh -c "$fulltmp" sh /bin/true 2>/dev/null; then
        what=full-tmp; TMPDIR=$D PMIX_MCA_gds=hash $MPI -np 1 "$TG" train $TINY --out "$D/u" : \
            -np 1 unshare -m sh -c "$fulltmp" sh "$TG" train $TINY --out "$D/u" --lr x 2>"$D/err"; rc=$?
        once 2 "rank 1 of 2 (rank 0 took its command line):"
        grep -q -- "--lr: 'x' is not a number" "$D/err" || { cat "$D/err"; fail "$what: rank 1's refusal lost"; }
        if strace -qq -o /dev/null -e inject=memfd_create:error=ENOSYS /bin/true 2>/dev/null; then
            what=full-tmp-no-memfd; TMPDIR=$D PMIX_MCA_gds=hash $MPI -np 1 "$TG" train $TINY --out "$D/u" : \
                -np 1 strace -f -qq -o /dev/null -e trace=memfd_create -e inject=memfd_create:error=ENOSYS \
                unshare -m sh -c "$fulltmp" sh "$TG" train $TINY --out "$D/u" --lr x 2>"$D/err"; rc=$?
            once 2 "rank 1 of 2: some of what it printed to stderr while the ranks judged their flags was lost"
        else
            echo "usage-once: no strace fault injection here: the lost held output's message is not checked"
        fi
    else
        echo "usage-once: cannot mount in a namespace of its own (not root?): a full /tmp is not checked"
    fi
    what=help; $MPI -np 2 "$TG" train --help >"$D/out" 2>"$D/err"; rc=$?
    [ $rc -eq 0 ] && [ "$(grep -c "^usage: tapegrad train" "$D/out")" = 1 ] || fail "$what: exit $rc, or not once"
    # another command over MPI: refused, once (before: mpirun -np 2 tapegrad translate translated twice)
    for cmd in translate "ckpt info" eval --help frob; do
        what=$cmd; $MPI -np 2 "$TG" $cmd --help >"$D/out" 2>"$D/err"; rc=$?
        [ $rc -ne 0 ] && [ ! -s "$D/out" ] || fail "$what over MPI: exit $rc, or it ran"
        first=${cmd%% *}
        [ "$(grep -c -- "tapegrad $first: started as one of 2 MPI processes: only train runs over MPI" "$D/err")" = 1 ] \
            || { cat "$D/err"; fail "$what over MPI: not refused once"; }
    done
    $MPI -np 2 "$TG" >"$D/out" 2>"$D/err"; rc=$?   # no command at all
    [ $rc -ne 0 ] && [ "$(grep -c "^tapegrad: started as one of 2 MPI processes" "$D/err")" = 1 ] \
        || { cat "$D/err"; fail "no command over MPI: exit $rc, or not refused once"; }
    ;;
knobs-differ)
    for knob in TAPEGRAD_MPI_BUCKET=300 TAPEGRAD_MPI_OVERLAP=0 TAPEGRAD_INJECT_NAN=6:3; do
        $MPI -np 1 "$TG" train $TINY --max-steps 20 --out "$D/k" : \
             -np 1 env "$knob" "$TG" train $TINY --max-steps 20 --out "$D/k" 2>"$D/err" >/dev/null
        rc=$?
        [ $rc -eq 1 ] || { cat "$D/err"; fail "$knob: exit $rc, expected 1"; }
        case $knob in
        *BUCKET*) said="TAPEGRAD_MPI_BUCKET is 1048576 elements on rank 0 and 300 elements on rank 1 of 2" ;;
        *OVERLAP*) said="TAPEGRAD_MPI_OVERLAP is unset or not 0 (on) on rank 0 and 0 (off) on rank 1 of 2" ;;
        *NAN*) said="TAPEGRAD_INJECT_NAN is unset on rank 0 and 6:3 on rank 1 of 2" ;;
        esac
        [ "$(grep -cF "$said" "$D/err")" = 1 ] || { cat "$D/err"; fail "$knob: no message, or not once"; }
        grep -qi "ending the whole job\|MPI_ABORT\|message truncated" "$D/err" && { cat "$D/err"; fail "$knob: not refused"; }
        [ ! -e "$D/k" ] || fail "$knob: $D/k made"
    done
    # the same values said another way (the default's bucket size, overlap "1" for unset): taken
    $MPI -np 1 env TAPEGRAD_MPI_BUCKET=1048576 TAPEGRAD_MPI_OVERLAP=1 "$TG" train $TINY --max-steps 2 --out "$D/ks" : \
         -np 1 "$TG" train $TINY --max-steps 2 --out "$D/ks2" 2>"$D/err" >/dev/null \
        || { cat "$D/err"; fail "equal knobs said another way: refused"; }
    # a bucket size that is not one on one rank (atoll took 12abc as 12, refused as unequal): ignored
    # as TAPEGRAD_THREADS's typo is, said once, and the job trains
    $MPI -np 1 "$TG" train $TINY --max-steps 2 --out "$D/kbucket" : \
         -np 1 env TAPEGRAD_MPI_BUCKET=12abc "$TG" train $TINY --max-steps 2 --out "$D/kbucket2" 2>"$D/err" >/dev/null \
        || { cat "$D/err"; fail "TAPEGRAD_MPI_BUCKET=12abc on rank 1: the job did not train"; }
    [ "$(grep -cF "TAPEGRAD_MPI_BUCKET=12abc is not a bucket size" "$D/err")" = 1 ] \
        || { cat "$D/err"; fail "TAPEGRAD_MPI_BUCKET=12abc: not said once"; }
    # other kernels on one rank (a node without AVX-512): the job trains, rank 0 says it once
    $MPI -np 1 "$TG" train $TINY --max-steps 4 --out "$D/kk" : \
         -np 1 env TAPEGRAD_KERNELS=portable "$TG" train $TINY --max-steps 4 --out "$D/kk2" 2>"$D/err" >/dev/null \
        || { cat "$D/err"; fail "other kernels on rank 1: exit $?"; }
    said="warning: rank 1 of 2 runs the portable kernels and rank 0 the"
    if grep -qw avx2 /proc/cpuinfo && [ -z "${TAPEGRAD_KERNELS:-}" ]; then   # (else rank 0 runs portable too)
        [ "$(grep -cF "$said" "$D/err")" = 1 ] || { cat "$D/err"; fail "other kernels on rank 1: not said once"; }
    fi
    # a warning a rank other than 0 printed alone while judging its command line (it was dropped with
    # its held output): shown once, from the lowest such rank, after a line naming it; one rank 0
    # printed too, by rank 0 alone
    bogus="tapegrad: TAPEGRAD_KERNELS=bogus is not one of portable|avx2|avx512|auto"
    $MPI -np 1 "$TG" train $TINY --max-steps 2 --out "$D/kq" : \
         -np 2 env TAPEGRAD_KERNELS=bogus "$TG" train $TINY --max-steps 2 --out "$D/kb" 2>"$D/err" >/dev/null \
        || { cat "$D/err"; fail "TAPEGRAD_KERNELS=bogus on ranks 1 and 2: exit $?"; }
    [ "$(grep -cF "$bogus" "$D/err")" = 1 ] || { cat "$D/err"; fail "rank 1's warning not shown once"; }
    [ "$(grep -c "^tapegrad train: rank 1 of 3, judging its command line (the ranks go on):$" "$D/err")" = 1 ] \
        || { cat "$D/err"; fail "rank 1's warning not named"; }
    $MPI -np 2 -x TAPEGRAD_KERNELS=bogus "$TG" train $TINY --max-steps 2 --out "$D/kb2" 2>"$D/err" >/dev/null \
        || { cat "$D/err"; fail "TAPEGRAD_KERNELS=bogus on every rank: exit $?"; }
    [ "$(grep -cF "$bogus" "$D/err")" = 1 ] && ! grep -q "judging its command line" "$D/err" \
        || { cat "$D/err"; fail "every rank's warning not shown once, by rank 0"; }
    # a warning every rank printed (a resume past its end off the --valid-every grid) beside rank 1's
    # own: rank 1 shows its own alone (it showed both, the shared one then printed twice)
    $MPI -np 3 "$TG" train $TINY --max-steps 3 --out "$D/kr" 2>/dev/null >/dev/null || fail "3 ranks, 3 steps"
    $MPI -np 1 "$TG" train --resume "$D/kr" --max-steps 4 : \
         -np 2 env TAPEGRAD_KERNELS=bogus "$TG" train --resume "$D/kr" --max-steps 4 2>"$D/err" >/dev/null \
        || { cat "$D/err"; fail "resumed, TAPEGRAD_KERNELS=bogus on ranks 1 and 2: exit $?"; }
    [ "$(grep -cF "$bogus" "$D/err")" = 1 ] && [ "$(grep -c "warning: this run validated at its end" "$D/err")" = 1 ] \
        || { cat "$D/err"; fail "rank 1's own warning not shown alone, once"; }
    ;;
save-fails)
    # the fault's number: the first TAPEGRAD_FAIL_SYNC that fails last.ckpt's save after the failed step,
    # found in one process (rank 0 makes the same saves and syncs as one process of 2 shards)
    n=0; N=""
    while [ -z "$N" ] && [ $n -lt 100 ]; do
        n=$((n + 1)); rm -rf "$D/one"
        TAPEGRAD_FAIL_STEP=13 TAPEGRAD_FAIL_SYNC=$n "$TG" train $TINY --max-steps 20 --accum-shards 2 \
            --out "$D/one" 2>"$D/err"
        grep -q "step 13 failed.*last.ckpt could not be saved: .*last.ckpt: cannot sync" "$D/err" && N=$n
    done
    [ -n "$N" ] || fail "no TAPEGRAD_FAIL_SYNC fails the save after step 13"
    # the same save failed at its folder's sync, after its rename: last.ckpt is the new one, said so
    rm -rf "$D/one"
    TAPEGRAD_FAIL_STEP=13 TAPEGRAD_FAIL_SYNC=$((N + 3)) "$TG" train $TINY --max-steps 20 --accum-shards 2 \
        --out "$D/one" 2>"$D/err"
    grep -q "folder could not be synced.*; last.ckpt holds step 12 all the same" "$D/err" ||
        { cat "$D/err"; fail "a save renamed, its folder not synced, not told"; }
    "$TG" ckpt info "$D/one/last.ckpt" | grep -q '^step  *12 ' || fail "last.ckpt not at step 12"
    $MPI -np 2 "$TG" train $TINY --max-steps 20 --out "$D/whole" 2>"$D/err" || { cat "$D/err"; fail "2 ranks"; }
    $MPI -np 1 env TAPEGRAD_FAIL_SYNC=$N "$TG" train $TINY --max-steps 20 --out "$D/s" : \
         -np 1 env TAPEGRAD_FAIL_STEP=13 "$TG" train $TINY --max-steps 20 --out "$D/s" 2>"$D/err" >/dev/null
    rc=$?
    cat "$D/err" >&2
    [ $rc -ne 124 ] || fail "the job hung (timeout)"
    [ $rc -ne 0 ] || fail "the job succeeded although rank 1 failed"
    grep -q "step 13 failed before its update (below), and last.ckpt could not be saved: .*; last.ckpt still holds \
step 10, its last save (the 2 steps since then are lost)" "$D/err" || fail "rank 0 does not say which step last.ckpt holds"
    "$TG" ckpt info "$D/s/last.ckpt" | grep -q '^step  *10 ' || fail "last.ckpt not at step 10"
    $MPI -np 2 "$TG" train --resume "$D/s" 2>"$D/err" || { cat "$D/err"; fail "resume"; }
    same_params "$D/whole" "$D/s"
    ;;
rank0-after)
    for e in TAPEGRAD_FAIL_IN_VALIDATION=2 TAPEGRAD_FAIL_IN_VALIDATION=3 TAPEGRAD_FAIL_WRITE=20 TAPEGRAD_FAIL_WRITE=40 \
             TAPEGRAD_FAIL_WRITE=60; do
        rm -rf "$D/v"
        $MPI -np 1 env "$e" "$TG" train $TINY --max-steps 30 --out "$D/v" : \
             -np 1 "$TG" train $TINY --max-steps 30 --out "$D/v" 2>"$D/err" >/dev/null
        rc=$?
        [ $rc -eq 1 ] || { cat "$D/err"; fail "$e: exit $rc, expected 1"; }
        grep -qi "ending the whole job\|MPI_ABORT" "$D/err" && { cat "$D/err"; fail "$e: ended by MPI_Abort"; }
        [ "$(grep -c "] error: .*${e%%=*}" "$D/err")" = 1 ] || { cat "$D/err"; fail "$e: rank 0's error not once"; }
        grep -q "rank 1: error" "$D/err" && { cat "$D/err"; fail "$e: rank 1 printed"; }
    done
    ;;
rank-killed)
    TAPEGRAD_INJECT_RANK_FAIL="1:3:kill" $MPI -np 2 "$TG" train $TINY --max-steps 20 --out "$D/r" 2>"$D/err" >/dev/null
    rc=$?
    cat "$D/err" >&2
    [ $rc -ne 124 ] || fail "the job hung (timeout)"
    [ $rc -ne 0 ] || fail "the job succeeded although rank 1 was killed"
    grep -qi "signal 9" "$D/err" || fail "mpirun did not report the killed rank"
    "$TG" ckpt verify "$D/r/last.ckpt" || fail "last.ckpt damaged"
    ;;
rank-paused)
    # rank 1 stops itself (SIGSTOP) in step 20, just before its part of the gradient sum, where rank 0
    # waits for it: with the sum overlapping backward, and after backward (TAPEGRAD_MPI_OVERLAP=0,
    # whose sum came after the step's gather and so went untold)
    for overlap in 1 0; do
    TAPEGRAD_MPI_OVERLAP=$overlap TAPEGRAD_INJECT_RANK_FAIL=1:20:stop $MPI -np 2 "$TG" train $TINY \
        --max-steps 100000000 --time-limit 3s --valid-every 0 --save-every 0 --log-every 100000 --out "$D/p$overlap" \
        2>"$D/err" &
    pid=$!
    rank1=""   # the process whose MPI rank is 1, among mpirun's children, once stopped
    i=0
    while [ -z "$rank1" ] && [ $i -lt 300 ]; do
        sleep 0.1; i=$((i + 1))
        for p in $(pgrep -P "$(pgrep -P $pid | head -1)"); do
            tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" &&
                [ "$(ps -o stat= -p "$p" | cut -c1)" = T ] && rank1=$p
        done
    done
    [ -n "$rank1" ] || { kill $pid; fail "overlap $overlap: rank 1 did not stop"; }
    sleep 3; kill -CONT "$rank1"
    back=$(date +%s.%N)
    wait $pid
    rc=$?
    left=$(awk -v a="$back" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    cat "$D/err" >&2
    [ $rc -eq 0 ] || fail "overlap $overlap: exit $rc"
    grep -q "done: reached --time-limit" "$D/err" || fail "overlap $overlap: no time-limit stop"
    # almost all of the 3 s were left when rank 1 was continued (before: the pause used them up)
    echo "overlap $overlap: trained on for $left s after the pause"
    awk -v l="$left" 'BEGIN { exit !(l > 1.5) }' || fail "overlap $overlap: the pause was counted as training time"
    grep -q "step 20: rank 1 of 2 was stopped and continued within it: [0-9.]* s counted as" "$D/err" ||
        fail "overlap $overlap: rank 0 did not see rank 1's pause"
    done
    ;;
wrong-ranks)
    $MPI -np 2 "$TG" train $TINY --max-steps 4 --out "$D/two" 2>/dev/null || fail "2 ranks"
    $MPI -np 3 "$TG" train --resume "$D/two" --max-steps 8 2>"$D/err"
    rc=$?
    [ $rc -ne 124 ] && [ $rc -ne 0 ] || fail "resume on 3 ranks: exit $rc"
    grep -q "splits each batch into 2 shards, and this job has 3 ranks" "$D/err" || { cat "$D/err"; fail "no message"; }
    # one process may resume it: the shards then run in turn
    "$TG" train --resume "$D/two" --max-steps 8 2>/dev/null || fail "resume in one process"
    # a run of one process (each batch whole) cannot go on over 2 ranks (2 shards: other numbers)
    "$TG" train $TINY --max-steps 4 --out "$D/one" 2>/dev/null || fail "one process"
    $MPI -np 2 "$TG" train --resume "$D/one" --max-steps 8 2>"$D/err"
    rc=$?
    [ $rc -eq 2 ] || { cat "$D/err"; fail "1-shard run resumed on 2 ranks: exit $rc"; }
    [ "$(grep -c "this run computes each batch whole (1 shard, as a run of one process does), and this job has 2 \
MPI ranks, which compute each batch in 2 shards.*Resume it without mpirun; a run meant for 2 ranks starts with \
--accum-shards 2" "$D/err")" = 1 ] || { cat "$D/err"; fail "1-shard resume: no message saying why, or not once"; }
    "$TG" ckpt info "$D/one/last.ckpt" | grep -q '^step  *4 ' || fail "1-shard run changed"
    # its config.txt, the recipe of a new run over 2 ranks: the file's line is named
    $MPI -np 2 "$TG" train --config "$D/one/config.txt" --out "$D/new" 2>"$D/err"
    rc=$?
    [ $rc -eq 2 ] || { cat "$D/err"; fail "1-shard config.txt on 2 ranks: exit $rc"; }
    grep -q "config.txt line [0-9]* sets accum-shards = 1 (as the config.txt of a run of one process does: each \
batch whole), and this job has 2 MPI ranks.*give --accum-shards 2" "$D/err" || { cat "$D/err"; fail "--config: no message"; }
    [ ! -e "$D/new" ] || fail "--config refused, but $D/new made"
    $MPI -np 2 "$TG" train --config "$D/one/config.txt" --accum-shards 2 --out "$D/new" 2>"$D/err" ||
        { cat "$D/err"; fail "--config with --accum-shards 2 on 2 ranks"; }
    ;;
nan-reload)
    export TAPEGRAD_INJECT_NAN=6:3
    NAN="--max-steps 16 --save-every 4 --max-bad-steps 3"
    "$TG" train $TINY $NAN --accum-shards 2 --out "$D/one" 2>"$D/one.err" || fail "one process"
    $MPI -np 2 "$TG" train $TINY $NAN --out "$D/two" 2>"$D/two.err" || { cat "$D/two.err"; fail "2 ranks"; }
    grep -q "diverged: 3 non-finite updates in a row; reloaded" "$D/two.err" || { cat "$D/two.err"; fail "no reload"; }
    same_params "$D/one" "$D/two"
    ;;
diagnostics)
    "$TG" train $TINY --max-steps 10 --diagnostics 5 --accum-shards 2 --out "$D/one" 2>"$D/one.err" ||
        { cat "$D/one.err"; fail "one process"; }
    # rank 1 runs in another folder with the same relative --out: anything it wrote (or tried to
    # open there, which has no run folder) would show, whatever the timing
    mkdir "$D/r0" "$D/r1"
    $MPI -np 1 --wdir "$D/r0" "$TG" train $TINY --max-steps 10 --diagnostics 5 --out run : \
         -np 1 --wdir "$D/r1" "$TG" train $TINY --max-steps 10 --diagnostics 5 --out run 2>"$D/two.err" ||
        { cat "$D/two.err"; fail "2 ranks"; }
    [ -z "$(ls -A "$D/r1")" ] || fail "rank 1 wrote $(ls -A "$D/r1")"
    same_params "$D/one" "$D/r0/run"
    grep -q "grad_norm" "$D/r0/run/diagnostics.tsv" || fail "no gradient norms in diagnostics.tsv"
    cmp "$D/one/diagnostics.tsv" "$D/r0/run/diagnostics.tsv" || fail "diagnostics.tsv differs from one process's"
    only_rank0_wrote "$D/r0/run"
    ;;
stop-signal)
    $MPI -np 2 "$TG" train $TINY --max-steps 100000000 --time-limit 2s --valid-every 0 --out "$D/t" 2>"$D/t.err" ||
        { cat "$D/t.err"; fail "--time-limit over 2 ranks"; }
    grep -q "done: reached --time-limit" "$D/t.err" || fail "no time-limit stop"
    # SIGINT to one rank only (mpirun's own handling of signals is its business): every rank must
    # stop after the same step, rank 0 save, and the job end with 0
    $MPI -np 2 "$TG" train $TINY --max-steps 100000000 --valid-every 0 --save-every 0 --out "$D/s" 2>"$D/s.err" &
    pid=$!
    i=0; while [ ! -f "$D/s/last.ckpt" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    sleep 1
    ranks=$(pgrep -P "$(pgrep -P $pid | head -1)")
    [ -n "$ranks" ] || fail "no rank processes found"
    kill -INT $(echo "$ranks" | tail -1)
    wait $pid
    rc=$?
    [ $rc -ne 124 ] || fail "the job hung after SIGINT"
    [ $rc -eq 0 ] || { cat "$D/s.err"; fail "exit $rc after SIGINT"; }
    grep -q "stopped by signal 2" "$D/s.err" || { cat "$D/s.err"; fail "no agreed stop"; }
    "$TG" ckpt info "$D/s/last.ckpt" | grep -q '^step  *[1-9]' || fail "no steps saved"
    ;;
ranks-differ)
    refused() {   # message: the job ended (no hang, not 0) with it
        rc=$?
        [ $rc -ne 124 ] && [ $rc -ne 0 ] || { cat "$D/err"; fail "exit $rc, expected a refusal: $1"; }
        [ "$(grep -c "$1" "$D/err")" = 1 ] || { cat "$D/err"; fail "no message, or not once: $1"; }
        grep -qi "ending the whole job\|MPI_ABORT" "$D/err" && { cat "$D/err"; fail "ended by MPI_Abort: $1"; }
    }
    for extra in "--lr 0.01" "--max-steps 20" "--max-epochs 3"; do
        $MPI -np 1 "$TG" train $TINY --max-steps 30 --out "$D/f" : \
             -np 1 "$TG" train $TINY --max-steps 30 $extra --out "$D/f" 2>"$D/err"
        refused "rank 1 was given other settings than rank 0: ${extra%% *} differs"
        rm -rf "$D/f"
    done
    # the same --train name, other pairs of the same lengths (each rank in a folder of its own)
    mkdir "$D/a" "$D/b"
    printf 'a b\tc d\ne f\tg h\ni j\tk l\n' >"$D/a/t.tsv"
    printf 'e f\tg h\na b\tc d\ni j\tk l\n' >"$D/b/t.tsv"
    DATA="train --train t.tsv --merges 4 --d-model 16 --heads 2 --d-ff 32 --layers 1 --threads 1 --out run"
    $MPI -np 1 --wdir "$D/a" "$TG" $DATA --max-steps 4 : -np 1 --wdir "$D/b" "$TG" $DATA --max-steps 4 2>"$D/err"
    refused "rank 1 has other training data than rank 0"
    # the same data under another name (a copy on each node's disk) is the same run
    cp "$D/a/t.tsv" "$D/b/t.tsv"
    $MPI -np 1 --wdir "$D/a" "$TG" $DATA --max-steps 2 : \
         -np 1 --wdir "$D/b" "$TG" train --train "$D/b/t.tsv" --merges 4 --d-model 16 --heads 2 --d-ff 32 --layers 1 \
         --threads 1 --out run --max-steps 2 2>"$D/err" || { cat "$D/err"; fail "the same data by another name refused"; }
    # resumed from two run folders of one recipe at other steps: other parameters
    rm -rf "$D/a/run" "$D/b/run"
    (cd "$D/a" && "$TG" $DATA --max-steps 4 --accum-shards 2 2>/dev/null) || fail "run a"
    (cd "$D/b" && "$TG" $DATA --max-steps 8 --accum-shards 2 2>/dev/null) || fail "run b"
    $MPI -np 1 --wdir "$D/a" "$TG" train --resume run --max-steps 12 : \
         -np 1 --wdir "$D/b" "$TG" train --resume run --max-steps 12 2>"$D/err"
    refused "rank 1 has other parameters than rank 0"
    ;;
*) fail "unknown case $CASE" ;;
esac
echo "ok: $CASE"
