/* fuzz.h: what the fuzz targets share. Each fuzz_<target>.c defines LLVMFuzzerTestOneInput; it is
 * linked with libFuzzer (TG_FUZZ=ON, clang) or with replay.c, which runs it on every file of the
 * target's seed corpus under ctest. A target aborts (FUZZ_CHECK) when a documented property
 * breaks; a crash or sanitizer report is a finding too. */
#ifndef TG_FUZZ_H
#define TG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes bytes to this process's temporary file number slot (0..3) and returns its path: the
 * readers under test take paths. The files are removed at exit. */
const char *fuzz_tmp_file(int slot, const void *bytes, size_t n);

/* A folder of this process's own (made on first use, removed with its files at exit): for readers
 * whose properties concern the folder as well as the file (temporaries left beside it). */
const char *fuzz_tmp_dir(void);

/* bytes[0..n) as a malloc'd NUL-terminated string (inner NULs kept). */
char *fuzz_cstr(const uint8_t *bytes, size_t n);

#define FUZZ_CHECK(cond)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

#endif /* TG_FUZZ_H */
