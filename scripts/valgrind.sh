#!/usr/bin/env bash
# A short train + translate (a tiny copy-task model, a few steps, two threads) under valgrind
# memcheck: exit status 1 on any memory error or any definitely/indirectly lost block. Uses the
# float build in build/ (built, or brought up to date). About a minute; CI runs it from .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind.sh: valgrind not found (Debian: apt-get install -y valgrind)" >&2
    exit 1
fi
# built, or brought up to date with the source (an edit since the last build is checked, not the old binary)
[ -f build/CMakeCache.txt ] || cmake -S . -B build -DTG_WERROR=ON >/dev/null
cmake --build build -j 2 --target tapegrad >/dev/null
dir=$(mktemp -d /tmp/tg_valgrind_XXXXXX)
trap 'rm -rf "$dir"' EXIT
vg=(valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect --track-origins=yes)
echo "== valgrind: train"
"${vg[@]}" build/tapegrad train --task copy --task-vocab 8 --task-size 60 --d-model 16 --heads 2 --d-ff 16 \
    --layers 1 --max-tokens 120 --max-steps 6 --valid-every 3 --keep 1 --threads 2 --out "$dir/run" 2>"$dir/train.log" \
    || { cat "$dir/train.log"; echo "valgrind.sh: train failed under memcheck" >&2; exit 1; }
printf '4 5 6\n4 5 6 7\n\n7 7\n' >"$dir/in.txt"   # a task's tokens are 4 and up (0-3 are special)
echo "== valgrind: translate (beam 2)"
"${vg[@]}" build/tapegrad translate --model "$dir/run/last.ckpt" --beam 2 --threads 2 <"$dir/in.txt" \
    >"$dir/out.txt" 2>"$dir/translate.log" \
    || { cat "$dir/translate.log"; echo "valgrind.sh: translate failed under memcheck" >&2; exit 1; }
[ "$(wc -l <"$dir/out.txt")" -eq 4 ] || { echo "valgrind.sh: translate gave $(wc -l <"$dir/out.txt") lines, 4 expected" >&2; exit 1; }
echo "valgrind.sh: 0 errors, no definite or indirect leaks (train 6 steps, translate 4 lines)"
