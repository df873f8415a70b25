#!/usr/bin/env bash
# The step-by-step tables of docs/EXPERIMENT.md: a variant's dev NLL against the baseline's over
# the seeds of one experiment folder, from the `valid` rows of the cells' metrics.tsv: at each step,
# the mean over seeds of the baseline's and the variant's NLL, their difference (variant − baseline)
# on the mean and seed by seed, and the mean of each one's validation BLEU (greedy, on the
# --valid-sentences the run validated on). Seeds are paired by number; a step is shown only when
# every paired cell has a validation there.
#
#   bash scripts/seed_table.sh DIR BASELINE VARIANT [STEP,STEP,...]   (default: every such step)
#   bash scripts/seed_table.sh runs/study-post-gettext_en_de-medium-6000 paper relu-out 4000,6000
set -euo pipefail
usage="usage: seed_table.sh DIR BASELINE VARIANT [STEP,STEP,...]"
DIR=${1:?$usage}
BASE=${2:?$usage}
VAR=${3:?$usage}
STEPS=${4:-}
[[ -z "$STEPS" || "$STEPS" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] ||
    { echo "seed_table.sh: STEPS must be steps like 4000,6000, not '$STEPS'" >&2; exit 2; }
[ "$BASE" != "$VAR" ] || { echo "seed_table.sh: the baseline and the variant are both '$BASE'" >&2; exit 2; }
[ -d "$DIR/cells" ] ||
    { echo "seed_table.sh: no cells/ in '$DIR' (an experiment folder)" >&2; exit 1; }
# the seeds both variants have, and the metrics.tsv of each of their cells, baseline first
FILES=()
SEEDS=()
# the baseline's seeds in numeric order (2 before 10), as the docs' tables list them
mapfile -t BSEEDS < <(for c in "$DIR/cells/variant=$BASE,seed="*; do
                          [ -e "$c" ] && printf '%s\n' "${c##*,seed=}"; done | sort -n)
for s in "${BSEEDS[@]}"; do
    [ -e "$DIR/cells/variant=$VAR,seed=$s" ] || continue
    for v in "$BASE" "$VAR"; do
        f="$DIR/cells/variant=$v,seed=$s/metrics.tsv"
        [ -f "$f" ] || { echo "seed_table.sh: no metrics.tsv in '${f%/metrics.tsv}'" >&2; exit 1; }
        # awk takes an operand like variant=paper,seed=3/metrics.tsv for an assignment
        case "$f" in /*) ;; *) f=./$f ;; esac
        FILES+=("$f")
    done
    SEEDS+=("$s")
done
[ ${#SEEDS[@]} -gt 0 ] ||
    { echo "seed_table.sh: no seed has cells of both '$BASE' and '$VAR' in '$DIR/cells'" >&2
      exit 1; }
# The files come in pairs (baseline, variant) per seed: file k is seed (k + 1) / 2's.
awk -F'\t' -v seeds="${SEEDS[*]}" -v steps="$STEPS" -v base="$BASE" -v var="$VAR" '
BEGIN { for (i = 1; i < ARGC; i++) idx[ARGV[i]] = i }
FNR == 1 { k = idx[FILENAME]; side = (k % 2 == 1) ? "b" : "v"; seed = int((k + 1) / 2) }
$1 != "valid" { next }
$7 !~ /^[0-9.eE+-]+$/ { bad(FILENAME ":" FNR ": no dev NLL in column 7") }
{ nll[side, seed, $2 + 0] = $7 + 0; bleu[side, seed, $2 + 0] = $11; seen[$2 + 0] = 1 }
function bad(msg) { print "seed_table.sh: " msg > "/dev/stderr"; failed = 1; exit 1 }
function minus(x) { gsub(/-/, "\342\210\222", x); return x }   # U+2212, as the docs print it
function thousands(n,    s) {
    s = sprintf("%d", n)
    while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s)
    return s
}
function complete(t,    i) {
    for (i = 1; i <= n; i++)
        if (!(("b", i, t) in nll) || !(("v", i, t) in nll)) return 0
    return 1
}
END {
    if (failed) exit 1
    n = split(seeds, sd, " ")
    if (steps != "") nt = split(steps, ts, ",")
    else { for (t in seen) ts[++nt] = t + 0
           for (i = 2; i <= nt; i++) for (j = i; j > 1 && ts[j - 1] > ts[j]; j--) {
               x = ts[j]; ts[j] = ts[j - 1]; ts[j - 1] = x } }
    printf "seeds: %s\n\n", seeds
    printf "| step | %s NLL | %s NLL | Δ (per seed) | %s BLEU (valid) | %s |\n",
        base, var, base, var
    print "|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nt; i++) {
        t = ts[i] + 0
        if (!complete(t)) {
            if (steps != "")
                printf "| %s | (not every seed has a validation there) |\n", thousands(t)
            continue
        }
        sb = sv = bb = bv = 0; per = ""
        for (j = 1; j <= n; j++) {
            sb += nll["b", j, t]; sv += nll["v", j, t]
            bb += bleu["b", j, t]; bv += bleu["v", j, t]
            per = per (j > 1 ? ", " : "") sprintf("%+.3f", nll["v", j, t] - nll["b", j, t])
        }
        printf "| %s | %.3f | %.3f | %s (%s) | %.2f | %.2f |\n", thousands(t), sb / n, sv / n,
            minus(sprintf("%+.3f", (sv - sb) / n)), minus(per), bb / n, bv / n
    }
}' "${FILES[@]}"
