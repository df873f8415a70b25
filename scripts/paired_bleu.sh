#!/usr/bin/env bash
# Greedy dev BLEU of checkpoints, each against a baseline checkpoint by paired bootstrap
# resampling (the BLEU rows of docs/EXPERIMENT.md's lead tables): every checkpoint translates the
# whole dev set with --beam 1, then `tapegrad score --paired-bs` compares them with the first.
# Translations are kept in HYPDIR as NAME.hyp (NAME: the checkpoint's path without .ckpt, each
# character other than A-Z a-z 0-9 . - turned into _) and reused while newer than their checkpoint.
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
[ -x "$TG" ] || { echo "paired_bleu.sh: no tapegrad at '$TG' (build it, or set TG)" >&2; exit 1; }
[ -f "$DEV" ] || { echo "paired_bleu.sh: no dev file '$DEV'" >&2; exit 1; }
for c in "$@"; do [ -f "$c" ] || { echo "paired_bleu.sh: no checkpoint '$c'" >&2; exit 1; }; done
mkdir -p "$HYPDIR"
# the dev sides, rewritten only when the dev file is newer (zcat -f reads plain text too)
src=$HYPDIR/src.txt ref=$HYPDIR/ref.txt
if [ ! -s "$ref" ] || [ "$DEV" -nt "$ref" ]; then
    zcat -f -- "$DEV" | awk -F'\t' -v s="$src.tmp" -v r="$ref.tmp" '
        NF != 2 { print "paired_bleu.sh: " FILENAME ":" NR ": expected source<TAB>target" > "/dev/stderr"; exit 1 }
        { print $1 > s; print $2 > r }' FILENAME="$DEV"
    mv -- "$src.tmp" "$src" && mv -- "$ref.tmp" "$ref"
fi
hyps=()
for c in "$@"; do
    name=$(printf '%s' "${c%.ckpt}" | tr -c 'A-Za-z0-9.-' '_')
    h=$HYPDIR/$name.hyp
    if [ ! -s "$h" ] || [ "$c" -nt "$h" ]; then
        echo "paired_bleu.sh: translating $c" >&2
        "$TG" translate --model "$c" --beam 1 --input "$src" > "$h.tmp" 2> "$HYPDIR/$name.err"
        mv -- "$h.tmp" "$h"
    fi
    hyps+=("$h")
done
# one line a system from score's JSON: BLEU; the difference to the baseline's BLEU, with the 95%
# interval of the resampled differences (their mean +- ci, as sacreBLEU prints it); the p-value
"$TG" score --ref "$ref" --hyp "${hyps[0]}" --paired-bs "${hyps[@]:1}" --json > "$HYPDIR/paired.json"
awk '
function num(key,    m) { return match($0, "\"" key "\": [-+0-9.eE]+") ? substr($0, RSTART + length(key) + 4, RLENGTH - length(key) - 4) + 0 : "" }
/"name":/ { split($0, q, "\""); name = q[4] }
/"bleu":/ { bleu = num("score") }
/"diff":/ { diff = num("score"); mean = num("mean"); ci = num("ci") }
/"p_value":/ {
    if (name == "") { print "paired_bleu.sh: unexpected score --json output" > "/dev/stderr"; exit 1 }
    if ($0 ~ /null/) printf "%-44s BLEU %6.2f  (baseline)\n", name, bleu
    else printf "%-44s BLEU %6.2f  diff %+.2f [%+.2f, %+.2f]  p = %.3f\n", name, bleu, diff, mean - ci, mean + ci, num("p_value")
    name = ""; n++
}
END { if (n < 2) { print "paired_bleu.sh: no systems in score --json output" > "/dev/stderr"; exit 1 } }' "$HYPDIR/paired.json"
