/* fuzz_util.c: temporary files and strings for the fuzz targets (fuzz.h). */
#include "tests/fuzz/fuzz.h"

#include <dirent.h>
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

static char dir_path[64];

static void remove_dir(void) {
    DIR *d = opendir(dir_path);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir_path, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir_path);
}

const char *fuzz_tmp_dir(void) {
    if (!dir_path[0]) {
        snprintf(dir_path, sizeof dir_path, "/tmp/tg_fuzz_dir_XXXXXX");
        if (!mkdtemp(dir_path)) { perror("mkdtemp"); abort(); }
        atexit(remove_dir);
    }
    return dir_path;
}

char *fuzz_cstr(const uint8_t *bytes, size_t n) {
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, bytes, n);
    s[n] = '\0';
    return s;
}
