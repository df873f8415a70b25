#!/usr/bin/env bash
# The test command: installs what is missing (Debian, as root), builds the float and the double
# build, and runs every test with ctest. `scripts/test.sh --sanitize` does the same in one
# AddressSanitizer + UndefinedBehaviorSanitizer build (build-sanitize/).
set -euo pipefail
if [ $# -gt 1 ] || { [ $# = 1 ] && [ "$1" != --sanitize ]; }; then
    echo "test.sh: unknown arguments '$*' (usage: scripts/test.sh [--sanitize])" >&2
    exit 2
fi
cd "$(dirname "$(readlink -f -- "$0")")/.."   # the source root, also when started through a symlink

# the tests also read what is not bundled from ../shared, the shared folder beside the source tree
# (the gettext_en_de corpus, the sacreBLEU fixtures): without it four tests fail, so say so now
# rather than after the install and two builds
for f in ../shared/data/gettext_en_de/train.tsv ../shared/data/gettext_en_de/dev.tsv \
         ../shared/fixtures/sacrebleu/edge_cases/ref.txt; do
    [ -f "$f" ] || { echo "test.sh: $(readlink -m -- "$f") is missing: the tests read ../shared (the gettext_en_de corpus and the sacreBLEU fixtures, not bundled), the shared folder beside this tree" >&2; exit 1; }
done

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if ! pkg-config --exists check 2>/dev/null; then missing+=(check); fi
if ! pkg-config --exists zlib 2>/dev/null; then missing+=(zlib1g-dev); fi
command -v mpirun >/dev/null 2>&1 || missing+=(openmpi-bin)
command -v pgrep >/dev/null 2>&1 || missing+=(procps)   # tests/mpi_train.sh signals a rank
if ! pkg-config --exists ompi-c 2>/dev/null; then missing+=(libopenmpi-dev); fi
# for scripts/fuzz.sh (clang's libFuzzer) and scripts/valgrind.sh, which .ci/run also runs
command -v clang >/dev/null 2>&1 || missing+=(clang)
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || missing+=(libclang-rt-14-dev)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
command -v c++ >/dev/null 2>&1 || missing+=(g++)   # tests/install_test.sh compiles the headers as C++ too
if [ ${#missing[@]} -gt 0 ]; then
    echo "test.sh: installing ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "test.sh: need root to install ${missing[*]} (or install them yourself)" >&2
        exit 1
    fi
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

jobs=$(nproc 2>/dev/null || echo 2)
run() {  # run BUILD_DIR CMAKE_FLAGS...
    local dir=$1; shift
    echo "== $dir: cmake $*"
    # MPI is there (installed above): TG_MPI=ON, so that a build folder an older tapegrad configured
    # before MPI was installed (its TG_MPI OFF cached) cannot leave the MPI tests out
    cmake -S . -B "$dir" -DTG_WERROR=ON -DTG_MPI=ON "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
    # the tests' temporary files go to a folder of this build's own, which must be empty after
    local tmp="$PWD/$dir/test-tmp"
    rm -rf "$tmp" && mkdir -p "$tmp"
    TMPDIR="$tmp" ctest --test-dir "$dir" --output-on-failure -j 1
    local left
    left=$(find "$tmp" -mindepth 1 -maxdepth 2 | head -20)
    if [ -n "$left" ]; then
        echo "test.sh: the tests left temporary files behind in $tmp:" >&2
        echo "$left" >&2
        exit 1
    fi
}

if [ "${1:-}" = "--sanitize" ]; then
    run build-sanitize -DTG_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
else
    run build
    run build-double -DTG_DOUBLE=ON
fi
