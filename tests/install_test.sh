#!/usr/bin/env bash
# install_test.sh BUILD_DIR: installs the build into a temporary prefix and uses it as a user
# would, from outside the source tree:
#   1. every installed header compiles on its own with only the installed include dir (so no
#      public header needs a private one), as C and, when a C++ compiler is there, as C++;
#   2. examples/custom_op.c builds with `pkg-config --cflags --libs tapegrad` and runs;
#   3. examples/mlp.c and char_lm.c build in a CMake project with find_package(tapegrad) and run;
#   4. the installed `tapegrad` program answers --help.
# Any failure exits non-zero with what failed. Registered in ctest (tests/CMakeLists.txt).
set -euo pipefail
build=$(cd "${1:?usage: install_test.sh BUILD_DIR}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tg_install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "install_test: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install failed"; }
inc=$prefix/include/tapegrad
[ -f "$inc/tapegrad.h" ] || fail "no $inc/tapegrad.h"
for lib in libtapegrad.a libtapegrad.so; do
    ls "$prefix"/lib*/"$lib" >/dev/null 2>&1 || fail "no $lib installed"
done
# A sanitized library needs its runtimes in whatever it is compiled into.
san=$(grep -o -- '-fsanitize=[a-z,]*' "$build/tapegrad.pc" || true)

# 1. each header alone, C11 and C++
n=0
while IFS= read -r h; do
    rel=${h#"$inc"/}
    printf '#include "%s"\nint tg_header_alone;\n' "$rel" >"$tmp/one.c"
    cc -std=c11 -Wall -Wextra -Werror -I "$inc" -c "$tmp/one.c" -o "$tmp/one.o" ||
        fail "$rel does not compile alone as C with only the installed headers"
    if command -v c++ >/dev/null; then
        cp "$tmp/one.c" "$tmp/one.cpp"
        c++ -std=c++11 -Wall -Werror -I "$inc" -c "$tmp/one.cpp" -o "$tmp/one.o" ||
            fail "$rel does not compile as C++"
    fi
    n=$((n + 1))
done < <(find "$inc" -name '*.h' | sort)
echo "install_test: $n installed headers compile alone (C11$(command -v c++ >/dev/null && echo ', C++11'))"

# 2. pkg-config
pcdir=$(dirname "$(find "$prefix" -name tapegrad.pc | head -1)")
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs tapegrad) || fail "pkg-config does not know tapegrad"
# (with the warnings a user's build turns on: the example is a template, it warned with -Wextra)
cc -std=c11 -O1 -Wall -Wextra -Werror $san "$src/examples/custom_op.c" -o "$tmp/custom_op" $flags -lm ||
    fail "examples/custom_op.c does not build with: pkg-config --cflags --libs tapegrad ($flags)"
LD_LIBRARY_PATH=$(dirname "$(ls "$prefix"/lib*/libtapegrad.so | head -1)") "$tmp/custom_op" ||
    fail "the pkg-config build of custom_op failed"
echo "install_test: pkg-config build runs ($flags)"
# the static one links the .a (no libtapegrad.so needed at run time)
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs tapegrad-static) || fail "pkg-config does not know tapegrad-static"
cc -std=c11 -O1 $san "$src/examples/custom_op.c" -o "$tmp/custom_op_static" $flags ||
    fail "examples/custom_op.c does not build with: pkg-config --cflags --libs tapegrad-static ($flags)"
! ldd "$tmp/custom_op_static" | grep -q libtapegrad || fail "the tapegrad-static build links libtapegrad.so"
"$tmp/custom_op_static" || fail "the pkg-config static build of custom_op failed"
echo "install_test: pkg-config static build runs ($flags)"

# 3. find_package
mkdir -p "$tmp/proj"
cat >"$tmp/proj/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.18)
project(uses_tapegrad C)
find_package(tapegrad 0.1 REQUIRED)
foreach(ex mlp char_lm)
  add_executable(\${ex} "$src/examples/\${ex}.c")
  target_link_libraries(\${ex} PRIVATE tapegrad::tapegrad)
endforeach()
CMAKE
cmake -S "$tmp/proj" -B "$tmp/proj/build" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_C_FLAGS="$san" >"$tmp/proj.log" 2>&1 || { cat "$tmp/proj.log"; fail "find_package(tapegrad) failed"; }
cmake --build "$tmp/proj/build" >>"$tmp/proj.log" 2>&1 || { cat "$tmp/proj.log"; fail "the find_package project does not build"; }
"$tmp/proj/build/mlp" 100 || fail "the find_package build of mlp failed"
"$tmp/proj/build/char_lm" --text "$src/examples/data/tiny.txt" --d-model 16 --heads 2 --d-ff 32 \
    --context 16 --batch 4 --steps 5 --sample 20 --save "$tmp/lm.ckpt" ||
    fail "the find_package build of char_lm failed"
echo "install_test: find_package(tapegrad) build runs"

# 4. the program
"$prefix/bin/tapegrad" --help >/dev/null || fail "installed tapegrad --help failed"
echo "install_test: ok"
