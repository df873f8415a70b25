#!/usr/bin/env bash
# BPE benchmark: learning 8000 merges on bible_en_es train and encoding both sides of it, on
# one core. Builds build/tapegrad if needed, pins it to CPU 0 with taskset when available, and
# prints the median of 3 runs of each phase (see `tapegrad vocab bench --help`).
#   bash scripts/bench_bpe.sh [--data FILE.tsv] [--merges N] [--repeat R] [--json]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x build/tapegrad ]; then
    cmake -S . -B build >/dev/null
    cmake --build build -j2 --target tapegrad >/dev/null
fi
args=(--data ../shared/data/bible_en_es/train.tsv --merges 8000 --repeat 3)
pin=()
if command -v taskset >/dev/null 2>&1; then pin=(taskset -c 0); fi
exec "${pin[@]}" build/tapegrad vocab bench "${args[@]}" "$@"
