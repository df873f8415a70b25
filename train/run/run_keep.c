/* run_keep.c: --keep K, the periodic checkpoints step-N.ckpt a run keeps.
 *
 * The folder is listed rather than the name "K saves back" computed: saves at validations, at
 * signals and at the end fall between the periodic ones, and a resumed run may have changed
 * --save-every, so only the names on disk say which are the K newest. best.ckpt and last.ckpt
 * never match the pattern. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/run/run.h"

/* N if name is exactly "step-N.ckpt" (N as the run writes it: decimal, no sign or leading 0). */
static bool periodic_step(const char *name, int64_t *step) {
    if (strncmp(name, "step-", 5) != 0 || name[5] < '1' || name[5] > '9') return false;
    char *end;
    errno = 0;
    long long v = strtoll(name + 5, &end, 10);
    if (errno || strcmp(end, ".ckpt") != 0) return false;
    *step = v;
    return true;
}

static int cmp_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

tg_status tg_run_list_periodic(const char *dir, int64_t **steps, size_t *n, tg_err *err) {
    DIR *d = opendir(dir);
    if (!d) return tg_err_set(err, TG_ERR_IO, "cannot list %s: %s", dir, strerror(errno));
    size_t cap = 0;
    *steps = NULL;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int64_t s;
        if (!periodic_step(e->d_name, &s)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            int64_t *p = realloc(*steps, cap * sizeof *p);
            if (!p) { closedir(d); free(*steps); return tg_err_set(err, TG_ERR_NOMEM, "out of memory"); }
            *steps = p;
        }
        (*steps)[(*n)++] = s;
    }
    closedir(d);
    if (*n > 1) qsort(*steps, *n, sizeof **steps, cmp_desc);   /* qsort(NULL, 0, ...) is undefined */
    return TG_OK;
}

tg_status tg_run_keep_newest(const char *dir, int64_t keep, tg_err *err) {
    int64_t *steps = NULL;
    size_t n = 0;
    tg_status s = tg_run_list_periodic(dir, &steps, &n, err);
    for (size_t i = keep > 0 ? (size_t)keep : 0; s == TG_OK && i < n; i++) {
        char path[TG_PATH_MAX + 48];
        snprintf(path, sizeof path, "%s/step-%" PRId64 ".ckpt", dir, steps[i]);
        if (remove(path) != 0 && errno != ENOENT)
            s = tg_err_set(err, TG_ERR_IO, "cannot remove %s (--keep): %s", path, strerror(errno));
    }
    free(steps);
    return s;
}
