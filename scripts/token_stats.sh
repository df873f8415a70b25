#!/usr/bin/env bash
# The token statistics table of docs/EXPERIMENT.md: `tapegrad eval --beam 1 --json` of each
# checkpoint on a dev set, one Markdown row each: dev NLL, teacher-forced accuracy (the most
# probable next token is the target) and top-5 accuracy, the NLL of the targets that are the most probable token and
# of those that are not, mean entropy and mean confidence of the next-token distribution, the
# confidence less the accuracy (> 0: surer than right), and greedy BLEU. The JSON of each is kept
# in OUTDIR, named by the SHA-256 of the checkpoint's bytes and of the dev file, and reused.
#
#   bash scripts/token_stats.sh DEV.tsv[.gz] OUTDIR CKPT [CKPT ...]
#   bash scripts/token_stats.sh data/bible_en_es/dev.tsv.gz runs/ts runs/seed3-keep/paper-60000.ckpt \
#        runs/seed3-keep/gate-60000.ckpt
# TG=path/to/tapegrad for another build (default build/tapegrad); THREADS=N for eval's --threads.
set -euo pipefail
usage="usage: token_stats.sh DEV.tsv[.gz] OUTDIR CKPT [CKPT ...]"
[ $# -ge 3 ] || { echo "$usage" >&2; exit 2; }
TG=${TG:-build/tapegrad}
DEV=$1 OUTDIR=$2
shift 2
fail() { echo "token_stats.sh: $*" >&2; exit 1; }
[ -x "$TG" ] || fail "no tapegrad at '$TG' (build it, or set TG)"
[ -f "$DEV" ] || fail "no dev file '$DEV'"
for c in "$@"; do [ -f "$c" ] || fail "no checkpoint '$c'"; done
mkdir -p -- "$OUTDIR"
dev_sha=$(zcat -f -- "$DEV" | sha256sum | cut -c1-16)

echo "| checkpoint | dev NLL | accuracy | top-5 | NLL, right | NLL, wrong | entropy | confidence | conf. − acc. | BLEU |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for c in "$@"; do
    j=$OUTDIR/$(sha256sum < "$c" | cut -c1-16)-$dev_sha.json
    # a cached JSON from a build whose eval printed fewer statistics is made again
    if [ ! -s "$j" ] || ! grep -q '"top5_accuracy": ' "$j"; then
        echo "token_stats.sh: $c" >&2
        "$TG" eval --model "$c" --data "$DEV" --beam 1 ${THREADS:+--threads "$THREADS"} --json > "$j.tmp" ||
            { rm -f -- "$j.tmp"; fail "eval of $c failed"; }
        mv -- "$j.tmp" "$j"
    fi
    C=$c awk '
    function num(key,    m) {
        if (!match($0, "\"" key "\": [-+0-9.eE]+")) { print "token_stats.sh: no " key " in " FILENAME > "/dev/stderr"; exit 1 }
        return substr($0, RSTART + length(key) + 4, RLENGTH - length(key) - 4) + 0
    }
    {
        acc = num("token_accuracy"); conf = num("confidence")
        bleu = substr($0, index($0, "\"bleu\": {"))
        if (!match(bleu, /"score": [-+0-9.eE]+/)) { print "token_stats.sh: no BLEU in " FILENAME > "/dev/stderr"; exit 1 }
        bleu = substr(bleu, RSTART + 9, RLENGTH - 9) + 0   # before num() moves RSTART
        printf "| %s | %.4f | %.2f%% | %.2f%% | %.4f | %.4f | %.4f | %.4f | %+.4f | %.2f |\n", ENVIRON["C"], num("nll"),
               100 * acc, 100 * num("top5_accuracy"), num("nll_right"), num("nll_wrong"), num("entropy"), conf, conf - acc, bleu
    }' "$j"
done
