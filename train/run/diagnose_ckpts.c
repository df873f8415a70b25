/* diagnose_ckpts.c: the statistics of --diagnostics computed after the fact from a run folder's
 * kept checkpoints (step-N.ckpt and last.ckpt, or step-N.ckpt alone), for runs trained without
 * the flag: the same fixed batch, the same rows in RUNDIR/diagnostics.tsv, one step per
 * checkpoint. The gradient norms of a training step are not in a checkpoint, so those rows are
 * absent, but for the ones training wrote (a run trained with --diagnostics, then resumed
 * without), which are kept with its rows at steps no kept checkpoint holds. A checkpoint that a
 * train with --diagnostics saved keeps training's rows (a run trained without, then resumed with). */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/shown.h"
#include "train/ckpt/atomic_file.h"
#include "train/run/diagnostics.h"
#include "train/run/progress.h"

/* The rows of the old diagnostics.tsv past the first redone step, up to the run's step, that the
 * rewrite keeps: a run trained with --diagnostics, then resumed without, has training's rows at
 * steps no kept checkpoint holds, and at the ones it does the gradient norms that no checkpoint
 * holds. Ascending steps, as training and the rewrite write them. */
typedef struct {
    char *buf;       /* whole rows, each ending in '\n' */
    size_t len;
    size_t at;       /* the first row not yet passed on */
    int64_t redone;  /* the last step redone: rows at or before it, out of order, are dropped */
} later_rows;

static tg_status later_rows_read(const char *path, int64_t after, int64_t upto, later_rows *o, tg_err *err) {
    memset(o, 0, sizeof *o);
    o->redone = after;
    FILE *in = tg_afile_fopen_regular(path, true);
    if (!in) return TG_OK;   /* none (a link or a device tg_run_diag_open_rewrite has refused) */
    FILE *m = open_memstream(&o->buf, &o->len);
    tg_status s = m ? TG_OK : tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    char *line = NULL;
    size_t cap = 0;
    long n = 0;
    for (bool first = true; s == TG_OK && (n = tg_afile_getline(&line, &cap, in, (size_t)1 << 20)) != -1; first = false) {
        if (n == -3) break;
        if (n == -2) {   /* longer than any row tapegrad writes: no row, as a resume's trim drops it */
            tg_afile_skip_line(in, NULL);
            continue;
        }
        const char *row = first ? tg_tsv_skip_bom(line, &n) : line;
        int64_t step = strtoll(row, NULL, 10);   /* (the header's "step" is no row: not a number) */
        if (tg_tsv_is_row(row, 0) && row[n - 1] == '\n' && step > after && step <= upto) fwrite(row, 1, (size_t)n, m);
    }                                               /* (a last line without its newline: torn by a crash) */
    if (s == TG_OK && n == -3) s = tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    if (s == TG_OK && ferror(in)) s = tg_err_set(err, TG_ERR_IO, "%s: cannot read it back", path);
    free(line);
    fclose(in);
    if (m && fclose(m) != 0 && s == TG_OK) s = tg_err_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    return s;
}

/* Passes the kept rows before `step` on into the new file, and those at `step` too when `own` (its
 * checkpoint was saved by a train with --diagnostics: training's rows there stand); else takes the
 * gradient norms at `step` into d, for tg_run_diag_write to write among the step's redone rows,
 * where training wrote them. */
static void later_rows_upto(later_rows *o, tg_run_diag *d, const tg_run *r, int64_t step, bool own) {
    for (int i = 0; i < r->mcfg.enc_layers; i++) d->enc[i].grad_norm = NAN;
    for (int i = 0; i < r->mcfg.dec_layers; i++) d->dec[i].grad_norm = NAN;
    d->grads_step = -1;
    while (o->at < o->len) {
        const char *row = o->buf + o->at, *nl = memchr(row, '\n', o->len - o->at);
        size_t n = (size_t)(nl - row) + 1;
        int64_t at = strtoll(row, NULL, 10);
        if (at > step) break;
        o->at += n;
        char stack[4];
        int layer;
        double v;
        if (at < step || own) {
            if (at > o->redone) fwrite(row, 1, n, d->f);
        } else if (sscanf(row, "%*s\t%3[a-z]\t%6d\tlayer\tgrad_norm\t%lf", stack, &layer, &v) == 3) {
            bool enc = !strcmp(stack, "enc"), dec = !strcmp(stack, "dec");
            int layers = enc ? r->mcfg.enc_layers : dec ? r->mcfg.dec_layers : 0;
            if (layer < 0 || layer >= layers) continue;   /* (not a row of this model) */
            (enc ? d->enc : d->dec)[layer].grad_norm = v;
            d->grads_step = step;
        }
    }
    o->redone = step;
}

