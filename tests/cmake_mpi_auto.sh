#!/bin/sh
# cmake_mpi_auto.sh SOURCE_DIR CMAKE: TG_MPI AUTO looks for MPI at every configure. A build folder
# configured while no MPI could be found (here: find_package(MPI) disabled) builds with MPI at its
# next configure once one is found; the default taken once and cached had kept MPI off for good, so
# the MPI tests were left out with no word (a fresh machine's main job configured build/ before
# test.sh installed MPI).
set -u
src=$1
cmake=$2
d=$(mktemp -d "${TMPDIR:-/tmp}/tg_mpi_auto.XXXXXX")
trap 'rm -rf "$d"' EXIT
expect() {  # expect WHAT WANTED CMAKE_ARGS...: configure, and the status line must say WANTED
    what=$1 wanted=$2
    shift 2
    out=$("$cmake" -S "$src" -B "$d" "$@" 2>&1) || { echo "FAIL: $what: configure failed:"; echo "$out"; exit 1; }
    case $out in
        *"tapegrad: $wanted"*) echo "ok: $what: $wanted" ;;
        *) echo "FAIL: $what: no 'tapegrad: $wanted' in:"; echo "$out"; exit 1 ;;
    esac
}
expect "no MPI found" "MPI off (TG_MPI AUTO)" -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON
expect "MPI found at the next configure" "MPI on (TG_MPI AUTO)" -DCMAKE_DISABLE_FIND_PACKAGE_MPI=OFF
expect "TG_MPI=OFF" "MPI off (TG_MPI OFF)" -DTG_MPI=OFF
