#!/usr/bin/env bash
# The main job: build tapegrad, train the default recipe on the bundled English -> Spanish corpus
# (data/bible_en_es) for 30 minutes of training time, then translate the dev set (greedy and beam
# 4) and score it with sacreBLEU-compatible BLEU and chrF.
#
#   bash scripts/main_job.sh     # RUN=runs/bible_en_es TIME_LIMIT=30m THREADS=<cores> MERGES=8000 RECIPE=auto
#                                # TAPEGRAD=<a built tapegrad: skips the install and build>
#
# Run again, it resumes the run where it stopped (Ctrl-C or SIGTERM stops it, exit 130 or 143,
# the run saved; so does a signal that stops train alone, exit 128 + its number) and only
# translates once the time budget is spent. Installs what is missing with
# apt-get (as root) on Debian. A RUN you give is relative to where you are; the default is in the
# source tree.
set -euo pipefail
# Ctrl-C or SIGTERM: train finishes its step, saves and exits 0, so the job stops once the running
# command returns instead of going on to translate and score a half-trained model
trap 'echo "main_job.sh: stopped by SIGINT; run the same command again to resume" >&2; exit 130' INT
trap 'echo "main_job.sh: stopped by SIGTERM; run the same command again to resume" >&2; exit 143' TERM
case ${RUN:-} in '') ;; /*) ;; *) RUN=$PWD/$RUN;; esac   # also keeps a RUN like -x from reading as an option
case ${TAPEGRAD:-} in ''|/*) ;; */*) TAPEGRAD=$PWD/$TAPEGRAD;; esac
cd "$(dirname "$(readlink -f -- "$0")")/.."   # the source root, also when started through a symlink
RUN=${RUN:-runs/bible_en_es}
TIME_LIMIT=${TIME_LIMIT:-30m}
cores=$(nproc 2>/dev/null || echo 2)
THREADS=${THREADS:-$(( cores > 64 ? 64 : cores ))}
MERGES=${MERGES:-8000}
DATA=data/bible_en_es
. scripts/recipe.sh
. scripts/train_end.sh
RECIPE_SET=${RECIPE:-}
RECIPE=${RECIPE:-auto}    # auto and small: the small model, its dropout from the measured speed; or standard
# every setting is checked here, before anything is installed or built
case $RECIPE in auto|standard|small) ;; *) echo "main_job.sh: RECIPE must be auto, standard or small, not '$RECIPE'" >&2; exit 2;; esac
budget=$(seconds "$TIME_LIMIT") || budget=
[ -n "$budget" ] && [ "$budget" -gt 0 ] || { echo "main_job.sh: TIME_LIMIT '$TIME_LIMIT' is not a duration of 1s to 1e12s like 30m, 1h30m or 90s" >&2; exit 2; }
count_ok "$THREADS" 64 || { echo "main_job.sh: THREADS must be a whole number from 1 to 64, not '$THREADS'" >&2; exit 2; }
count_ok "$MERGES" 1000000 || { echo "main_job.sh: MERGES must be a whole number from 1 to 1000000, not '$MERGES'" >&2; exit 2; }