/* Whether a train run with c wrote rows at step (at the multiples of --diagnostics N alone). */
static bool trained_rows(const tg_run_config *c, int64_t step) {
    return c->diagnostics > 0 && step % c->diagnostics == 0;
}

/* Whether o holds rows at step among those not yet passed on: training's, when a train with
 * --diagnostics N saved the checkpoint of that step (it writes them at the multiples of N alone,
 * and a diagnostics.tsv deleted, or a folder of step-N.ckpt copied without it, has none). */
static bool later_has(const later_rows *o, int64_t step) {
    for (size_t at = o->at; at < o->len;) {
        const char *row = o->buf + at, *nl = memchr(row, '\n', o->len - at);
        int64_t row_step = strtoll(row, NULL, 10);
        if (row_step >= step) return row_step == step;   /* (ascending, as later_rows_upto reads them) */
        at += (size_t)(nl - row) + 1;
    }
    return false;
}

/* The rows of one checkpoint of the run r (step: the N of its name step-N.ckpt, -1 for last.ckpt):
 * refused, naming it, when it is not the run's (another model or vocabulary: copied in from
 * another run, its rows would stand among the run's) or its step is not its name's (its rows
 * would land at another step); else, when a train without --diagnostics saved it, its model
 * swapped into r and its rows written through d (*written), and otherwise training's rows kept. */
static tg_status diagnose_one(tg_run *r, tg_run_diag *d, later_rows *o, const char *path, int64_t step,
                              const char *recipe, bool *written, tg_err *err) {
    *written = false;
    tg_loaded L;
    tg_status s = tg_run_load_model(path, &L, err);
    if (s != TG_OK) return s;
    char mine[1024], theirs[1024];
    tg_model_config_str(tg_model_cfg(r->model), mine, sizeof mine);
    tg_model_config_str(tg_model_cfg(L.model), theirs, sizeof theirs);
    if (step >= 0 && L.st.step != step)
        s = tg_err_set(err, TG_ERR_STATE, "%s holds step %lld, not %lld as its name says: not the run's "
                       "checkpoint of that step; nothing written", TG_SHOWN(path),
                       (long long)L.st.step, (long long)step);
    else if (strcmp(mine, theirs)) {
        char a[128], b[128];
        tg_run_config_first_difference(theirs, mine, ' ', a, b, sizeof a);
        s = tg_err_set(err, TG_ERR_STATE, "%s has another model than the run's (%s): %s, not %s; nothing written",
                       TG_SHOWN(path), TG_SHOWN(recipe), a, b);
    }
    else if (!tg_run_same_vocab(L.bpe, r->bpe))
        s = tg_err_set(err, TG_ERR_STATE, "%s has another vocabulary than the run's (%s); nothing "
                       "written", TG_SHOWN(path), TG_SHOWN(recipe));
    const bool own = s == TG_OK && trained_rows(&L.cfg, L.st.step) && later_has(o, L.st.step);
    if (s != TG_OK || own) {
        if (s == TG_OK) later_rows_upto(o, d, r, L.st.step, true);
        tg_loaded_free(&L);
        return s;
    }
    *written = true;
    tg_model_free(r->model);
    r->model = L.model;
    L.model = NULL;
    step = L.st.step;
    tg_loaded_free(&L);
    later_rows_upto(o, d, r, step, false);
    return tg_run_diag_write(d, r, step, err);
}

/* The run's data files, which the recipe names, can be opened: else a message that says where the
 * name comes from (a run moved, or diagnosed from another folder than it was trained in). */
