/* diagnose_ckpts.c: the statistics of --diagnostics computed after the fact from a run folder's
 * kept checkpoints (step-N.ckpt and last.ckpt, or step-N.ckpt alone), for runs trained without
 * the flag: the same fixed batch, the same rows in RUNDIR/diagnostics.tsv, one step per
 * checkpoint. The gradient norms of a training step are not in a checkpoint, so those rows are
 * absent. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/run/diagnostics.h"

/* The rows of one checkpoint: its model swapped into r, the rows at or past its step dropped
 * (a diagnosis that was interrupted is redone), the statistics appended. */
static tg_status diagnose_one(tg_run *r, const char *path, tg_err *err) {
    tg_loaded L;
    tg_status s = tg_run_load_model(path, &L, err);
    if (s != TG_OK) return s;
    tg_model_free(r->model);
    r->model = L.model;
    L.model = NULL;
    int64_t step = L.st.step;
    tg_loaded_free(&L);
    r->st.step = step - 1;
    tg_run_diag d;
    s = tg_run_diag_open(&d, r, err);
    if (s == TG_OK) s = tg_run_diag_write(&d, r, step, err);
    tg_run_diag_close(&d);
    return s;
}

tg_status tg_run_diagnose_checkpoints(const char *rundir, int threads, int *n_done, tg_err *err) {
    *n_done = 0;
    int64_t *kept = NULL;   /* newest first */
    size_t n = 0;
    tg_status s = tg_run_list_periodic(rundir, &kept, &n, err);
    if (s != TG_OK) return s;
    /* the recipe from last.ckpt; a folder of kept step-N.ckpt alone is read from its newest */
    char path[TG_PATH_MAX + 64];
    struct stat sb;
    snprintf(path, sizeof path, "%s/last.ckpt", rundir);
    bool has_last = lstat(path, &sb) == 0 || errno != ENOENT;   /* a bad last.ckpt is an error, not skipped */
    if (!has_last && n == 0) {
        free(kept);
        return tg_err_set(err, TG_ERR_ARG, "%s: no last.ckpt and no step-N.ckpt: not a run folder", rundir);
    }
    /* the run folder's lock, as train takes it, before the run is read: a train resumed meanwhile
     * would have its diagnostics.tsv rows cut by this one's, and its gradient norms are in no
     * checkpoint. Not had (a running train, a read-only folder): only a run left as it is goes on. */
    tg_err lock_err;
    int lock = tg_run_folder_lock(rundir, &lock_err);
    if (!has_last) tg_run_periodic_path(rundir, kept[0], path, sizeof path);
    tg_loaded last;
    s = tg_run_load_model(path, &last, err);
    tg_run_config cfg = last.cfg;
    int64_t last_step = s == TG_OK ? last.st.step : 0;
    if (s == TG_OK) tg_loaded_free(&last);
    if (s != TG_OK || cfg.diagnostics > 0 || lock < 0) {   /* (a run with its own, gradient norms and all) */
        free(kept);
        if (lock >= 0) close(lock);
        if (s == TG_OK && cfg.diagnostics <= 0) *err = lock_err;
        return s != TG_OK ? s : cfg.diagnostics > 0 ? TG_OK : TG_ERR_STATE;
    }
    if (strlen(rundir) >= sizeof cfg.out) s = tg_err_set(err, TG_ERR_ARG, "%s: path too long", rundir);
    else snprintf(cfg.out, sizeof cfg.out, "%s", rundir);
    if (s == TG_OK && !cfg.task[0] && !cfg.vocab[0]) {   /* the vocabulary the run learned, not learned again */
        int k = snprintf(cfg.vocab, sizeof cfg.vocab, "%s/vocab.txt", rundir);
        if (k < 0 || (size_t)k >= sizeof cfg.vocab) s = tg_err_set(err, TG_ERR_ARG, "%s: path too long", rundir);
        else if (stat(cfg.vocab, &sb) != 0) s = tg_err_set(err, TG_ERR_ARG, "%s: no vocab.txt", rundir);
    }
    cfg.diagnostics = 1;
    cfg.threads = threads;
    tg_run r;
    if (s == TG_OK) s = tg_run_open(&r, &cfg, NULL, err);
    if (s != TG_OK) { free(kept); close(lock); return s; }
    for (size_t i = n; s == TG_OK && i-- > 0;) {   /* oldest first: each redoes the rows from its step */
        tg_run_periodic_path(rundir, kept[i], path, sizeof path);
        s = diagnose_one(&r, path, err);
        if (s == TG_OK) (*n_done)++;
    }
    if (s == TG_OK && has_last && (n == 0 || kept[0] < last_step)) {
        snprintf(path, sizeof path, "%s/last.ckpt", rundir);
        s = diagnose_one(&r, path, err);
        if (s == TG_OK) (*n_done)++;
    }
    tg_run_close(&r);
    free(kept);
    close(lock);
    return s;
}