if [ -n "${TAPEGRAD:-}" ]; then
    # a tapegrad already built (or installed): nothing is installed or built
    # a name without a slash is looked up on PATH (a builtin or a function is no program); a
    # folder is executable too, so a file is required
    TG=$TAPEGRAD
    case $TG in */*) ;; *) TG=$(type -P -- "$TG") || TG=;; esac
    [ -f "$TG" ] && [ -x "$TG" ] || { echo "main_job.sh: TAPEGRAD '$TAPEGRAD' is not a program" >&2; exit 2; }
else
    missing=()
    command -v cmake >/dev/null 2>&1 || missing+=(cmake)
    command -v cc >/dev/null 2>&1 || missing+=(gcc)
    command -v make >/dev/null 2>&1 || missing+=(make)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    pkg-config --exists zlib 2>/dev/null || missing+=(zlib1g-dev)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "main_job.sh: installing ${missing[*]}"
        [ "$(id -u)" -eq 0 ] || { echo "main_job.sh: need root to install ${missing[*]}" >&2; exit 1; }
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
    fi

    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j "$THREADS" --target tapegrad
    TG=build/tapegrad
fi

if [ -f "$RUN/last.ckpt" ]; then
    # the recipe is in the run folder; resuming keeps it
    if [ -n "$RECIPE_SET" ] || [ "$MERGES" != 8000 ]; then
        echo "main_job.sh: resuming $RUN with the recipe and BPE it was started with (RECIPE and MERGES apply to new runs)" >&2
    fi
    # on the bundled corpus, as a new run is started: a run of other data or a task (an
    # experiment's cell, a run started by hand) is refused by train rather than trained on and
    # then scored on the bundled dev set
    "$TG" train --resume "$RUN" --train "$DATA/train.tsv.gz" --dev "$DATA/dev.tsv.gz" --time-limit "$TIME_LIMIT" \
        --threads "$THREADS"
else
    # both recipes were chosen on dev (docs/RESULTS.md): the learning rate decays to zero by a
    # cosine whose length is fitted to the time budget at the end of the warmup (--fit-steps,
    # logged). The standard recipe (on request) takes dropout 0.05, as 30 minutes are about nine
    # epochs of it. The small model trains with layer norm before each sub-layer (pre-LN), three
    # times the standard one's peak learning rate, and the dropout recipe_for fits to its epochs.
    if [ "$RECIPE" = standard ]; then
        model=(--norm post) lr=0.001 dropout=0.05
    else
        probe=$(probe_step "$TG" "$THREADS")
        choice=$(recipe_for "$budget" "$probe") || { echo "main_job.sh: the speed probe (tapegrad bench step) gave no step time" >&2; exit 1; }
        read -r steps dropout <<< "$choice"
        model=(--d-model 128 --d-ff 512 --heads 4 --norm pre) lr=0.003
        echo "main_job.sh: probe step ${probe} s at $THREADS threads, about $steps steps of the standard model in $TIME_LIMIT: the small recipe, dropout $dropout"
    fi
    "$TG" train --train "$DATA/train.tsv.gz" --dev "$DATA/dev.tsv.gz" --out "$RUN" --merges "$MERGES" \
        "${model[@]}" --schedule cosine --lr "$lr" --warmup 500 --fit-steps --time-limit "$TIME_LIMIT" --dropout "$dropout" \
        --valid-every 1000 --valid-sentences 200 --threads "$THREADS"
fi
# a signal sent to train alone stopped it, saved (it exits 0): the job stops there too
stop_if_stopped main_job.sh "$RUN"

alpha=$(alpha_for "$RUN") || { echo "main_job.sh: $RUN/config.txt gives no d-model" >&2; exit 1; }
# the dev files are written under the run's lock, which train holds while it trains (translate and
# score inherit it): a second main job or a train on RUN meanwhile is refused, and the temporaries
# of a job killed here (SIGKILL, the power) are removed, as no other job can be writing them
exec 9>> "$RUN/lock"
flock -n 9 || { echo "main_job.sh: $RUN is in use by another main job or train (its lock $RUN/lock is held)" >&2; exit 1; }
rm -f -- "$RUN"/dev.*.??????.tmp
trap 'rm -f "$tmp_out"' EXIT   # into's temporary file, when interrupted
dev_column() { gzip -dc "$DATA/dev.tsv.gz" | cut -f"$1"; }
into "$RUN/dev.src" dev_column 1
into "$RUN/dev.ref" dev_column 2
for beam in 1 4; do
    # last.ckpt: the schedule ends at zero there; beam 4 with the recipe's length penalty (tuned on dev)
    # (greedy decoding, beam 1, has no length penalty: translate refuses --alpha with it)
    penalty=(); [ "$beam" = 1 ] || penalty=(--alpha "$alpha")
    into "$RUN/dev.beam$beam.txt" "$TG" translate --model "$RUN/last.ckpt" --beam "$beam" "${penalty[@]}" \
        --threads "$THREADS" --input "$RUN/dev.src"
    echo "== dev, $( [ "$beam" = 1 ] && echo greedy || echo "beam $beam") ($RUN/dev.beam$beam.txt)"
    into "$RUN/dev.beam$beam.score" "$TG" score --ref "$RUN/dev.ref" --hyp "$RUN/dev.beam$beam.txt"
    cat "$RUN/dev.beam$beam.score"
done