static tg_status data_readable(const tg_run_config *c, const char *recipe, tg_err *err) {
    const char *flag[] = {"--train", "--train-src", "--train-tgt", "--dev"};
    const char *path[] = {c->train, c->train_src, c->train_tgt, c->dev};
    for (int i = 0; i < 4 && !c->task[0]; i++) {
        if (!path[i][0]) continue;
        FILE *f = tg_afile_fopen_regular(path[i], false);
        if (f) fclose(f);
        if (f || errno == EINVAL) continue;   /* (not a regular file: the corpus reader's to judge) */
        int e = errno;
        return tg_err_set(err, TG_ERR_IO, "cannot open %s: %s (the run's %s, as %s records it; "
                          "relative paths are read from the current folder)", TG_SHOWN(path[i]),
                          strerror(e), flag[i], TG_SHOWN(recipe));
    }
    return TG_OK;
}

/* The lock taken is given back; its file stays, in a folder of step-N.ckpt too, as a run folder's:
 * one removed would let a process that opened it before and a process that makes a new one each
 * hold "the" lock. */
static void drop_lock(int lock) {
    if (lock >= 0) close(lock);
}

/* *all: every kept checkpoint (newest first) was saved by a train with --diagnostics, and
 * diagnostics.tsv holds its rows, as it does the run's last step's. */
static tg_status all_trained_with_diagnostics(const char *rundir, const int64_t *kept, size_t n, int64_t last_step,
                                              bool *all, tg_err *err) {
    *all = false;
    char path[TG_PATH_MAX + 64];
    for (size_t i = 0; i < n; i++) {
        tg_run_config c;
        tg_run_periodic_path(rundir, kept[i], path, sizeof path);
        tg_status s = tg_run_load_config(path, &c, err);
        if (s != TG_OK || !trained_rows(&c, kept[i])) return s;
    }
    later_rows o;
    snprintf(path, sizeof path, "%s/diagnostics.tsv", rundir);
    tg_status s = later_rows_read(path, (n ? kept[n - 1] : last_step) - 1, last_step, &o, err);
    bool has = s == TG_OK && later_has(&o, last_step);
    for (size_t i = 0; has && i < n; i++) has = later_has(&o, kept[i]);
    free(o.buf);
    *all = has;
    return s;
}

/* The run the rows are redone on: the recipe cfg (last's) in rundir, with its model and
 * vocabulary (a folder of step-N.ckpt has no vocab.txt), on the run's data, checked to be the
 * run's batch and data; closed again when it fails. */
static tg_status open_run(tg_run *r, tg_run_config *cfg, tg_loaded *last, const char *rundir,
                          int threads, const char *recipe, tg_err *err) {
    if (strlen(rundir) >= sizeof cfg->out)
        return tg_err_set(err, TG_ERR_ARG, "%s: path too long", TG_SHOWN(rundir));
    snprintf(cfg->out, sizeof cfg->out, "%s", rundir);
    tg_status s = data_readable(cfg, recipe, err);
    cfg->diagnostics = 1;
    cfg->threads = threads;
    if (s == TG_OK) s = tg_run_open_model(r, cfg, last, err);
    if (s != TG_OK) return s;
    s = tg_run_check_dev(recipe, r, err);                  /* the run's batch */
    if (s == TG_OK) s = tg_run_check_data(recipe, r, err);   /* and data */
    if (s != TG_OK) tg_run_close(r);
    return s;
}

/* Every checkpoint's rows redone, the kept ones' (newest first) and then last.ckpt's when
 * has_last, into a new file that replaces the old one only once all are there: a kill or a
 * refused checkpoint leaves it as it was. The old rows before the oldest kept, and training's
 * between them up to the recipe's step last_step, are kept. *n_done: the checkpoints whose rows
 * were written. */
