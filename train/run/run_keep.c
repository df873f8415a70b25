/* run_keep.c: --keep K and --keep-every E, the periodic checkpoints step-N.ckpt a run keeps.
 *
 * The folder is listed rather than the name "K saves back" computed: saves at validations, at
 * signals and at the end fall between the periodic ones, and a resumed run may have changed
 * --save-every, so only the names on disk say which are the K newest. best.ckpt and last.ckpt
 * never match the pattern. Only a regular file is a snapshot: a FIFO, folder or link of that name
 * is not the run's, so it is neither counted, nor removed, nor written over. A snapshot whose step
 * is a multiple of E is kept for good: never removed, and not one of the K (fairseq's
 * --keep-interval-updates-pattern), so a long study keeps a checkpoint every E steps with the K
 * newest besides. A step-N.ckpt with N beyond the run's step cannot be one the run wrote (a file
 * put there, say by `ckpt average -o`): it is neither counted nor removed, so that it cannot
 * push the run's own snapshots out. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/shown.h"
#include "train/ckpt/atomic_file.h"
#include "train/run/run.h"

void tg_run_periodic_path(const char *dir, int64_t step, char *buf, size_t len) {
    snprintf(buf, len, "%s/step-%" PRId64 ".ckpt", dir, step);
}

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
    int why = errno;
    if (!d) return tg_err_set(err, TG_ERR_IO, "cannot list %s: %s", TG_SHOWN(dir), strerror(why));
    size_t cap = 0;
    *steps = NULL;
    *n = 0;
    struct dirent *e;
    struct stat sb;
    while ((e = readdir(d))) {
        int64_t s;
        if (!periodic_step(e->d_name, &s)) continue;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode)) continue;
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

bool tg_run_kept_for_good(int64_t step, int64_t every) {
    return every > 0 && step > 0 && step % every == 0;
}

tg_status tg_run_keep_every_check(int64_t was, int64_t now, int64_t keep, tg_err *err) {
    if (was <= 0 || keep <= 0 || (now > 0 && was % now == 0)) return TG_OK;
    char which[64] = "them";
    if (now > 0) snprintf(which, sizeof which, "those that are not multiples of %lld", (long long)now);
    return tg_err_set(err, TG_ERR_ARG, "--keep-every %lld: the run keeps step-N.ckpt at every multiple of %lld for "
                      "good, and --keep %lld would remove %s; resume with --keep-every %lld (or a divisor of it), "
                      "or with --keep 0, which removes nothing",
                      (long long)now, (long long)was, (long long)keep, which, (long long)was);
}

/* A step-N.ckpt the run wrote: its state is step N and it holds optimiser state, as every save of
 * the run does. An average put there (no optimiser state), a copy of another step, or a file whose
 * header or state does not read is not one: --keep leaves it alone rather than count it among the
 * K (pushing out a snapshot of the run) or remove it. */
static bool runs_snapshot(const char *path, int64_t n) {
    int64_t step;
    bool resumable;
    tg_err err;
    return tg_run_snapshot_step(path, &step, &resumable, &err) == TG_OK && step == n && resumable;
}

tg_status tg_run_keep_newest(const char *dir, int64_t keep, int64_t every, int64_t step, tg_run_ahead *ahead,
                             tg_err *err) {
    int64_t *steps = NULL;
    size_t n = 0, rolling = 0;
    *ahead = (tg_run_ahead){0};
    tg_status s = tg_run_list_periodic(dir, &steps, &n, err);
    for (size_t i = 0; s == TG_OK && i < n; i++) {
        if (steps[i] > step) {   /* newest first: the first one seen is the newest */
            if (!ahead->n++) ahead->newest = steps[i];
            continue;
        }
        if (tg_run_kept_for_good(steps[i], every)) continue;
        char path[TG_PATH_MAX + 48];
        tg_run_periodic_path(dir, steps[i], path, sizeof path);
        if (!runs_snapshot(path, steps[i])) {
            if (!ahead->n_other++) ahead->other = steps[i];
            continue;
        }
        if ((int64_t)rolling++ < keep) continue;
        int e = remove(path) != 0 ? errno : 0;
        if (e && e != ENOENT)
            s = tg_err_set(err, TG_ERR_IO, "cannot remove %s (--keep): %s", TG_SHOWN(path),
                           strerror(e));
    }
    free(steps);
    return s;
}

/* Streams from into the atomic write of to: to is the whole of from (a new to with its bits, as
 * tg_run_save gives a new snapshot last.ckpt's), or left as it was. */
static tg_status copy_file(const char *from, const char *to, tg_err *err) {
    FILE *in = tg_afile_fopen_regular(from, false);   /* as the checkpoint reader opens it */
    if (!in) return tg_err_set(err, TG_ERR_IO, "cannot read %s: %s", from, strerror(errno));
    tg_status s = tg_afile_save_stream(to, in, from, from, err);
    fclose(in);
    return s;
}

tg_status tg_run_keep_resumed(const char *dir, int64_t step, int64_t keep, int64_t every, bool *wrote,
                              tg_run_ahead *ahead, tg_err *err) {
    *wrote = false;
    *ahead = (tg_run_ahead){0};
    if (step <= 0 || (keep <= 0 && !tg_run_kept_for_good(step, every))) return TG_OK;
    char periodic[TG_PATH_MAX + 48], last[TG_PATH_MAX + 16];
    tg_run_periodic_path(dir, step, periodic, sizeof periodic);
    struct stat sb;
    int there = lstat(periodic, &sb) == 0;
    /* There, but a stop between its save and the removal of the oldest (a kill, its folder's
     * fsync failing) left one more than K: removed now, or never on a run with nothing left to do. */
    if (there && S_ISREG(sb.st_mode)) return keep > 0 ? tg_run_keep_newest(dir, keep, every, step, ahead, err) : TG_OK;
    if (there)   /* a FIFO, folder or link: not ours to replace */
        return tg_err_set(err, TG_ERR_IO, "%s is not a regular file (a FIFO, folder or link?): it is not the run's "
                          "snapshot and is left alone; move it away to resume with --keep or --keep-every", periodic);
    if (errno != ENOENT) return tg_err_set(err, TG_ERR_IO, "%s: %s", periodic, strerror(errno));
    snprintf(last, sizeof last, "%s/last.ckpt", dir);
    tg_status s = copy_file(last, periodic, err);
    if (s == TG_OK && keep > 0) s = tg_run_keep_newest(dir, keep, every, step, ahead, err);
    *wrote = s == TG_OK;
    return s;
}
