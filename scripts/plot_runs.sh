#!/usr/bin/env bash
# Plots the metrics.tsv of one or more run folders side by side (gnuplot, PNG):
# training loss and dev NLL against steps, dev BLEU against steps and against training time.
#
#   bash scripts/plot_runs.sh -o compare.png runs/a runs/b ...
#
# Each run is labelled by its folder name. Installs gnuplot-nox with apt-get when missing (root).
set -euo pipefail
out=""
runs=()
while [ $# -gt 0 ]; do
    case "$1" in
        -o) out=$2; shift 2 ;;
        -h|--help) sed -n 2,8p "$0"; exit 0 ;;
        *) runs+=("$1"); shift ;;
    esac
done
[ -n "$out" ] && [ ${#runs[@]} -gt 0 ] || { echo "usage: plot_runs.sh -o OUT.png RUNDIR..." >&2; exit 2; }
for r in "${runs[@]}"; do
    [ -f "$r/metrics.tsv" ] || { echo "plot_runs.sh: $r/metrics.tsv not found" >&2; exit 1; }
done
if ! command -v gnuplot >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || { echo "plot_runs.sh: gnuplot is missing (apt-get install gnuplot-nox)" >&2; exit 1; }
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y gnuplot-nox
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# metrics.tsv columns: kind step epoch elapsed_s lr loss nll ppl tgt_tok_s grad_norm bleu chrf
plots=("" "" "" "")
for i in "${!runs[@]}"; do
    r=${runs[$i]}
    name=$(basename "$r")
    awk -F'\t' '$1=="train"' "$r/metrics.tsv" > "$tmp/train$i.tsv"
    awk -F'\t' '$1=="valid"' "$r/metrics.tsv" > "$tmp/valid$i.tsv"
    sep=$([ "$i" -gt 0 ] && echo ", " || true)
    plots[0]+="$sep'$tmp/train$i.tsv' using 2:6 with lines lw 1.5 title '$name'"
    plots[1]+="$sep'$tmp/valid$i.tsv' using 2:7 with linespoints lw 1.5 title '$name'"
    plots[2]+="$sep'$tmp/valid$i.tsv' using 2:11 with linespoints lw 1.5 title '$name'"
    plots[3]+="$sep'$tmp/valid$i.tsv' using (\$4/60):11 with linespoints lw 1.5 title '$name'"
done
gnuplot <<GP
set terminal pngcairo size 1400,1000 font ",11" noenhanced
set output '$out'
set datafile separator "\t"
set key bottom right
set grid
set multiplot layout 2,2 title "tapegrad runs: ${runs[*]}"
set title "training loss (label-smoothed)"; set xlabel "step"; set ylabel "loss"
plot ${plots[0]}
set title "dev NLL per token"; set xlabel "step"; set ylabel "NLL"
plot ${plots[1]}
set title "dev BLEU"; set xlabel "step"; set ylabel "BLEU"; set key top left
plot ${plots[2]}
set title "dev BLEU against training time"; set xlabel "minutes of training"; set ylabel "BLEU"
plot ${plots[3]}
unset multiplot
GP
echo "wrote $out"
