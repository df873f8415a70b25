/* fuzz_util.c: temporary files and strings for the fuzz targets (fuzz.h). */
#include "tests/fuzz/fuzz.h"

#include <string.h>
#include <unistd.h>

static char paths[4][64];

static void remove_files(void) {
    for (int i = 0; i < 4; i++)
        if (paths[i][0]) unlink(paths[i]);
}

const char *fuzz_tmp_file(int slot, const void *bytes, size_t n) {
    char *p = paths[slot];
    if (!p[0]) {
        snprintf(p, sizeof paths[slot], "/tmp/tg_fuzz_%d_XXXXXX", slot);
        int fd = mkstemp(p);
        if (fd < 0) { perror("mkstemp"); abort(); }
        close(fd);
        static int registered;
        if (!registered++) atexit(remove_files);
    }
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(bytes, 1, n, f) != n || fclose(f) != 0) { perror(p); abort(); }
    return p;
}

char *fuzz_cstr(const uint8_t *bytes, size_t n) {
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, bytes, n);
    s[n] = '\0';
    return s;
}