static tg_status rewrite_rows(tg_run *r, const char *rundir, const int64_t *kept, size_t n,
                              bool has_last, int64_t last_step, const char *recipe, int *n_done,
                              tg_err *err) {
    char path[TG_PATH_MAX + 64];
    tg_run_diag d;
    int64_t keep_step = (n ? kept[n - 1] : last_step) - 1;
    later_rows later = {0};
    tg_status s = tg_run_diag_open_rewrite(&d, r, keep_step, err);
    if (s == TG_OK) {
        snprintf(path, sizeof path, "%s/diagnostics.tsv", rundir);
        s = later_rows_read(path, keep_step, last_step, &later, err);
    }
    int done = 0;
    bool written;
    for (size_t i = n; s == TG_OK && i-- > 0;) {   /* oldest first */
        tg_run_periodic_path(rundir, kept[i], path, sizeof path);
        s = diagnose_one(r, &d, &later, path, kept[i], recipe, &written, err);
        done += s == TG_OK && written;
    }
    if (s == TG_OK && has_last && (n == 0 || kept[0] < last_step)) {
        s = diagnose_one(r, &d, &later, recipe, -1, recipe, &written, err);
        done += s == TG_OK && written;
    }
    if (s == TG_OK) later_rows_upto(&later, &d, r, INT64_MAX, false);   /* training's rows after */
    free(later.buf);
    if (s == TG_OK) s = tg_run_diag_commit(&d, r, err);
    if (s == TG_OK) *n_done = done;
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
    char recipe[TG_PATH_MAX + 64];
    struct stat sb;
    snprintf(recipe, sizeof recipe, "%s/last.ckpt", rundir);
    bool has_last = lstat(recipe, &sb) == 0 || errno != ENOENT;   /* a bad last.ckpt is an error, not skipped */
    if (!has_last && n == 0) {
        free(kept);
        return tg_err_set(err, TG_ERR_ARG, "%s: no last.ckpt and no step-N.ckpt: not a run folder",
                          TG_SHOWN(rundir));
    }
    /* the run folder's lock, as train takes it, before the run is read: a train resumed meanwhile
     * would have its diagnostics.tsv rows replaced by this one's, and its gradient norms are in no
     * checkpoint. Not had (a running train, a read-only folder): only a run left as it is goes on. */
    tg_err lock_err;
    int lock = tg_run_folder_lock(rundir, &lock_err);
    if (lock >= 0) tg_run_remove_stale_temps(rundir, "ckpt diagnose");   /* (a killed diagnose's, say) */
    if (!has_last) tg_run_periodic_path(rundir, kept[0], recipe, sizeof recipe);
    /* the recipe's checkpoint, its config and the run, 20 KiB: on the heap */
    struct { tg_loaded last; tg_run_config cfg; tg_run r; } *h = calloc(1, sizeof *h);
    if (!h) {
        free(kept);
        drop_lock(lock);
        return tg_err_set(err, TG_ERR_NOMEM, "out of memory");
    }
    tg_loaded *last = &h->last;
    tg_run_config *cfg = &h->cfg;
    tg_run *r = &h->r;
    s = tg_run_load_model(recipe, last, err);
    bool loaded = s == TG_OK;
    *cfg = last->cfg;
    int64_t last_step = loaded ? last->st.step : 0;
    /* left as it is: a run whose checkpoints a train with --diagnostics saved has its own rows,
     * gradient norms and all (held by a train: that train's, which writes them) */
    bool own = loaded && cfg->diagnostics > 0;
    if (own && lock >= 0 && (own = trained_rows(cfg, last_step)))
        s = all_trained_with_diagnostics(rundir, kept, n, last_step, &own, err);
    if (s != TG_OK || own || lock < 0) {
        if (loaded) tg_loaded_free(last);
        free(kept);
        drop_lock(lock);
        if (s == TG_OK && !own) *err = lock_err;
        free(h);
        return s != TG_OK ? s : own ? TG_OK : TG_ERR_STATE;
    }
    s = open_run(r, cfg, last, rundir, threads, recipe, err);
    tg_loaded_free(last);
    if (s == TG_OK) {
        s = rewrite_rows(r, rundir, kept, n, has_last, last_step, recipe, n_done, err);
        tg_run_close(r);
    }
    free(h);
    free(kept);
    drop_lock(lock);
    return s;
}
