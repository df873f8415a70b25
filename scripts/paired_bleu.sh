#!/usr/bin/env bash
# Greedy dev BLEU of checkpoints, each against a baseline checkpoint by paired bootstrap
# resampling (the BLEU rows of docs/EXPERIMENT.md's lead tables): every checkpoint translates the
# whole dev set with --beam 1, then `tapegrad score --paired-bs` compares them with the first.
# Translations are cached in HYPDIR under the SHA-256 of the checkpoint's bytes and of the dev
# source, so a cached one is reused only for the same model on the same text.
#
#   bash scripts/paired_bleu.sh DEV.tsv[.gz] HYPDIR BASELINE.ckpt VARIANT.ckpt [VARIANT.ckpt ...]
#   bash scripts/paired_bleu.sh data/bible_en_es/dev.tsv.gz runs/tm runs/seed3-keep/paper-24000.ckpt \
#        runs/seed3-keep/gate-24000.ckpt runs/seed3-keep/gate-20000.ckpt
# TG=path/to/tapegrad for another build (default build/tapegrad).
set -euo pipefail
usage="usage: paired_bleu.sh DEV.tsv[.gz] HYPDIR BASELINE.ckpt VARIANT.ckpt [VARIANT.ckpt ...]"
[ $# -ge 4 ] || { echo "$usage" >&2; exit 2; }
TG=${TG:-build/tapegrad}
DEV=$1 HYPDIR=$2
shift 2
fail() { echo "paired_bleu.sh: $*" >&2; exit 1; }
[ -x "$TG" ] || fail "no tapegrad at '$TG' (build it, or set TG)"
[ -f "$DEV" ] || fail "no dev file '$DEV'"
for c in "$@"; do [ -f "$c" ] || fail "no checkpoint '$c'"; done
mkdir -p -- "$HYPDIR"
sha() { sha256sum < "$1" | cut -c1-16; }

# the dev sides, written afresh each time (blank lines skipped; paths reach awk by ENVIRON, which
# does not read escapes)
src=$HYPDIR/src.txt ref=$HYPDIR/ref.txt
# temporaries of this run's own (two runs on one HYPDIR at once each write their own), removed
# when it ends however it ends
src_tmp=$(mktemp "$src.XXXXXX.tmp") ref_tmp=$(mktemp "$ref.XXXXXX.tmp") h_tmp=
json_tmp=$(mktemp "$HYPDIR/paired.json.XXXXXX.tmp")
trap 'rm -f -- "$src_tmp" "$ref_tmp" "$json_tmp" ${h_tmp:+"$h_tmp"}' EXIT
export PB_DEV=$DEV PB_SRC=$src_tmp PB_REF=$ref_tmp
zcat -f -- "$DEV" | awk -F'\t' '
    { sub(/\r$/, "") }
    NF == 0 { next }
    NF != 2 { print "paired_bleu.sh: " ENVIRON["PB_DEV"] ":" NR ": expected source<TAB>target" > "/dev/stderr"; bad = 1; exit 1 }
    { print $1 > ENVIRON["PB_SRC"]; print $2 > ENVIRON["PB_REF"]; n++ }
    END { if (!n && !bad) { print "paired_bleu.sh: " ENVIRON["PB_DEV"] ": no sentence pairs" > "/dev/stderr"; exit 1 } }' ||
    exit 1
chmod a+r -- "$src_tmp" "$ref_tmp"
dev_sha=$(sha "$src_tmp")   # this run translates and scores its own copies, which another run cannot replace

hyps=()
for c in "$@"; do
    key=$(sha "$c")
    h=$HYPDIR/$key-$dev_sha.hyp
    if [ ! -f "$h" ]; then
        echo "paired_bleu.sh: translating $c" >&2
        h_tmp=$(mktemp "$h.XXXXXX.tmp")
        if ! "$TG" translate --model "$c" --beam 1 --input "$src_tmp" > "$h_tmp" 2> "$h.err"; then
            tail -n 3 -- "$h.err" >&2
            fail "translating $c failed (its messages: $h.err)"
        fi
        # a checkpoint rewritten while it was read (a run saving into it) would file another
        # model's translation under this key
        [ "$(sha "$c")" = "$key" ] || fail "$c changed while it was translated: run again"
        chmod a+r -- "$h_tmp"
        mv -- "$h_tmp" "$h"
        h_tmp=
    fi
    hyps+=("$h")
done

# one line a checkpoint from score's JSON (its systems in the order given): BLEU; the difference
# to the baseline's BLEU with the 95% interval of the resampled differences (their mean +- ci, as
# sacreBLEU prints it); the p-value
"$TG" score --ref "$ref_tmp" --hyp "${hyps[0]}" --paired-bs "${hyps[@]:1}" --json > "$json_tmp"
printf '%s\n' "$@" | awk '
function num(line, key,    m) {
    return match(line, "\"" key "\": [-+0-9.eE]+") ? substr(line, RSTART + length(key) + 4, RLENGTH - length(key) - 4) + 0 : ""
}
FNR == NR { ckpt[++nc] = $0; next }
/"bleu":/ { bleu = num($0, "score") }
/"diff":/ { diff = num($0, "score"); mean = num($0, "mean"); ci = num($0, "ci") }
/"p_value":/ {
    if (++n > nc) { print "paired_bleu.sh: more systems in score --json than checkpoints" > "/dev/stderr"; exit 1 }
    if ($0 ~ /null/) printf "%-40s BLEU %6.2f  (baseline)\n", ckpt[n], bleu
    else printf "%-40s BLEU %6.2f  diff %+.2f [%+.2f, %+.2f]  p = %.3f\n", ckpt[n], bleu, diff, mean - ci, mean + ci,
                num($0, "p_value")
}
END { if (n != nc) { print "paired_bleu.sh: " n " systems in score --json for " nc " checkpoints" > "/dev/stderr"; exit 1 } }
' - "$json_tmp"
chmod a+r -- "$json_tmp"
mv -- "$json_tmp" "$HYPDIR/paired.json"
mv -- "$src_tmp" "$src"   # the dev sides of the last run, beside its table
mv -- "$ref_tmp" "$ref"
